"""make budget: the node's memory against the boards' budgets
(boards/<name>/budget.json). Part of `make test`; exits 1 when a budget is
exceeded, naming it.

    python tools/budget.py [--json FILE] [--quick] [--no-mp32]

Heap. The node under test is a firmware node (firmware/node.py, the unix
board's simulated temperature and switch, C2C on) in its own MicroPython
process (the unix port under `-X heapsize=N`; see 32-bit below), importing only .mpy files
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

32-bit. The unix port is 64-bit; the ESP32 and Pico W are 32-bit, where
most heap objects take about 0.6-0.75 of the bytes. The same scenario (the
same CPython world, the same node code and frames) also runs with the node
in the 32-bit MicroPython of tools/mp32 (wasm32 under Node.js, `run.mjs
--frames --heapsize N`), in a second process beside the unix runs; the
ESP32's and Pico W's heap_bytes, per_peer_bytes and per_observation_bytes
are checked against those figures (heap_fs_bytes is reported: they cannot
hold the node loaded from .mpy), the unix board's against the unix port's.
What differs on tools/mp32 (tools/mp32/README.md):
  - its GC cannot scan the wasm stack, so it collects only between frames
    (before each one), never inside; a frame's garbage must fit on top of
    the live heap, so its smallest heap is an upper bound where the unix
    port (and a board) collects when the heap is full; its high-water mark
    is the live heap plus one frame's garbage, and the bisection starts
    there. `C` frames report gc.mem_alloc() at the start of the call, just
    after that collection;
  - a frame is read from and answered through the in-memory file system
    (run.mjs copies stdin/stdout), a few hundred bytes of garbage per frame;
  - call frames live on a separate pystack, outside the GC heap;
  - cryptolib is a stand-in whose AES runs in node:crypto (nothing
    allocated per block, as a C cryptolib), os.urandom is seeded (runs
    repeat exactly: MP32_WINDOW passes in a row make the smallest heap);
    the stand-ins are imported first, in the `start` figure, not the code;
  - MicroPython 1.29.0 (npm @micropython/micropython-webassembly-pyscript
    1.29.0-6) vs the unix port of .venv; doubles vs the ESP32's floats.
Without node and npm on PATH (or with --no-mp32) the 32-bit figures are
not measured and the report says so.
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
from tools.budget_wire import MP32, NodeProcess, ScenarioFailed  # noqa: E402

BOARDS = ("unix", "esp32", "rp2_pico_w")
BOARDS_32 = ("esp32", "rp2_pico_w")     # their heap is checked against the 32-bit figures
BUILD_ROOT = os.path.join(ROOT, "build", "budget")
BUILD = None                        # this run's .mpy tree under BUILD_ROOT (compile_tree)
MP32_DIR = os.path.join(ROOT, "tools", "mp32")
PHASE_MS = 300000
PEERS = 3                           # C2C peers: one at 600 s, two more at 900 s
EXTRA_OBS = ("/3303/0/5601", "/3303/0/5602", "/3/0/0")
FORMATS = (11542, 110, 112, 11544)
BIG_HEAP = 1 << 20                  # the first run, which must pass
UNIX_WINDOW = 8                     # passes in a row that make a smallest heap (unix port)
MP32_WINDOW = 3                     # ... on tools/mp32, whose runs repeat exactly
LAYERS = (("cbor", "lib/cbor.py"), ("coap", "lib/coap/"), ("oscore", "lib/oscore/"),
          ("lwm2m", "lib/lwm2m/"), ("transport", "lib/transport/"),
          ("drivers", "lib/drivers/"), ("firmware", "firmware/"), ("board", "boards/"))


# -- the scenario -------------------------------------------------------------------
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
                             "oscore": srv.spec("node", rand)}],
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
                "servers": [{"uri": "coap://srv:5683", "oscore": srv.spec(name, rand)}],
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
    tools/budget_node.py) compiled into a fresh tree BUILD_ROOT/run-XXXXXXXX
    (its own per run, so that runs side by side do not share one; the name
    has a fixed length, as each module's file name is in the heap), which
    becomes BUILD; {repository path: .mpy bytes}. remove_tree() removes it."""
    import tempfile
    import time
    global BUILD
    os.makedirs(BUILD_ROOT, exist_ok=True)
    for name in os.listdir(BUILD_ROOT):         # trees left by runs that were killed
        old = os.path.join(BUILD_ROOT, name)
        try:
            stale = time.time() - os.path.getmtime(old) > 3600
        except OSError:
            continue
        if stale or not name.startswith("run-"):
            _remove(old)
    remove_tree()
    BUILD = tempfile.mkdtemp(prefix="run-", dir=BUILD_ROOT)
    files = memreport.sources(ROOT) + ["tools/budget_node.py"]
    return memreport.mpy_file_sizes(ROOT, BUILD, files)


def _remove(path):
    import shutil
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except OSError:
            pass


def remove_tree():
    global BUILD
    if BUILD is not None:
        _remove(BUILD)
        BUILD = None


def _passes(micropython, heapsize, state):
    try:
        scenario(micropython, heapsize, state)
        return True
    except ScenarioFailed:
        return False


def smallest_heap(micropython, state, lo, hi, step=1024, window=8, max_runs=48):
    """The smallest heap S (a multiple of `step`) such that the scenario
    passes in S and in each of the next `window` - 1 steps: near the edge a
    run may pass or fail with fragmentation and the node's random tokens, so
    a bisection between `lo` (fails) and `hi` (expected to pass) is followed
    by a scan upwards for `window` passes in a row. Returns (S, runs)."""
    runs = 0
    lo, hi = lo // step, -(-hi // step)
    tested = False                          # has `hi` passed a run?
    while hi - lo > 1:
        mid = (lo + hi) // 2
        runs += 1
        if _passes(micropython, mid * step, state):
            hi, tested = mid, True
        else:
            lo = mid
    start, size = hi, hi + (1 if tested else 0)     # scan the rest of the window
    while size - start < window and runs < max_runs:
        runs += 1
        if not _passes(micropython, size * step, state):
            start = size + 1
        size += 1
    if size - start < window:
        raise ScenarioFailed("no %d passing heap sizes in a row after %d runs" % (window, runs))
    return start * step, runs


def measure_heap(micropython, quick=False):
    """The reference run in BIG_HEAP, then the smallest heap (unless quick).
    `micropython`: the unix port's path, or MP32 (tools/mp32: no collection
    inside a frame, so a run's high-water mark is the live heap plus one
    frame's garbage, all in use at once: the smallest heap is above it, and
    the search starts there; runs repeat exactly, so MP32_WINDOW passes in a
    row do)."""
    import tempfile
    import shutil
    import time
    t0 = time.monotonic()
    state = tempfile.mkdtemp(prefix="budget-")
    try:
        try:
            f = scenario(micropython, BIG_HEAP, state)
        except ScenarioFailed as e:
            raise ScenarioFailed("%s: the scenario failed with a %d KiB heap: %s"
                                 % (_name(micropython), BIG_HEAP // 1024, e))
        if quick:
            f["smallest"], f["bisection_runs"] = None, 0
        elif micropython == MP32:
            # the high-water mark was in use at once: a heap whose blocks (the
            # allocation tables take 1.5/65.5 of it) cannot hold it fails
            lo = f["peak"] * 131 // 128 - 1024
            f["smallest"], f["bisection_runs"] = smallest_heap(
                micropython, state, lo, lo + 16384, window=MP32_WINDOW, max_runs=16)
        else:
            f["smallest"], f["bisection_runs"] = smallest_heap(
                micropython, state, f["code"], f["peak"] + 4096, window=UNIX_WINDOW)
        f["seconds"] = round(time.monotonic() - t0, 1)
        return f
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _name(micropython):
    return "32-bit (tools/mp32)" if micropython == MP32 else "unix port"


def mp32_ready():
    """None when tools/mp32 can run (installing its npm package when missing),
    else why not. Without node or npm on PATH the 32-bit heap is not measured
    (as host_tests/cpython/test_mp32.py skips); a failing `npm ci` is an error."""
    import shutil
    if not (shutil.which("node") and shutil.which("npm")):
        return "node and npm are not both on PATH"
    pkg = os.path.join(MP32_DIR, "node_modules", "@micropython",
                       "micropython-webassembly-pyscript", "micropython.mjs")
    if not os.path.exists(pkg):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MP32_DIR,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0 or not os.path.exists(pkg):
            raise ScenarioFailed("npm ci in tools/mp32 failed: %s"
                                 % (p.stderr or p.stdout).strip()[-500:])
    return None


class Mp32Job:
    """The 32-bit measurement (measure_heap(MP32)) in a second process, so that
    it runs beside the unix port's; result() is its figures, or a string
    saying why there are none (no node/npm on PATH)."""

    def __init__(self, quick=False):
        import concurrent.futures
        import multiprocessing
        self.pool = self.job = None
        self.why = mp32_ready()
        if self.why is None:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("fork"))
            self.job = self.pool.submit(measure_heap, MP32, quick)

    def result(self):
        if self.job is None:
            return self.why
        try:
            return self.job.result()
        finally:
            self.close()

    def close(self):
        if self.pool is not None:
            self.job.cancel()
            self.pool.shutdown(wait=True)
            self.pool = None


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


HEAP_CHECKS = (("smallest", "heap_fs_bytes"), ("frozen_estimate", "heap_bytes"),
               ("per_peer", "per_peer_bytes"), ("per_observation", "per_observation_bytes"))


def over_budget(board, budget, flash, heap=None):
    """One line per figure over `budget`. On the 32-bit boards heap_fs_bytes
    (the node loaded from .mpy, which they cannot hold: frozen there) is
    reported, not checked."""
    out = []
    for layer, size in sorted(flash["layers"].items()):
        limit = budget["flash_layers"].get(layer)
        if limit is None or size > limit:
            out.append("%s: %s layer %d B .mpy > budget %s B" % (board, layer, size, limit))
    if flash["total"] > budget["flash_bytes"]:
        out.append("%s: flash %d B > budget %d B" % (board, flash["total"], budget["flash_bytes"]))
    if heap is not None:
        checked = HEAP_CHECKS if board not in BOARDS_32 else HEAP_CHECKS[1:]
        for key, name in checked:
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


HEAP_ROWS = (
    ("modules imported (bytecode from .mpy)", "code", None),
    ("live after boot (incl. code)", "boot", None),
    ("live after registering (OSCORE)", "registered", None),
    ("live, steady state (2 observations)", "steady", None),
    ("gc.mem_alloc() high-water (garbage incl.)", "peak_alloc", None),
    ("smallest heap the scenario passes in", "smallest", "heap_fs_bytes"),
    ("  minus the code: frozen-firmware estimate", "frozen_estimate", "heap_bytes"),
    ("per added observation", "per_observation", "per_observation_bytes"),
    ("first C2C peer (objects, context, observation)", "first_peer", None),
    ("per further C2C peer", "per_peer", "per_peer_bytes"))


def _run_line(raw):
    return ("%d reads, %d notifications to the server, %d peers following (%s switch "
            "changes each)" % (raw["reads"], raw["notifications"], PEERS,
                               "/".join(str(n) for n in raw["followed"])))


def report(heap, raw, flashes, budgets, out=print, heap32=None, raw32=None):
    """heap / raw: the unix port's figures and run; heap32 / raw32: the 32-bit
    ones (tools/mp32), or heap32 a string saying why there are none."""
    out("Heap of the node, %d s of virtual time (bytes of GC heap; budgets from "
        "boards/<name>/budget.json)" % (4 * PHASE_MS // 1000))
    out("  unix port (64-bit, -X heapsize, GC when the heap is full): %s" % _run_line(raw))
    have32 = isinstance(heap32, dict)
    if have32:
        out("  32-bit MicroPython (tools/mp32, wasm32 under Node.js, --heapsize, GC before "
            "every frame only): %s" % _run_line(raw32))
    else:
        out("  32-bit: NOT MEASURED (%s); the ESP32 and Pico W heap budgets are unchecked"
            % (heap32 or "skipped"))
    head = ("", "unix 64", "budget unix", "32-bit", "32/64", "budget esp32", "b. pico w")
    fmt = "  %-47s" + " %11s" * 2 + " %11s %5s" + " %12s %11s"
    out(fmt % head)
    for label, key, limit in HEAP_ROWS:
        v64 = heap[key]
        v32 = heap32[key] if have32 else None
        ratio = ("%.2f" % (v32 / v64)) if (v32 and v64) else ""
        cells = [kib(v64), kib(budgets["unix"][limit]) if limit else "", kib(v32), ratio]
        for b in BOARDS_32:
            cell = kib(budgets[b][limit]) if limit else ""
            cells.append(cell + "*" if limit == "heap_fs_bytes" else cell)
        out(fmt % tuple([label] + cells))
    out("  * the 32-bit boards' heap_fs_bytes is reported, not checked (they cannot hold "
        "the node loaded from .mpy: it is frozen there)")
    out("  smallest heap: 1 KiB steps; unix %s runs, %d in a row pass; 32-bit %s runs, "
        "%d in a row pass" % (raw.get("bisection_runs"), UNIX_WINDOW,
                              raw32.get("bisection_runs") if have32 else "-", MP32_WINDOW))
    out("  time: unix port %s s; 32-bit %s s (in a second process, beside the unix runs)"
        % (raw.get("seconds"), raw32.get("seconds") if have32 else "-"))
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


USAGE = "usage: python tools/budget.py [--json FILE] [--quick] [--no-mp32]"


def parse_args(argv):
    opts = {"json": None, "quick": False, "mp32": True}
    i = 0
    while i < len(argv):
        if argv[i] == "--json" and i + 1 < len(argv):
            opts["json"] = argv[i + 1]
            i += 2
        elif argv[i] == "--quick":
            opts["quick"] = True
            i += 1
        elif argv[i] == "--no-mp32":
            opts["mp32"] = False
            i += 1
        else:
            raise SystemExit(USAGE)
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    micropython = os.environ.get("MICROPYTHON") or os.path.join(ROOT, ".venv/bin/micropython")
    if not os.path.isabs(micropython) and os.sep in micropython:
        micropython = os.path.join(ROOT, micropython)
    try:
        sizes = compile_tree()
        budgets = {b: load_budget(b) for b in BOARDS}
        flashes = {b: flash_figures(b, sizes) for b in BOARDS}
        job = None
        try:
            job = Mp32Job(opts["quick"]) if opts["mp32"] else None
            raw = measure_heap(micropython, opts["quick"])
            paths = measure_paths(micropython)
            raw32 = job.result() if job is not None else "--no-mp32"
        except ScenarioFailed as e:
            print("budget: %s" % e)
            return 1
        finally:
            if job is not None:
                job.close()
    finally:
        remove_tree()
    heap = heap_figures(raw)
    heap32 = heap_figures(raw32) if isinstance(raw32, dict) else raw32
    report(heap, raw, flashes, budgets, heap32=heap32,
           raw32=raw32 if isinstance(raw32, dict) else None)
    print("")
    report_paths(paths)
    problems = []
    for b in BOARDS:
        problems += over_budget(b, budgets[b], flashes[b],
                                heap if b == "unix" else
                                heap32 if isinstance(heap32, dict) else None)
    if opts["json"]:
        with open(opts["json"], "w") as f:
            json.dump({"heap": heap, "run": raw, "heap32": heap32,
                       "run32": raw32 if isinstance(raw32, dict) else None,
                       "flash": flashes, "paths": paths}, f, indent=1, sort_keys=True)
    for line in problems:
        print("OVER BUDGET " + line)
    print("budget: %s" % ("%d over budget" % len(problems) if problems else "every budget met"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
