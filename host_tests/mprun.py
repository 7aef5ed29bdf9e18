"""Run the portable test modules under the unix-port MicroPython.

Usage: micropython host_tests/mprun.py [substring ...]
Imports every host_tests/portable/test_*.py (or those whose name contains one of
the substrings), calls each `test_*` function and prints a pytest-like summary.
Exit status 1 when any test fails or none ran.
"""
import gc
import os
import sys
import time

ROOT = __file__.rsplit("/host_tests/", 1)[0] if "/host_tests/" in __file__ else "."
sys.path[:0] = [ROOT, ROOT + "/lib"]


def modules(filters):
    names = sorted(n[:-3] for n in os.listdir(ROOT + "/host_tests/portable")
                   if n.startswith("test_") and n.endswith(".py"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def main(filters):
    passed = failed = 0
    start = time.ticks_ms()
    for name in modules(filters):
        full = "host_tests.portable." + name
        mod = __import__(full, None, None, ("_",))
        for attr in sorted(dir(mod)):
            fn = getattr(mod, attr)
            if not attr.startswith("test_") or not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except Exception as e:
                failed += 1
                print("FAILED %s::%s" % (name, attr))
                sys.print_exception(e)
        del mod, fn
        sys.modules.pop(full, None)     # let each module's data go before the next
        gc.collect()
    secs = time.ticks_diff(time.ticks_ms(), start) / 1000
    print("micropython: %d passed, %d failed in %.2fs" % (passed, failed, secs))
    return 1 if failed or not passed else 0


sys.exit(main(sys.argv[1:]))
