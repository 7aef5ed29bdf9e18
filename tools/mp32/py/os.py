"""The build's `os` plus urandom, which it lacks (MicroPython's pattern for
extending a built-in module: with sys.path empty the import finds the built-in).
urandom here is random.getrandbits, seeded with a constant when this module
loads (run.mjs imports it first) so that runs repeat exactly: not
cryptographic, enough for measuring."""
import sys
_path = sys.path
sys.path = ()
try:
    from os import *        # noqa: F401,F403
    import random as _random
finally:
    sys.path = _path
    del _path
_random.seed(0x6D703332)


def urandom(n):
    b = bytearray(n)
    for i in range(n):
        b[i] = _random.getrandbits(8)
    return bytes(b)
