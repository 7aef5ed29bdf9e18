"""make memreport: the unix-port heap of a registered node and the .mpy size
of lib/ by layer.

    python tools/memreport.py [--minutes 10] [--json FILE]

Heap: runs this file under the unix-port MicroPython ($MICROPYTHON, default
.venv/bin/micropython) with --scenario: a node built by firmware/node.py
(simulated temperature, switch and light) on the fake radio
(tools/sim/radio.py) with a scripted server (host_tests/support/lwserver.py),
all in one process, for MINUTES of virtual time: the server observes the
temperature (pmin 1 s, sampled every 2 s) and the switch (toggling every
30 s), and reads /3/0 and /3303/0 every 10 s in a rotating content format.
The node keeps the engine's default duplicate-detection table (32
requests, as on a board; the unix CLI default is 128). After every step of
the node, gc.mem_alloc() is sampled (the high-water
mark, garbage included) and, after gc.collect(), the live heap. The report
also gives the heap after the interpreter started, with the harness (radio,
server) and with the node's modules imported, after registration, and
micropython.mem_info() at the end.

Flash: every lib/ module compiled with mpy-cross (bytecode, no native code),
summed per layer (cbor, coap, oscore, lwm2m core, lwm2m formats, lwm2m
objects, drivers, transport), plus firmware/ and the unix board.
"""
import sys

LAYERS = (("cbor", ("lib/cbor.py",)),
          ("coap", ("lib/coap/",)),
          ("oscore", ("lib/oscore/",)),
          ("lwm2m core", ("lib/lwm2m/",)),          # what the two below leave
          ("lwm2m formats", ("lib/lwm2m/formats/",)),
          ("lwm2m objects", ("lib/lwm2m/objects/",)),
          ("drivers", ("lib/drivers/",)),
          ("transport", ("lib/transport/",)),
          ("firmware", ("firmware/",)),
          ("board (unix)", ("boards/common/", "boards/unix/")))
_LIB_LAYERS = 8                     # the first eight are lib/


# -- the scenario (unix-port MicroPython) ------------------------------------------
def observe(server, radio, path, callback):
    """An Observe from the scripted server that keeps no notification (its
    send() would keep every one in a list: harness memory, not the node's)."""
    from coap.message import Message
    from coap.numbers import CON, GET
    msg = Message(CON, GET).set_path(path)
    server.client.request(server.peer(), msg, callback, radio.now_ms, observe=True)
    radio.wake(server.addr)


def scenario(minutes):
    import gc
    import micropython
    root = __file__.rsplit("/tools/", 1)[0] if "/tools/" in __file__ else "."
    sys.path[:0] = [root, root + "/lib"]
    gc.collect()
    m_start = gc.mem_alloc()
    sys.path[:0] = [root + "/firmware", root + "/boards/common"]
    import config
    import node as node_module              # noqa: F401 (lib/ modules with it)
    import boardkit                         # noqa: F401
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor, text  # noqa: F401
    gc.collect()
    m_code = gc.mem_alloc()
    from tools.sim.radio import Radio
    from host_tests.support.lwserver import LwServer
    from host_tests.support import simnode
    from coap.numbers import GET, PUT
    radio = Radio(seed=1, log=False)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, ("srv", 5683))
    gc.collect()
    m_harness = gc.mem_alloc()
    peak = [0, 0]                           # mem_alloc, live after collect

    def sample():
        a = gc.mem_alloc()
        if a > peak[0]:
            peak[0] = a
        gc.collect()
        a = gc.mem_alloc()
        if a > peak[1]:
            peak[1] = a
    cfg = config.from_dict({
        "endpoint": "memreport", "dedup_size": 32, "servers": [{"uri": "coap://srv:5683", "lifetime": 300}],
        "temperature": [{"kind": "sim", "seed": 5, "step_c": 0.2, "period_ms": 2000}],
        "switch": {"kind": "sim", "period_ms": 30000}, "light": {"kind": "sim"}})
    store = "/tmp/lwm2m-memreport"
    try:
        import os
        for n in os.listdir(store):
            os.remove(store + "/" + n)
    except OSError:
        pass
    node, stepper = simnode.start(radio, ("node", 5683), cfg, cfg["board_config"], store,
                                  after=sample)
    radio.run_for(2000)
    if server.kinds() != ["register"]:
        raise SystemExit("memreport: the node did not register")
    gc.collect()
    m_registered = gc.mem_alloc()
    got = {"temp": 0, "switch": 0, "reads": 0, "errors": 0}

    def counter(key):
        def cb(response, error):
            if response is None or response.code >> 5 != 2:
                got["errors"] += 1
            else:
                got[key] += 1
        return cb
    server.call(PUT, "/3303/0/5700", query=["pmin=1", "pmax=60"])
    observe(server, radio, "/3303/0/5700", counter("temp"))
    observe(server, radio, "/3342/0/5500", counter("switch"))
    formats = (11542, 110, 112, 11544)
    end = radio.now_ms + minutes * 60000
    i = 0
    while radio.now_ms < end:
        cf = formats[i % len(formats)]
        server.send(GET, "/3/0", accept=cf, callback=counter("reads"))
        server.send(GET, "/3303/0", accept=cf, callback=counter("reads"))
        i += 1
        radio.run_for(10000)
    gc.collect()
    m_end = gc.mem_alloc()
    result = {"minutes": minutes, "steps": stepper.steps, "notifications_temperature":
              got["temp"], "notifications_switch": got["switch"], "reads": got["reads"],
              "errors": got["errors"], "start": m_start, "harness": m_harness,
              "code": m_code, "registered": m_registered, "peak_alloc": peak[0],
              "peak_live": peak[1], "end_live": m_end,
              "heap_total": gc.mem_free() + gc.mem_alloc(),
              "registrations": server.kinds().count("register"),
              "updates": server.kinds().count("update")}
    import json
    print("MEMREPORT " + json.dumps(result))
    micropython.mem_info()


# -- the driver (CPython) ---------------------------------------------------------------
def layer_of(rel):
    """The LAYERS name of a repository-relative .py path (longest prefix)."""
    best, size = None, -1
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (rel == p or rel.startswith(p)) and len(p) > size:
                best, size = name, len(p)
    return best


def mpy_file_sizes(root, build, files):
    """{repository-relative .py path: .mpy bytes}, compiled with mpy-cross
    from .venv or PATH into `build`."""
    import os
    import shutil
    import subprocess
    cross = os.path.join(root, ".venv/bin/mpy-cross")
    if not os.path.exists(cross):
        cross = shutil.which("mpy-cross")
    if cross is None:
        raise SystemExit("memreport: mpy-cross not found (make setup)")
    out = {}
    for rel in files:
        dst = os.path.join(build, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([cross, "-o", dst, "-s", rel, os.path.join(root, rel)], check=True)
        out[rel] = os.path.getsize(dst)
    return out


def mpy_sizes(root, build):
    """{layer: (files, .mpy bytes)} of every source file."""
    out = {}
    for rel, size in mpy_file_sizes(root, build, sources(root)).items():
        layer = layer_of(rel)
        n, total = out.get(layer, (0, 0))
        out[layer] = (n + 1, total + size)
    return out


def sources(root):
    """The .py files of the layers (manifests excluded): those git tracks,
    so the figures belong to a commit; every file when git cannot say."""
    import os
    import subprocess
    tops = ("lib", "firmware", "boards/common", "boards/unix")
    try:
        p = subprocess.run(["git", "ls-files", "--"] + list(tops), cwd=root,
                           capture_output=True, text=True, check=True)
        files = p.stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
        for top in tops:
            for dirpath, dirs, names in os.walk(os.path.join(root, top)):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                files += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
    return sorted(f.replace(os.sep, "/") for f in files
                  if f.endswith(".py") and not f.endswith("manifest.py"))


def run_scenario(root, micropython, minutes):
    import subprocess
    p = subprocess.run([micropython, "tools/memreport.py", "--scenario", "--minutes",
                        str(minutes)], cwd=root, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        raise SystemExit("memreport: the scenario failed:\n" + p.stdout + p.stderr)
    import json
    lines = p.stdout.splitlines()
    data = None
    info = []
    for line in lines:
        if line.startswith("MEMREPORT "):
            data = json.loads(line[10:])
        elif data is not None:
            info.append(line)
    if data is None:
        raise SystemExit("memreport: no result from the scenario:\n" + p.stdout)
    data["mem_info"] = info
    return data


def kib(n):
    return "%7d B  %6.1f KiB" % (n, n / 1024)


def report(heap, sizes, out=print):
    h = heap
    out("Unix-port heap of a registered node, %d min of virtual time "
        "(%d node steps; %d temperature and %d switch notifications, %d reads served, "
        "%d errors; %d Register, %d Update)"
        % (h["minutes"], h["steps"], h["notifications_temperature"],
           h["notifications_switch"], h["reads"], h["errors"], h["registrations"],
           h["updates"]))
    rows = (("interpreter + this script", h["start"]),
            ("+ node modules imported (bytecode in the heap)", h["code"]),
            ("+ harness (fake radio, scripted server)", h["harness"]),
            ("registered node, live", h["registered"]),
            ("peak gc.mem_alloc() (sampled every step)", h["peak_alloc"]),
            ("peak live heap (gc.collect() every step)", h["peak_live"]),
            ("live heap at the end", h["end_live"]))
    for label, value in rows:
        out("  %-48s %s" % (label, kib(value)))
    out("  %-48s %s" % ("node modules (imported - interpreter)",
                        kib(h["code"] - h["start"])))
    out("  %-48s %s" % ("node state after registering",
                        kib(h["registered"] - h["harness"])))
    out("  %-48s %s" % ("node state at the peak (peak live - harness)",
                        kib(h["peak_live"] - h["harness"])))
    out("  %-48s %s" % ("GC heap (the port's default -X heapsize)", kib(h["heap_total"])))
    out("  micropython.mem_info() at the end:")
    for line in h["mem_info"]:
        out("    " + line)
    out("")
    out(".mpy bytes by layer (mpy-cross, bytecode)")
    total = lib = 0
    for i, (name, _) in enumerate(LAYERS):
        n, size = sizes.get(name, (0, 0))
        out("  %-16s %3d files %s" % (name, n, kib(size)))
        total += size
        if i < _LIB_LAYERS:
            lib += size
        if i == _LIB_LAYERS - 1:
            out("  %-16s %9s %s" % ("lib/ total", "", kib(lib)))
    out("  %-16s %9s %s" % ("with firmware + board", "", kib(total)))


def main(argv):
    import os
    import json
    minutes = 10
    path = None
    i = 0
    while i < len(argv):
        if argv[i] == "--minutes" and i + 1 < len(argv) and argv[i + 1].isdigit():
            minutes = int(argv[i + 1])
        elif argv[i] == "--json" and i + 1 < len(argv):
            path = argv[i + 1]
        else:
            sys.stderr.write("usage: python tools/memreport.py [--minutes N] [--json FILE]\n")
            return 2
        i += 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    micropython = os.environ.get("MICROPYTHON") or os.path.join(root, ".venv/bin/micropython")
    if not os.path.isabs(micropython) and os.sep in micropython:
        micropython = os.path.join(root, micropython)
    heap = run_scenario(root, micropython, minutes)
    sizes = mpy_sizes(root, os.path.join(root, "build", "memreport"))
    report(heap, sizes)
    if path:
        with open(path, "w") as f:
            json.dump({"heap": heap, "mpy": sizes}, f, indent=1)
    return 0


if __name__ == "__main__":
    if "--scenario" in sys.argv:
        args = sys.argv[1:]
        n = int(args[args.index("--minutes") + 1]) if "--minutes" in args else 10
        scenario(n)
    else:
        sys.exit(main(sys.argv[1:]))
