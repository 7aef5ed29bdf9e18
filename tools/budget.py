"""make budget: the node's memory against the boards' budgets
(boards/<name>/budget.json). Part of `make test`; exits 1 when a budget is
exceeded, naming it.

    python tools/budget.py [--json FILE] [--quick]

Heap. The node under test is a firmware node (firmware/node.py, the unix
board's simulated temperature and switch, C2C on) in its own unix-port
MicroPython process under `-X heapsize=N`, importing only .mpy files
compiled here with mpy-cross (tools/budget_node.py); its network and clock
are a pipe to this process, which runs the rest of the world on the fake
radio in virtual time: the scripted LwM2M server with the C2C /ac service
(host_tests/support/acserver.py) and C2C peers (firmware nodes that follow
the node's switch). Scenario, 1200 s of virtual time:
    0 s    the node registers over OSCORE; the server observes the
           temperature (pmin 1 s, sampled every 2 s) and the switch (toggles
           every 5 s) and reads /3/0 and /3303/0 every 10 s, rotating
           through four content formats;
    300 s  three more observations (/3303/0/5601, 5602, /3/0/0);
    600 s  a peer asks for the switch: 4.01 + hint, /ac, the server
           provisions both, the peer observes the node directly (OSCORE);
    900 s  two more peers do the same.
The run passes when the node registered once, every read and observation
was answered, notifications kept coming and every peer followed the
switch. Figures: live heap (after gc.collect()) after the imports, after
boot, after registration and at every phase end; the high-water mark of
gc.mem_alloc(); heap per added observation and per added peer (phase
deltas, the duplicate-detection cache in its steady state); the smallest
-X heapsize the scenario passes in (bisection to 1 KiB). The code of a
node loaded from .mpy files lives in this heap; frozen into the firmware
(boards/*/manifest.py) its bytecode stays in flash, so the heap a frozen
node needs is estimated as the smallest heap minus the heap the imports
took (an estimate: function objects and module dicts stay in RAM when
frozen, so the real figure is somewhat higher).

Flash. Every file a board's manifest puts on it (tools/deploy.py's
manifest evaluation), compiled with mpy-cross, summed per layer against
the board's flash_layers, plus main.py and config.json against flash_bytes.

Steady-state paths. tools/budget_paths.py on the unix port: bytes allocated
per notification encoded and protected, per read served, per idle step,
and which of them run under micropython.heap_lock() (reported, not
budgeted: host_tests/cpython/test_budget_paths.py holds their ceilings).

The unix port is 64-bit; the ESP32 and Pico W are 32-bit, where most heap
objects are half the size: the heap budgets of the unix board are twice
the ESP32's (boards/unix/budget.json), and only the unix board's heap is
measured here. Every board's flash is checked.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _sub in ("tools/shims", "firmware", "boards/common", "lib", ""):
    _p = os.path.join(ROOT, _sub)
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tools import memreport  # noqa: E402
from tools.budget_wire import NodeProcess, ScenarioFailed  # noqa: E402

BOARDS = ("unix", "esp32", "rp2_pico_w")
BUILD = os.path.join(ROOT, "build", "budget")
PHASE_MS = 300000
PEERS = 3                           # C2C peers: one at 600 s, two more at 900 s
EXTRA_OBS = ("/3303/0/5601", "/3303/0/5602", "/3/0/0")
FORMATS = (11542, 110, 112, 11544)
BIG_HEAP = 1 << 20                  # the first run, which must pass
LAYERS = (("cbor", "lib/cbor.py"), ("coap", "lib/coap/"), ("oscore", "lib/oscore/"),
          ("lwm2m", "lib/lwm2m/"), ("transport", "lib/transport/"),
          ("drivers", "lib/drivers/"), ("firmware", "firmware/"), ("board", "boards/"))


# -- the scenario -------------------------------------------------------------------
def _spec(srv, ep, rand):
    """A fresh OSCORE context of node `ep` with the scripted server."""
    import binascii
    from oscore.context import SecurityContext
    from oscore.secure import Protection
    node_id, srv_id = srv.mint(), srv.mint()
    secret, salt = rand(16), rand(8)
    ctx = SecurityContext(secret, srv_id, node_id, master_salt=salt)
    srv.secure.add(ctx)
    srv.prot[ep] = Protection(ctx)
    srv.ctx_ep[ctx] = ep
    return ":".join(binascii.hexlify(x).decode() for x in (secret, salt, node_id, srv_id))


def _fresh_dir(path):
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))
    return path


def scenario(micropython, heapsize, state):
    """One run under `-X heapsize`; a dict of figures, or ScenarioFailed."""
    import config
    import apps
    from tools.sim.radio import Radio
    from host_tests.support import simnode
    from host_tests.support.acserver import AuthServer
    from host_tests.support.lwserver import rng_bytes
    from coap.numbers import GET, PUT

    radio = Radio(seed=1, log=False)
    srv = AuthServer(radio, ("srv", 5683), seed=7)
    rand = rng_bytes(11)
    node_dir = _fresh_dir(os.path.join(state, "node"))
    node_cfg = {"endpoint": "node", "dedup_size": 32, "state": node_dir, "c2c": True,
                "servers": [{"uri": "coap://srv:5683", "lifetime": 300,
                             "oscore": _spec(srv, "node", rand)}],
                "temperature": [{"kind": "sim", "seed": 5, "step_c": 0.2, "period_ms": 2000}],
                "switch": {"kind": "sim", "period_ms": 5000}}
    proc = NodeProcess(micropython, heapsize, BUILD, radio, ("node", 5683))
    try:
        figures = {"heapsize": heapsize, "start": proc.collect()}
        figures["code"] = proc.load()
        figures["boot"] = proc.boot(node_cfg)
        radio.link("node", "srv", delay_ms=5)
        got = {"notifications": 0, "reads": 0, "writes": 0, "errors": []}

        def counter(key):
            def cb(response, error):
                if response is not None and response.code >> 5 == 2:
                    got[key] += 1
                else:
                    got["errors"].append("%s %s" % (key, error or "%d.%02d" % (
                        response.code >> 5, response.code & 31)))
            return cb

        def send(code, path, key, **kw):
            srv.security = srv.prot["node"]
            srv.send(code, path, peer=srv.registered("node")["peer"], callback=counter(key), **kw)

        def run_phase():
            end = radio.now_ms + PHASE_MS
            i = 0
            while radio.now_ms < end:
                for path in ("/3/0", "/3303/0"):
                    send(GET, path, "reads", accept=FORMATS[i % len(FORMATS)])
                i += 1
                radio.run_for(10000)
            return proc.collect()

        radio.run_for(2000)
        if srv.registered("node") is None:
            raise ScenarioFailed("the node did not register")
        figures["registered"] = proc.collect()
        send(PUT, "/3303/0/5700", "writes", query=("pmin=1", "pmax=60"))
        for path in ("/3303/0/5700", "/3342/0/5500"):
            send(GET, path, "notifications", observe=0)
        figures["phase1"] = run_phase()
        for path in EXTRA_OBS:
            send(GET, path, "notifications", observe=0)
        figures["phase2"] = run_phase()
        lights = []

        def add_peer(i):
            name = "light%d" % i
            for other in ("node", "srv"):
                radio.link(name, other, delay_ms=5)
            srv.policy[(name, "node")] = {(3342, 0): 1}
            cfg = config.from_dict({
                "endpoint": name, "temperature": [], "switch": None,
                "light": {"kind": "sim"}, "events": True,
                "servers": [{"uri": "coap://srv:5683", "oscore": _spec(srv, name, rand)}],
                "follow": {"endpoint": "node", "path": "/3342/0/5500",
                           "target": "/3311/0/5850", "address": "coap://node:5683"}})
            peer = simnode.start(radio, (name, 5683), cfg, cfg["board_config"],
                                 _fresh_dir(os.path.join(state, name)))[0]
            apps.install(peer, cfg, peer.log)
            lights.append(peer)
        add_peer(1)
        figures["phase3"] = run_phase()
        for i in range(2, PEERS + 1):
            add_peer(i)
        figures["phase4"] = run_phase()
        figures["peak"] = proc.peak
        figures.update(got)
        figures["registrations"] = sum(1 for e in srv.events
                                       if e[0] == "register" and e[2].get("ep") == "node")
        figures["followed"] = [sum(1 for ln in p.log.lines
                                   if ln.startswith("event light ") and "source=c2c" in ln)
                               for p in lights]
        _check(figures)
        return figures
    finally:
        proc.close()


def _check(f):
    reads = 2 * 4 * PHASE_MS // 10000
    if f["registrations"] != 1:
        raise ScenarioFailed("%d Registers (1 expected)" % f["registrations"])
    if f["errors"]:
        raise ScenarioFailed("requests failed: %s" % ", ".join(f["errors"][:3]))
    if f["reads"] < reads:
        raise ScenarioFailed("%d reads answered of %d" % (f["reads"], reads))
    if f["notifications"] < 4 * PHASE_MS // 2000:
        raise ScenarioFailed("only %d notifications" % f["notifications"])
    if len(f["followed"]) != PEERS or min(f["followed"]) < 10:
        raise ScenarioFailed("peers did not follow the switch: %r" % f["followed"])


# -- heap: the runs ---------------------------------------------------------------------
def compile_tree():
    """Every .py file of the node (lib/, firmware/, boards/common, boards/unix,
    tools/budget_node.py) compiled into BUILD; {repository path: .mpy bytes}."""
    import shutil
    shutil.rmtree(BUILD, ignore_errors=True)
    files = memreport.sources(ROOT) + ["tools/budget_node.py"]
    return memreport.mpy_file_sizes(ROOT, BUILD, files)


def _passes(micropython, heapsize, state):
    try:
        scenario(micropython, heapsize, state)
        return True
    except ScenarioFailed:
        return False


def smallest_heap(micropython, state, lo, hi, step=1024, window=8, max_runs=48):
    """The smallest -X heapsize S (a multiple of `step`) such that the scenario
    passes in S and in each of the next `window` - 1 steps: near the edge a
    run may pass or fail with fragmentation and the node's random tokens, so
    a bisection between `lo` (fails) and `hi` (passes) is followed by a scan
    upwards for `window` passes in a row. Returns (S, runs)."""
    runs = 0
    lo, hi = lo // step, -(-hi // step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        runs += 1
        if _passes(micropython, mid * step, state):
            hi = mid
        else:
            lo = mid
    start, size = hi, hi + 1                # `hi` passed; scan the rest of the window
    while size - start < window and runs < max_runs:
        runs += 1
        if not _passes(micropython, size * step, state):
            start = size + 1
        size += 1
    if size - start < window:
        raise ScenarioFailed("no %d passing heap sizes in a row after %d runs" % (window, runs))
    return start * step, runs


def measure_heap(micropython, quick=False):
    import tempfile
    import shutil
    state = tempfile.mkdtemp(prefix="budget-")
    try:
        try:
            f = scenario(micropython, BIG_HEAP, state)
        except ScenarioFailed as e:
            raise ScenarioFailed("the scenario failed with a %d KiB heap: %s"
                                 % (BIG_HEAP // 1024, e))
        if quick:
            f["smallest"], f["bisection_runs"] = None, 0
        else:
            f["smallest"], f["bisection_runs"] = smallest_heap(
                micropython, state, f["code"], f["peak"] + 4096)
        return f
    finally:
        shutil.rmtree(state, ignore_errors=True)


def measure_paths(micropython):
    """tools/budget_paths.py --json: its list of paths."""
    p = subprocess.run([micropython, os.path.join(ROOT, "tools", "budget_paths.py"), "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("BUDGET_PATHS "):
            return json.loads(line[len("BUDGET_PATHS "):])["paths"]
    raise ScenarioFailed("tools/budget_paths.py reported nothing (exit %d): %s"
                         % (p.returncode, (p.stderr or p.stdout).strip()[-500:]))


def heap_figures(f):
    """The derived figures of one reference run (bytes)."""
    out = {"code": f["code"] - f["start"], "boot": f["boot"], "registered": f["registered"],
           "steady": f["phase1"], "peak_alloc": f["peak"],
           "per_observation": (f["phase2"] - f["phase1"]) // len(EXTRA_OBS),
           "first_peer": f["phase3"] - f["phase2"],
           "per_peer": (f["phase4"] - f["phase3"]) // (PEERS - 1),
           "smallest": f["smallest"]}
    out["frozen_estimate"] = (f["smallest"] - out["code"]) if f["smallest"] else None
    return out


# -- flash ---------------------------------------------------------------------------------
def layer_of(rel):
    for name, prefix in LAYERS:
        if rel == prefix or rel.startswith(prefix):
            return name
    raise ValueError("no layer for %s" % rel)


def board_files(board):
    """Repository paths of the .py files boards/<board>/manifest.py freezes."""
    from tools import deploy
    files = [os.path.relpath(full, ROOT).replace(os.sep, "/")
             for full, _ in deploy.board_manifest(board).files]
    return sorted(f for f in files if f.endswith(".py"))


def flash_figures(board, sizes):
    """{"layers": {layer: .mpy bytes}, "total": bytes on the filesystem} of
    `board`: its manifest's modules as .mpy, plus main.py and config.json.
    Compiles what `sizes` ({repository path: .mpy bytes}) lacks into it."""
    layers = {}
    for rel in board_files(board):
        size = sizes.get(rel)
        if size is None:
            size = sizes[rel] = memreport.mpy_file_sizes(ROOT, BUILD, [rel])[rel]
        layers[layer_of(rel)] = layers.get(layer_of(rel), 0) + size
    extra = [os.path.join(ROOT, "firmware", "main.py"),
             os.path.join(ROOT, "boards", board, "config.json")]
    return {"layers": layers,
            "total": sum(layers.values()) + sum(os.path.getsize(p) for p in extra)}


# -- budgets ---------------------------------------------------------------------------------
def load_budget(board):
    path = os.path.join(ROOT, "boards", board, "budget.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit("budget: cannot read %s: %s" % (path, e))


def over_budget(board, budget, flash, heap=None):
    """One line per figure over `budget`."""
    out = []
    for layer, size in sorted(flash["layers"].items()):
        limit = budget["flash_layers"].get(layer)
        if limit is None or size > limit:
            out.append("%s: %s layer %d B .mpy > budget %s B" % (board, layer, size, limit))
    if flash["total"] > budget["flash_bytes"]:
        out.append("%s: flash %d B > budget %d B" % (board, flash["total"], budget["flash_bytes"]))
    if heap is not None:
        for key, name in (("smallest", "heap_fs_bytes"), ("frozen_estimate", "heap_bytes"),
                          ("per_peer", "per_peer_bytes"),
                          ("per_observation", "per_observation_bytes")):
            if heap[key] is not None and heap[key] > budget[name]:
                out.append("%s: %s %d B > budget %s %d B" % (board, key, heap[key], name,
                                                              budget[name]))
    return out


def kib(n):
    return "%8s" % "-" if n is None else "%7.1f KiB" % (n / 1024)


def report_paths(paths, out=print):
    out("Steady-state paths on the unix port (tools/budget_paths.py): bytes allocated "
        "per operation; allocation-free = runs under micropython.heap_lock()")
    for p in paths:
        out("  %-30s %8.0f B  %-3s  %s" % (p["name"], p["bytes_per_op"],
                                         "yes" if p["alloc_free"] else "no",
                                         p["first_alloc"] or ""))


def report(heap, raw, flashes, budgets, out=print):
    u = budgets["unix"]
    out("Heap of the node on the unix port (64-bit), %d s of virtual time, %d reads, "
        "%d notifications to the server, %d peers following (%s switch changes each)"
        % (4 * PHASE_MS // 1000, raw["reads"], raw["notifications"], PEERS,
           "/".join(str(n) for n in raw["followed"])))
    rows = (("modules imported (bytecode from .mpy)", heap["code"], None),
            ("live after boot (incl. code)", heap["boot"], None),
            ("live after registering (OSCORE)", heap["registered"], None),
            ("live, steady state (2 observations)", heap["steady"], None),
            ("gc.mem_alloc() high-water (garbage incl.)", heap["peak_alloc"], None),
            ("smallest -X heapsize (8 in a row pass)", heap["smallest"], u["heap_fs_bytes"]),
            ("  minus the code: frozen-firmware estimate", heap["frozen_estimate"],
             u["heap_bytes"]),
            ("per added observation", heap["per_observation"], u["per_observation_bytes"]),
            ("first C2C peer (objects, context, observation)", heap["first_peer"], None),
            ("per further C2C peer", heap["per_peer"], u["per_peer_bytes"]))
    out("  %-50s %12s %12s" % ("", "measured", "budget"))
    for label, value, limit in rows:
        out("  %-50s %12s %12s" % (label, kib(value), "" if limit is None else kib(limit)))
    out("")
    out("Flash: .mpy bytes per layer (mpy-cross) and files on the board, vs budget")
    names = [name for name, _ in LAYERS]
    out("  %-10s" % "layer" + "".join("%24s" % b for b in flashes))
    for name in names + ["total"]:
        cells = []
        for b, fl in flashes.items():
            size = fl["total"] if name == "total" else fl["layers"].get(name, 0)
            limit = (budgets[b]["flash_bytes"] if name == "total"
                     else budgets[b]["flash_layers"].get(name, 0))
            cells.append("%24s" % ("%d / %d" % (size, limit)))
        out("  %-10s" % name + "".join(cells))


def parse_args(argv):
    opts = {"json": None, "quick": False}
    i = 0
    while i < len(argv):
        if argv[i] == "--json" and i + 1 < len(argv):
            opts["json"] = argv[i + 1]
            i += 2
        elif argv[i] == "--quick":
            opts["quick"] = True
            i += 1
        else:
            raise SystemExit("usage: python tools/budget.py [--json FILE] [--quick]")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    micropython = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv/bin/micropython")
    if not os.path.isabs(micropython) and os.sep in micropython:
        micropython = os.path.join(ROOT, micropython)
    sizes = compile_tree()
    budgets = {b: load_budget(b) for b in BOARDS}
    flashes = {b: flash_figures(b, sizes) for b in BOARDS}
    try:
        raw = measure_heap(micropython, opts["quick"])
        paths = measure_paths(micropython)
    except ScenarioFailed as e:
        print("budget: %s" % e)
        return 1
    heap = heap_figures(raw)
    report(heap, raw, flashes, budgets)
    print("")
    report_paths(paths)
    problems = []
    for b in BOARDS:
        problems += over_budget(b, budgets[b], flashes[b], heap if b == "unix" else None)
    if opts["json"]:
        with open(opts["json"], "w") as f:
            json.dump({"heap": heap, "run": raw, "flash": flashes, "paths": paths}, f,
                      indent=1, sort_keys=True)
    for line in problems:
        print("OVER BUDGET " + line)
    print("budget: %s" % ("%d over budget" % len(problems) if problems else "every budget met"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
