"""Experiment 1 of the paper reproduction (issue 7): notification latency,
client-to-client (OSCORE) vs server-centric, for 1..5 mesh hops between
each client and the border router. CPython, virtual time, one seed = one
result:

    python -m tools.sim.exp_latency [--seed N] [--hops 1-5] [--notifications N]
                                    [--interval-ms MS] [--out build/paper]

Topology (fake radio, tools/sim/radio.py), for h hops:

    switch - s1 - .. - s(h-1) - br - l(h-1) - .. - l1 - light      (mesh, Phy154())
                                 |
                                srv                                 (backbone, 40 ms one way)

The two clients sit on *different branches* of the border router "br", each
h mesh hops away from it; every mesh link is an IEEE 802.15.4 hop with the
defaults of tools/sim/phy.py (Phy154(): 250 kbit/s, no loss, no contention,
CSMA/CA back-off, 6LoWPAN fragmentation). So a C2C datagram crosses 2h mesh
hops (through br), a server-centric one h + backbone + backbone + h. The
backbone br <-> srv is a plain link with BACKBONE_MS = 40 ms one way (no loss).

Nodes: the unmodified firmware nodes (firmware/node.py + firmware/apps.py,
via host_tests/support/simnode.py), each with its own OSCORE session to the
scripted LwM2M + /ac server of the portable tests
(host_tests/support/acserver.py; not tools/server). The host "switch" is an
On/Off switch with the C2C extension; the requester "light" is a light.

Modes:
  c2c     the light is configured to follow /3342/0/5500 of the switch
          ("follow"): it runs the authorization once (denied -> /ac ->
          provisioned) and then observes the switch directly over OSCORE.
  server  server-centric (the published baseline): the server observes
          /3342/0/5500 of the switch over its OSCORE session and, on every
          notification, Writes the value to /3311/0/5850 of the light
          (a CON PUT over the light's OSCORE session).

Latency of one notification = virtual time from the switch press (the host
value change; the switch's app polls its driver when woken) to the step in
which the light's driver takes the new value (radio ms; the radio rounds
every hop's delay up to whole ms). The switch is pressed every
`interval_ms` (default 2000 ms, well apart: one notification in flight at a
time), after a warm-up in which registration and, in c2c mode, the
authorization and the first observation finish.

Output: <out>/latency_seed<S>_h<H>_<mode>.csv (hops, mode, seq, latency_ms)
and a table of median / p95 per hop count and mode on stdout.
"""
import os
import sys
import binascii

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("tools/shims", "lib", ""):
    _p = os.path.join(_ROOT, _sub) if _sub else _ROOT
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tools.sim.radio import Radio  # noqa: E402
from tools.sim.phy import Phy154  # noqa: E402

BACKBONE_MS = 40          # one way, border router <-> server
WARMUP_MS = 20000         # registration (+ authorization, first observation) done by then
INTERVAL_MS = 2000        # between two presses of the switch
MODES = ("c2c", "server")
SRV = ("srv", 5683)
SWITCH = ("switch", 5683)
LIGHT = ("light", 5683)


def _hex(b):
    return binascii.hexlify(b).decode()


def _spec(srv, ep, rand):
    """An OSCORE context of node `ep` with the scripted server (seeded key
    material): the server's side added there, the node's as a --oscore spec."""
    from oscore.context import SecurityContext
    from oscore.secure import Protection
    node_id, srv_id = srv.mint(), srv.mint()
    secret, salt = rand(16), rand(8)
    ctx = SecurityContext(secret, srv_id, node_id, master_salt=salt)
    srv.secure.add(ctx)
    srv.prot[ep] = Protection(ctx)
    srv.ctx_ep[ctx] = ep
    return ":".join(_hex(x) for x in (secret, salt, node_id, srv_id))


def _clear(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        os.remove(os.path.join(d, n))


def topology(radio, hops, phy):
    """Two branches of `hops` mesh hops each under "br"; the backbone to "srv"."""
    radio.link("br", "srv", delay_ms=BACKBONE_MS)
    left = ["switch"] + ["s%d" % i for i in range(hops - 1, 0, -1)] + ["br"]
    right = ["br"] + ["l%d" % i for i in range(1, hops)] + ["light"]
    radio.chain(left, phy=phy)
    radio.chain(right, phy=phy)


def run(hops, mode, seed=1, notifications=10, interval_ms=INTERVAL_MS, state_dir=None):
    """One run; returns the list of latencies (ms), one per press (None when the
    light never took the value before the next press)."""
    from host_tests.support import simnode
    from host_tests.support.acserver import AuthServer
    from host_tests.support.lwserver import rng_bytes
    from coap.numbers import GET, PUT, TEXT_PLAIN
    from config import from_dict
    import apps

    if mode not in MODES:
        raise ValueError("mode is c2c or server")
    import tempfile
    import shutil
    if state_dir is None:
        tmp = tempfile.mkdtemp(prefix="exp_latency-")
        try:
            return run(hops, mode, seed, notifications, interval_ms, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    radio = Radio(seed=seed, log=False)
    phy = Phy154()
    topology(radio, hops, phy)
    srv = AuthServer(radio, SRV, seed=seed + 1000)
    srv.policy[("light", "switch")] = {(3342, 0): 1}
    rand = rng_bytes(seed + 2000)
    follow = {"endpoint": "switch", "path": "/3342/0/5500", "target": "/3311/0/5850",
              "address": "coap://switch:5683", "retry_ms": 2000}

    def node(name, conf):
        data = {"endpoint": name, "temperature": [], "switch": None, "light": None,
                "servers": [{"uri": "coap://srv:5683", "oscore": _spec(srv, name, rand)}]}
        data.update(conf)
        cfg = from_dict(data)
        d = os.path.join(state_dir, name)
        _clear(d)
        return cfg, simnode.start(radio, (name, 5683), cfg, cfg["board_config"], d)

    delivered = []                   # radio ms at which the light took a new value
    box = {}

    def watch():
        drv = box["light"].light._drivers[0]
        if drv.on != box.get("on"):
            box["on"] = drv.on
            delivered.append(radio.now_ms)

    cfg_s, (switch, _) = node("switch", {"switch": {"kind": "sim", "period_ms": 0},
                                         "c2c": True})
    cfg_l, (light, stepper) = node("light", {"light": {"kind": "sim"}, "c2c": True,
                                             "follow": follow if mode == "c2c" else None})
    box["light"] = light
    box["on"] = light.light._drivers[0].on
    stepper.after = watch
    apps.install(switch, cfg_s, switch.log)
    apps.install(light, cfg_l, light.log)
    radio.run_for(WARMUP_MS)
    if mode == "c2c":
        kinds = [ln.split(" ")[1] for ln in light.log.lines if ln.startswith("event c2c")]
        if "c2c-observing" not in kinds:
            raise RuntimeError("the light is not observing the switch: %r" % kinds)
    writes = []
    if mode == "server":
        def forward(response, error):
            if response is not None and error is None and response.payload:
                writes.append(radio.now_ms)
                srv.to("light", PUT, "/3311/0/5850", bytes(response.payload), TEXT_PLAIN)
        srv.security = srv.prot["switch"]
        srv.send(GET, "/3342/0/5500", accept=TEXT_PLAIN, observe=True,
                 peer=srv.registered("switch")["peer"], callback=forward)
        radio.run_for(interval_ms)
    del delivered[:]
    del writes[:]
    out = []
    for _ in range(notifications):
        t0 = radio.now_ms
        n = len(delivered)
        switch.switch._drivers[0].press()
        radio.wake(SWITCH)
        radio.run_for(interval_ms)
        out.append(delivered[n] - t0 if len(delivered) > n else None)
    # every value the light took came the way this mode says: in c2c mode its app's
    # event lines say source=c2c; in server mode the server sent one Write per press
    got = len([x for x in out if x is not None])
    if mode == "c2c":
        sources = [ln.split(" ")[3] for ln in light.log.lines if ln.startswith("event light ")]
        bad = sources[-got:] != ["source=c2c"] * got if got else False
    else:
        sources = writes
        bad = len(writes) != got
    if bad:
        raise RuntimeError("unexpected light updates in %s mode: %r" % (mode, sources))
    return out


def percentile(values, p):
    """Nearest-rank percentile of the non-None values (None when there are none)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))        # ceil(n * p / 100), at least 1
    return v[int(k) - 1]


def write_csv(path, hops, mode, latencies):
    with open(path, "w") as f:
        f.write("hops,mode,seq,latency_ms\n")
        for i, v in enumerate(latencies):
            f.write("%d,%s,%d,%s\n" % (hops, mode, i, "" if v is None else v))


def experiment(hops_list, seed=1, notifications=10, interval_ms=INTERVAL_MS, out=None):
    """Every (hops, mode); returns {(hops, mode): [latency_ms, ...]}."""
    results = {}
    for h in hops_list:
        for mode in MODES:
            lat = run(h, mode, seed, notifications, interval_ms)
            results[(h, mode)] = lat
            if out:
                write_csv(os.path.join(out, "latency_seed%d_h%d_%s.csv" % (seed, h, mode)),
                          h, mode, lat)
    return results


def table(results):
    lines = ["hops  mode    n   lost  median_ms  p95_ms"]
    for (h, mode) in sorted(results):
        lat = results[(h, mode)]
        ok = [x for x in lat if x is not None]
        lines.append("%4d  %-6s %3d  %4d  %9s  %6s" % (
            h, mode, len(ok), len(lat) - len(ok), percentile(lat, 50), percentile(lat, 95)))
    return "\n".join(lines)


def _hops(text):
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main(argv=None):
    import argparse
    import time
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hops", default="1-5", help="e.g. 1-5 or 1,3")
    ap.add_argument("--notifications", type=int, default=20)
    ap.add_argument("--interval-ms", type=int, default=INTERVAL_MS)
    ap.add_argument("--out", default="build/paper")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    t = time.time()
    results = experiment(_hops(a.hops), a.seed, a.notifications, a.interval_ms, a.out)
    print(table(results))
    print("seed %d, %d notifications per run, backbone %d ms one way, Phy154() mesh; "
          "%.1f s; CSV in %s" % (a.seed, a.notifications, BACKBONE_MS, time.time() - t, a.out))


if __name__ == "__main__":
    main()
