"""`make paper`: run every experiment of the paper reproduction (issue 7), at most
two at a time, and write build/paper/: <name>.csv and <name>.png per experiment
and report.md, which puts our figures beside the published ones, states every
parameter and explains the differences; then copy report.md and the PNGs to
docs/paper/ (what the README links).

    python tools/sim/paper.py [--out build/paper] [--docs docs/paper] [--workers 2]
                              [--only latency,goodput]

Experiments are the modules tools/sim/exp_<name>.py (NAME, SCENARIO, run(scenario,
out_dir) -> {"name", "title", "table", "published", "notes", "params"}), each
run with its default scenario file (tools/sim/scenarios/<name>.json). Exit
status 1 when one of them failed (the report says which and why).
"""
import glob
import importlib
import json
import os
import platform
import shutil
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tools.sim import world  # noqa: E402

ORDER = ("latency", "goodput", "authz", "radio", "scale")     # the numbering

MODEL = """\
## The model, and how it differs from the testbed

Every run is a discrete-event simulation in virtual time (tools/sim/radio.py),
deterministic per seed, driving the unmodified engines: our firmware nodes
(firmware/node.py with the C2C extension and the "follow" app) and the
reference server tools/server (Server, the /ac Authz service with a Policy,
RadioDriver). Nothing in lib/ knows it is simulated; the simulation only
seeds each node's random source, as a board's hardware RNG would differ per
device. The datagram counts the radio records equal the counts each engine's
CoAP endpoint keeps (tested: host_tests/cpython/test_sim_world.py).

| | published (FIT IoT-LAB) | ours |
|---|---|---|
| clients | RIOT + Wakaama on testbed nodes (we assume FIT IoT-LAB M3: Cortex-M3, 72 MHz, AT86RF231) | our MicroPython engine under CPython, processing takes no virtual time |
| server | Leshan (Java) | tools/server, processing takes no virtual time |
| security | DTLS and OSCORE | OSCORE (RFC 8613) only; DTLS is not implemented here |
| radio | IEEE 802.15.4 2.4 GHz, 250 kbit/s | tools/sim/phy.py: airtime of 127-byte frames at 250 kbit/s, 6LoWPAN (IPHC) fragmentation, unslotted CSMA/CA, ACKs, macMaxFrameRetries 3 |
| channel | one testbed floor, real interference | one shared channel for every mesh hop (a frame waits while another is on the air), no collisions, no hidden terminals; loss only as the configured per-attempt probability |
| routing | RIOT's 6LoWPAN multi-hop routing on the testbed | fixed shortest paths (a chain per branch, or a seeded tree) |
| server path | the testbed's border router, then on to Leshan (latency not stated) | a wired backbone, 40 ms one way, no loss (an assumption: it puts the one-hop server-centric latency at the published >= ~80 ms) |

So our absolute times lack the nodes' and the server's processing (OSCORE on a
Cortex-M3 costs milliseconds per message) and real interference; what the
simulation reproduces are the effects of the architecture: the number of hops
and round trips each path takes, CoAP's congestion rules, and the engines'
own limits.
"""


def modules():
    """Names of the experiment modules present, in the issue's order."""
    here = os.path.dirname(os.path.abspath(__file__))
    names = [os.path.basename(p)[4:-3] for p in glob.glob(os.path.join(here, "exp_*.py"))]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def run_experiment(name, out_dir):
    """Run one experiment with its default scenario: (name, result or None,
    error text or None, seconds)."""
    t = time.time()
    try:
        mod = importlib.import_module("tools.sim.exp_" + name)
        res = mod.run(world.load_scenario(mod.SCENARIO), out_dir)
        return name, res, None, time.time() - t
    except Exception as e:                      # reported, and make paper fails
        return name, None, "%s: %s" % (type(e).__name__, e), time.time() - t


def md_table(table):
    def cell(c):
        return "" if c is None else ("%.3g" % c if isinstance(c, float) else str(c))
    out = ["| " + " | ".join(table["columns"]) + " |",
           "|" + "---|" * len(table["columns"])]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in table["rows"]]
    return "\n".join(out)


def _first_sentence(text):
    i = text.find(". ")
    return text if i < 0 else text[:i + 1]


def _doc(name):
    mod = importlib.import_module("tools.sim.exp_" + name)
    with open(mod.SCENARIO) as f:
        return json.load(f).get("doc", {}), os.path.relpath(mod.SCENARIO, _ROOT)


def _params(res, name):
    doc, path = _doc(name)
    lines = ["Scenario `%s` (every key: value, and what it means):" % path, "",
             "| key | value | meaning |", "|---|---|---|"]
    for k, v in res["params"].items():
        meaning = str(doc.get(k, "")).replace("|", "/")
        lines.append("| %s | `%s` | %s |" % (k, json.dumps(v, sort_keys=True), meaning))
    return "\n".join(lines)


def report(results, errors, times, wall, workers):
    """report.md as text."""
    out = ["# Reproducing the published evaluation of client-to-client LwM2M", "",
           "Generated by `make paper` (tools/sim/paper.py) in %.0f s of wall time with %d "
           "worker processes (%s %s, %s); every figure below comes from that run and "
           "is the same for the same seeds." % (wall, workers, platform.python_implementation(),
                                                platform.python_version(), platform.machine()),
           "", "## Headline: published vs ours", "",
           "| experiment | published | ours |", "|---|---|---|"]
    for name, res in results:
        out.append("| %s | %s | %s |" % (res["title"], res["published"].replace("|", "/"),
                                         _first_sentence(res["notes"]).replace("|", "/")))
    for name, err in errors:
        out.append("| %s | | **failed**: %s |" % (name, err.replace("|", "/")))
    out += ["", MODEL]
    for i, (name, res) in enumerate(results, 1):
        out += ["## %d. %s" % (i, res["title"]), "",
                "**Published:** %s" % res["published"], "",
                "![%s](%s.png)" % (name, name), "",
                md_table(res["table"]), "",
                "CSV: `%s.csv`; `python -m tools.sim.exp_%s` reruns it (%.1f s here)."
                % (name, name, times[name]), "",
                "**How ours differ, and why:** %s" % res["notes"], "",
                _params(res, name), ""]
    for name, err in errors:
        out += ["## %s: failed" % name, "", "`%s`" % err, ""]
    return "\n".join(out)


def main(argv=None):
    import argparse
    from concurrent.futures import ProcessPoolExecutor
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(_ROOT, "build", "paper"))
    ap.add_argument("--docs", default=os.path.join(_ROOT, "docs", "paper"),
                    help="where report.md and the PNGs are copied ('' for nowhere)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated experiment names")
    a = ap.parse_args(argv)
    names = modules()
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    done = {}
    with ProcessPoolExecutor(max_workers=max(1, min(a.workers, 2))) as pool:
        for name, res, err, secs in pool.map(run_experiment, names, [a.out] * len(names)):
            done[name] = (res, err, secs)
            print("%-8s %s in %.1f s" % (name, "failed: " + err if err else "done", secs),
                  flush=True)
    wall = time.time() - t0
    results = [(n, done[n][0]) for n in names if done[n][0] is not None]
    errors = [(n, done[n][1]) for n in names if done[n][1] is not None]
    times = dict((n, done[n][2]) for n in names)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(report(results, errors, times, wall, min(a.workers, 2)))
    if a.docs:
        os.makedirs(a.docs, exist_ok=True)
        for f in ["report.md"] + [n + ".png" for n, _ in results]:
            shutil.copyfile(os.path.join(a.out, f), os.path.join(a.docs, f))
    print("report: %s (%.0f s)%s" % (os.path.join(a.out, "report.md"), wall,
                                     "; copied to " + a.docs if a.docs else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
