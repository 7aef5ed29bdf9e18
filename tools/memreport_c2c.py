"""make memreport (second part): what the client-to-client extension costs
on the unix port, against the published figures (IPSN 2022: flash +12.9%
for C2C, +19.5% with the authorization; RAM +2.1%).

    python tools/memreport_c2c.py [--json FILE]

Heap: this file runs under the unix-port MicroPython ($MICROPYTHON) with
--scenario MODE KEEP, once per (MODE, KEEP): two nodes built by
firmware/node.py (+ firmware/apps.py) on the fake radio with the scripted
/ac server (host_tests/support/acserver.py), 300 s of virtual time (past
CoAP's EXCHANGE_LIFETIME: the provisioning requests have left the
duplicate-detection cache), the switch toggling every 5 s. MODE: "plain" (no C2C), "c2c" (C2C installed on
both, no peer account), "account" (the light asks /ac for the grant alone:
a peer account on both sides, nothing observed), "peer" (the light follows
the switch: a peer account on both sides and a live C2C observation). Then everything but
node KEEP ("switch": the host, "light": the requester) is detached and
dropped, and the live heap after gc.collect() minus the heap before any
node or server existed (every module already imported) is that node's
state. Event lines are off. The heap taken by importing the C2C modules
(lwm2m.c2c and what it imports) is measured apart: it is bytecode, which a
board keeps in flash once frozen.

Flash: .mpy bytes (mpy-cross) of the C2C-only modules -- C2C proper
(lwm2m/c2c.py, peers.py, objects/client.py, client_security.py,
client_access.py) and the authorization requester (lwm2m/requester.py) --
against the rest of lib/. The published figures compare firmware images
of RIOT + Wakaama on a Cortex-M; ours are bytecode sizes and a 64-bit heap:
the same question, not the same yardstick.
"""
import sys

C2C_FILES = ("lib/lwm2m/c2c.py", "lib/lwm2m/peers.py", "lib/lwm2m/objects/client.py",
             "lib/lwm2m/objects/client_security.py", "lib/lwm2m/objects/client_access.py")
AUTHZ_FILES = ("lib/lwm2m/requester.py",)
APP_FILES = ("firmware/apps.py",)
MODES = ("plain", "c2c", "account", "peer")
PUBLISHED = {"flash_c2c": 12.9, "flash_authz": 19.5, "ram": 2.1}


# -- the scenario (unix-port MicroPython) ----------------------------------------------
def scenario(mode, keep):
    import gc
    import os
    root = __file__.rsplit("/tools/", 1)[0] if "/tools/" in __file__ else "."
    sys.path[:0] = [root, root + "/lib"]
    gc.collect()
    m_start = gc.mem_alloc()
    from host_tests.support import simnode          # firmware/, boards/common on sys.path
    import config
    import node as node_module                      # noqa: F401
    import apps
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor, text  # noqa: F401
    gc.collect()
    m_node_code = gc.mem_alloc()
    import lwm2m.c2c                                # noqa: F401 (requester, peers, 11000-11002)
    gc.collect()
    m_c2c_code = gc.mem_alloc()
    from tools.sim.radio import Radio
    from host_tests.support.acserver import AuthServer
    radio = Radio(seed=1, log=False)
    for a, b in (("switch", "srv"), ("light", "srv"), ("light", "switch")):
        radio.link(a, b, delay_ms=5)
    store = "/tmp/lwm2m-memreport-c2c"
    gc.collect()
    m_base = gc.mem_alloc()
    srv = AuthServer(radio, ("srv", 5683))
    srv.policy[("light", "switch")] = {(3342, 0): 1}
    nodes = {}
    for name, conf in (("switch", {"switch": {"kind": "sim", "period_ms": 5000}}),
                       ("light", {"light": {"kind": "sim"}})):
        data = {"endpoint": name, "temperature": [], "switch": None, "light": None,
                "events": False, "dedup_size": 32,
                "servers": [{"uri": "coap://srv:5683", "oscore": srv.spec(name)}]}
        data.update(conf)
        if mode != "plain":
            data["c2c"] = True
        if mode == "peer" and name == "light":
            data["follow"] = {"endpoint": "switch", "path": "/3342/0/5500",
                              "target": "/3311/0/5850", "address": "coap://switch:5683"}
        cfg = config.from_dict(data)
        d = store + "/" + name
        try:
            for n in os.listdir(d):
                os.remove(d + "/" + n)
        except OSError:
            pass
        node = simnode.start(radio, (name, 5683), cfg, cfg["board_config"], d)[0]
        nodes[name] = (node, apps.install(node, cfg, node.log))
    radio.run_for(2000)
    if mode == "account":
        nodes["light"][0].engine.c2c.authorize("switch", {(3342, 0): 1}, lambda r, e: None)
    radio.run_for(300500)               # 60 toggles; measured between two of them
    switch, light = nodes["switch"][0], nodes["light"][0]
    registered = all(n.engine.registrar.regs[1].registered for n in (switch, light))
    peers = [len(n.engine.model.get(11000).instances) if 11000 in n.engine.model else 0
             for n in (switch, light)]
    followed = light.light._drivers[0].on == switch.switch._drivers[0].state
    app = nodes["light"][1]
    live = bool(app is not None and app.live)
    observations = len([o for o in switch.engine.reporting.observations
                        if isinstance(o.key, str)])
    gone = []
    for name in ("srv", "switch", "light"):
        if name != keep:
            gone.append(radio._ports[(name, 5683)])
            radio.detach((name, 5683))
    # the radio's event queue still names the detached ports (wake-ups,
    # frames in flight): drop those entries, or they keep the nodes alive
    import heapq
    radio._queue = [e for e in radio._queue if not any(x is p for x in e for p in gone)]
    heapq.heapify(radio._queue)
    kept = nodes.pop(keep)
    del srv, switch, light, app, node, nodes, gone, cfg, data
    kept[0].log.lines[:] = []
    radio.run_for(100)
    gc.collect()
    m_end = gc.mem_alloc()
    import json
    print("MEMREPORT_C2C " + json.dumps({
        "mode": mode, "keep": keep, "registered": registered, "peers": peers,
        "followed": followed, "live": live, "peer_observations": observations,
        "start": m_start, "node_code": m_node_code, "c2c_code": m_c2c_code,
        "base": m_base, "end": m_end, "state": m_end - m_base}))


# -- the driver (CPython) ------------------------------------------------------------------
def run_scenarios(root, micropython):
    """{(mode, keep): result dict}, one unix-port process each."""
    import json
    import subprocess
    out = {}
    for mode in MODES:
        for keep in ("switch", "light"):
            p = subprocess.run([micropython, "tools/memreport_c2c.py", "--scenario", mode, keep],
                               cwd=root, capture_output=True, text=True, timeout=300)
            lines = [x for x in p.stdout.splitlines() if x.startswith("MEMREPORT_C2C ")]
            if p.returncode != 0 or not lines:
                raise SystemExit("memreport_c2c: scenario %s/%s failed:\n%s%s"
                                 % (mode, keep, p.stdout, p.stderr))
            out[(mode, keep)] = json.loads(lines[0][14:])
    return out


def check(heap):
    """The reasons the scenarios did not do what they should (empty: fine)."""
    bad = []
    for (mode, keep), h in sorted(heap.items()):
        if not h["registered"]:
            bad.append("%s/%s: a node did not register" % (mode, keep))
        want = [1, 1] if mode in ("account", "peer") else [0, 0]
        if mode != "plain" and h["peers"] != want:
            bad.append("%s/%s: peer accounts %s, not %s" % (mode, keep, h["peers"], want))
        if mode == "peer" and not (h["live"] and h["followed"] and h["peer_observations"]):
            bad.append("%s/%s: no live C2C observation" % (mode, keep))
    return bad


def mpy_file_sizes(root, build):
    """{repository-relative .py path: .mpy bytes} for lib/ and firmware/apps.py."""
    from tools import memreport
    files = [r for r in memreport.sources(root) if r.startswith("lib/")]
    return memreport.mpy_file_sizes(root, build, sorted(set(files) | set(APP_FILES)))


def figures(heap, sizes):
    """The numbers of the report (a dict)."""
    lib = dict((k, v) for k, v in sizes.items() if k.startswith("lib/"))
    c2c = sum(lib.get(f, 0) for f in C2C_FILES)
    authz = sum(lib.get(f, 0) for f in AUTHZ_FILES)
    rest = sum(lib.values()) - c2c - authz
    h = heap[("plain", "switch")]
    code_node = h["node_code"] - h["start"]
    code_c2c = h["c2c_code"] - h["node_code"]
    f = {"mpy_rest": rest, "mpy_c2c": c2c, "mpy_authz": authz,
         "mpy_app": sum(sizes.get(f, 0) for f in APP_FILES),
         "flash_c2c_pct": 100.0 * c2c / rest, "flash_authz_pct": 100.0 * (c2c + authz) / rest,
         "heap_code_node": code_node, "heap_code_c2c": code_c2c}
    for keep in ("switch", "light"):
        base = heap[("plain", keep)]["state"]
        for mode in MODES:
            s = heap[(mode, keep)]["state"]
            f["state_%s_%s" % (mode, keep)] = s
            f["state_pct_%s_%s" % (mode, keep)] = 100.0 * (s - base) / base
            f["total_pct_%s_%s" % (mode, keep)] = (
                100.0 * (s - base + code_c2c) / (base + code_node))
    return f


def report(f, out=print):
    out("C2C extension on the unix port (64-bit: objects take about twice the RAM of a "
        "32-bit board)")
    out("")
    row = "  %-50s %7s  %9s  %9s"

    def line(*cells):
        out((row % cells).rstrip())
    line("flash: .mpy bytes (mpy-cross)", "bytes", "vs rest", "published")
    line("rest of lib/ (engine, CoAP, OSCORE, CBOR, ...)", f["mpy_rest"], "", "")
    line("C2C: c2c, peers, objects 11000-11002", f["mpy_c2c"],
         "%+.1f%%" % f["flash_c2c_pct"], "+%.1f%%" % PUBLISHED["flash_c2c"])
    line("+ authorization: requester (4.01, /ac, retry)", f["mpy_authz"],
         "%+.1f%%" % f["flash_authz_pct"], "+%.1f%%" % PUBLISHED["flash_authz"])
    line("(application firmware/apps.py: not counted)", f["mpy_app"], "", "")
    out("")
    out("  %-50s %-16s %s" % ("RAM: live heap of one node (gc.collect())", "switch (host)",
                              "light (requester)"))
    rows = (("plain", "no C2C"), ("c2c", "C2C installed, no peer"),
            ("account", "a peer account (granted, not used)"),
            ("peer", "peer account + live C2C observation"))
    for mode, label in rows:
        cells = []
        for keep in ("switch", "light"):
            s = f["state_%s_%s" % (mode, keep)]
            cells.append("%6d B" % s if mode == "plain" else
                         "%6d B %+5.1f%%" % (s, f["state_pct_%s_%s" % (mode, keep)]))
        out("  %-50s %-16s %s" % (label, cells[0], cells[1]))
    out("  (node state only, the code frozen in flash as on a board; published RAM: +%.1f%%)"
        % PUBLISHED["ram"])
    out("  code in the heap when loaded from .py/.mpy: node %d B, C2C modules +%d B (+%.1f%%)"
        % (f["heap_code_node"], f["heap_code_c2c"],
           100.0 * f["heap_code_c2c"] / f["heap_code_node"]))
    out("  code + state, peer account + live observation: switch %+.1f%%, light %+.1f%%"
        % (f["total_pct_peer_switch"], f["total_pct_peer_light"]))


def main(argv):
    import os
    import json
    path = None
    if argv[:1] == ["--json"] and len(argv) == 2:
        path = argv[1]
    elif argv:
        sys.stderr.write("usage: python tools/memreport_c2c.py [--json FILE]\n")
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    micropython = os.environ.get("MICROPYTHON") or os.path.join(root, ".venv/bin/micropython")
    if not os.path.isabs(micropython) and os.sep in micropython:
        micropython = os.path.join(root, micropython)
    heap = run_scenarios(root, micropython)
    bad = check(heap)
    if bad:
        sys.stderr.write("memreport_c2c: %s\n" % "; ".join(bad))
        return 1
    sizes = mpy_file_sizes(root, os.path.join(root, "build", "memreport_c2c"))
    f = figures(heap, sizes)
    report(f)
    if path:
        with open(path, "w") as fh:
            json.dump({"figures": f, "heap": dict(("%s/%s" % k, v) for k, v in heap.items()),
                       "mpy": sizes}, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    if "--scenario" in sys.argv:
        i = sys.argv.index("--scenario")
        scenario(sys.argv[i + 1], sys.argv[i + 2])
    else:
        sys.exit(main(sys.argv[1:]))
