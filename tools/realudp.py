"""The latency experiment of the paper reproduction (tools/sim/exp_latency.py)
with real processes over real UDP, beside the simulator's figures: does the
simulation agree with what the engines do in real time?

    python tools/realudp.py [--hops 1,3] [--presses N] [--period-ms MS]
                            [--seed S] [--loss P] [--json F]

For each hop count h and each mode, a fresh set of processes: the reference
server (tools/server, with /ac) in this process, a switch and a light on the
unix-port MicroPython (firmware/main.py) as subprocesses, all traffic through
the loopback NAT of tools/udpnat.py -- which holds every datagram for what the
simulator's network model gives its path (`PathModel`), delivering it from the
select() loop when due. Modes as in exp_latency: c2c -- the light follows the
switch directly (config "follow": 4.01 + hint -> /ac -> OSCORE observation);
server -- the server observes /3342/0/5500 of the switch and Writes every value
to /3311/0/5850 of the light (tools.sim.world.Forwarder, the simulator's own).
The switch is the unix board's simulated switch toggling every MS ms (as in
make demo); latency = the switch's `event switch` line -> the light's `event
light` line with that value (both time.time_ns()). The first toggle after the
mode is ready is not counted (a Write of the old value may still be under way).

Why not netem: `tc qdisc add ... netem` fails on this machine's kernel
("Specified qdisc kind is unknown": no sch_netem, no loadable modules), so the
delay and loss are put in by the user-space relay instead; see
docs/paper/realudp.md.

The path model (`PathModel`), from the scenario tools/sim/scenarios/latency.json
(the same parameters exp_latency uses, nothing hard-coded here): topology
"branches" -- switch and light each h 802.15.4 hops under the border router,
the server behind the backbone. A datagram between the two nodes crosses 2h
mesh hops; one between a node and the server h mesh hops and the backbone.
Each mesh hop costs what tools/sim/phy.Phy154.hop() draws for the datagram's
actual size (6LoWPAN fragments, CSMA/CA back-off, airtime, ACK; seeded
tools.sim.radio.Rng), waits for the one shared channel as tools.sim.world's
Channel does, and is rounded up to whole ms as tools/sim/radio.py does; the
backbone adds its delay_ms (and its loss). Not modelled: the sender queue limit
of 16 (one notification is in flight at a time).

Output: a table per (h, mode): real n/lost, median/p95, the simulator's
median/p95 for the same h (exp_latency.run_one in this process, the scenario's
own number of presses), and real minus simulated median -- the processes'
processing time, which the simulator counts as zero. Exit status 0 when every
(h, mode) delivered and C2C was faster than server-centric at every h.
"""
import heapq
import json
import os
import shutil
import signal
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]   # tools/coap.py
sys.path.insert(0, os.path.dirname(_HERE))                                  # is not coap
from tools.loopback import Hub, NodeProc, MICROPYTHON  # noqa: E402
from tools.udpnat import Nat  # noqa: E402
from tools.server.policy import Policy  # noqa: E402
from tools.sim import world, exp_latency  # noqa: E402
from tools.sim.phy import Phy154  # noqa: E402
from tools.sim.radio import Rng  # noqa: E402
from host_tests.cpython.procs import free_port  # noqa: E402

MODES = exp_latency.MODES                    # ("c2c", "server")
NEVER_MS = 3600000                           # the light's follow retry in server mode
# the datagrams that carry a press to the light, per mode
NOTIFY_PATHS = {"c2c": [("switch", "light")],
                "server": [("switch", "server"), ("server", "light")]}


class PathModel:
    """The simulator's one-way delay and loss of a datagram between two named
    ends ("switch", "light", "server") of the branches topology with `hops`
    mesh hops per side: a Nat(delay=) function, returning seconds or None
    (lost). `applied` records (src, dst, size, mesh_ms, hops, backbone_ms, t_us,
    wall ns, total ms) of every datagram it let through."""

    def __init__(self, scn, hops, seed=None):
        p = scn["phy"]
        self.phy = Phy154(loss=p["loss"], cca_busy=p["cca_busy"],
                          mac_overhead=p["mac_overhead"], ip_header=p["ip_header"],
                          max_retries=p["max_retries"])
        self.shared = p["shared_channel"]
        self.backbone_ms = scn["backbone"]["delay_ms"]
        self.backbone_loss = scn["backbone"]["loss"]
        self.hops = hops
        self.rng = Rng(scn["seed"] if seed is None else seed)
        self.busy = []              # reserved channel time: [(start_us, end_us)], sorted
        self.applied = []
        self.dropped = 0            # what the relay dropped (set by run_real)
        self.since = 0              # when the presses began (mark(), set by run_real)
        self.network = []           # per press: the delay it gave them (set by run_real)
        self.late = []              # ms the relay sent them after due (set by run_real)
        self._t0 = time.monotonic()

    def _now_us(self):
        return int((time.monotonic() - self._t0) * 1e6)

    def _mesh_hop(self, t_us, nbytes):
        """One mesh hop of a datagram ready at t_us: (delivered, µs to the next
        hop's start, rounded up to whole ms as the simulator's radio does)."""
        cost = self.phy.hop(nbytes, self.rng)
        start = t_us
        if self.shared:
            for s, e in self.busy:               # the first gap that fits
                if e <= start:
                    continue
                if s >= start + cost.delay_us:
                    break
                start = e
            self.busy.append((start, start + cost.delay_us))
            self.busy.sort()
        ms = (start + cost.delay_us - t_us + 999) // 1000
        return cost.delivered, ms * 1000

    def __call__(self, src, dst, data):
        now = self._now_us()
        self.busy = [b for b in self.busy if b[1] > now][-1000:]
        t, n = now, len(data)
        mesh = backbone = hops = 0
        legs = []
        if src != "server":
            legs += ["mesh"] * self.hops
        if "server" in (src, dst):
            legs.append("backbone")
        if dst != "server":
            legs += ["mesh"] * self.hops
        for leg in legs:
            if leg == "backbone":
                if self.rng.chance(self.backbone_loss):
                    return None
                t += int(self.backbone_ms * 1000)
                backbone += self.backbone_ms
                continue
            ok, us = self._mesh_hop(t, n)
            t += us
            if not ok:
                return None
            mesh += us / 1000.0
            hops += 1
        self.applied.append((src, dst, n, mesh, hops, backbone, now, time.time_ns(),
                             (t - now) / 1000.0))
        return (t - now) / 1e6

    def network_ms(self, paths, start_ns, end_ns):
        """The delay (ms) it gave the datagrams that carried one press: the first
        datagram on each of `paths`, in order, between wall ns start and end."""
        total, at = 0.0, start_ns
        for path in paths:
            got = next((a for a in self.applied
                        if (a[0], a[1]) == path and at <= a[7] <= end_ns), None)
            if got is None:
                return None
            total += got[8]
            at = got[7]
        return total

    def mark(self):
        """A time for per_hop_ms(since=)."""
        return self._now_us()

    def sizes(self, paths=None, since=0):
        """The sizes (bytes) of the datagrams it passed on [on paths] from `since` on."""
        return sorted(set(n for s, d, n, _, _, _, t, _, _ in self.applied
                          if t >= since and (paths is None or (s, d) in paths)))

    def per_hop_ms(self, paths=None, since=0):
        """Mean mesh cost per hop (ms) of the datagrams it passed on [from src to
        dst, for (src, dst) in paths] from `since` (mark()) on."""
        got = [(m, h) for s, d, _, m, h, _, t, _, _ in self.applied
               if h and t >= since and (paths is None or (s, d) in paths)]
        return sum(m for m, _ in got) / sum(h for _, h in got) if got else None


def node_config(name, mode, period_ms, switch_uri, scn):
    """--config of a node (as tools/demo.py's, lifetime as the scenario's)."""
    none = {"temperature": [], "switch": None, "light": None, "lifetime": scn["lifetime_s"]}
    f = scn["follow"]
    if name == "switch":
        return dict(none, switch={"kind": "sim", "period_ms": period_ms},
                    c2c={"allow_nosec": False})
    # in server mode the light has "follow" too (its `event light` lines need it),
    # the policy denies it, and it would try again only after an hour
    return dict(none, light={"kind": "sim"},
                follow={"endpoint": "switch", "path": f["path"], "target": f["target"],
                        "address": switch_uri,
                        "retry_ms": f["retry_ms"] if mode == "c2c" else NEVER_MS})


def follows(toggles, lights, end_ns):
    """[ms or None] per toggle: to the first light event with its value
    after it, before the next toggle."""
    out = []
    for i, s in enumerate(toggles):
        nxt = toggles[i + 1]["t_ns"] if i + 1 < len(toggles) else end_ns
        e = next((e for e in lights if s["t_ns"] <= e["t_ns"] < nxt
                  and e["value"] == s["value"]), None)
        out.append(None if e is None else (e["t_ns"] - s["t_ns"]) / 1e6)
    return out


class TimedNat(Nat):
    """A delaying Nat that also notes how late (ms) each held datagram went out
    after it was due: the relay's own share of the processing time."""

    def __init__(self, *args, **kw):
        Nat.__init__(self, *args, **kw)
        self.late = []              # (src, dst, wall ns sent, ms late)

    def flush(self):
        now = time.monotonic()
        while self._held and self._held[0][0] <= now:
            due, _, sock, dst, data, src_name, dst_name = heapq.heappop(self._held)
            self._send(sock, dst, data, src_name, dst_name)
            self.late.append((src_name, dst_name, time.time_ns(),
                              (time.monotonic() - due) * 1000))

    def late_ms(self, paths, since_ns):
        return [x for s, d, t, x in self.late if (s, d) in paths and t >= since_ns]


class Failed(Exception):
    """A set-up step did not happen in time; the message says which."""


def run_real(scn, hops, mode, presses, period_ms, seed=None, log=None):
    """Latencies (ms, None: not followed before the next toggle) of `presses`
    toggles, real processes, relay delays from PathModel; and the model."""
    log = log or (lambda text: None)
    tmp = tempfile.mkdtemp(prefix="lwm2m-realudp-")
    f = scn["follow"]
    host_path = "/" + "/".join(f["path"].split("/")[1:3])
    rules = [{"requester": "light", "host": "switch", "allow": {host_path: "R"}}]
    hub = Hub.start(policy=Policy.from_data({"rules": rules if mode == "c2c" else []}))
    model = PathModel(scn, hops, seed)
    nat = hub.add(TimedNat(hub.address, delay=model))
    nodes = {}
    server = hub.server
    try:
        def start(name):
            port = free_port()
            nat.add(name, ("127.0.0.1", port))
            _, spec = hub.oscore_client()
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as fh:
                json.dump(node_config(name, mode, period_ms, nat.uri("switch"), scn), fh)
            nodes[name] = NodeProc(name, nat.server_uri(), spec, path, os.path.join(tmp, name),
                                   ["--bind", "127.0.0.1:%d" % port])

        def wait(what, until):
            # a set-up step may take the scenario's warmup_ms (30 s), what the
            # simulator allows registration + authorization
            if not hub.run(until, scn["warmup_ms"]):
                lines = [ln for n in nodes.values() for ln in n.lines[-4:]]
                raise Failed("%d hop(s), %s: %s not within %d ms (the relay passed %d "
                             "datagrams, dropped %d); last lines: %s"
                             % (hops, mode, what, scn["warmup_ms"], len(model.applied),
                                nat.dropped, lines))
        t0 = time.monotonic()
        start("switch")
        wait("switch registered", lambda: server.registry.by_endpoint("switch"))
        start("light")
        light, switch = nodes["light"], nodes["switch"]
        wait("light registered", lambda: server.registry.by_endpoint("light"))
        if mode == "c2c":
            wait("light observing the switch", lambda: light.events("c2c-observing"))
        else:
            wait("light's follow denied", lambda: light.events("c2c-end"))
            fw = world.Forwarder(server, "switch", "light", f["path"], f["target"])
            wait("server observing the switch", lambda: fw.active)
        log("  %d hop(s), %-6s ready in %.1f s" % (hops, mode, time.monotonic() - t0))
        ready = time.time_ns()
        model.since = model.mark()

        def toggles():
            return switch.events("switch", ready)[1:presses + 1]

        def done():
            got = toggles()
            return len(got) == presses and switch.events("switch", got[-1]["t_ns"] + 1)
        hub.run(done, (presses + 3) * period_ms + 10000)
        got = toggles()
        source = "c2c" if mode == "c2c" else "write"
        end = switch.events("switch", got[-1]["t_ns"] + 1) if got else []
        lat = follows(got, light.events("light", ready, source=source),
                      end[0]["t_ns"] if end else time.time_ns())
        model.network = [None if ms is None else model.network_ms(
            NOTIFY_PATHS[mode], s["t_ns"], s["t_ns"] + int(ms * 1e6)) for s, ms in zip(got, lat)]
        lat += [None] * (presses - len(lat))
        model.dropped = nat.dropped
        model.late = nat.late_ms(NOTIFY_PATHS[mode], ready)
        return lat, model
    finally:
        for node in nodes.values():
            if node.alive():
                node.proc.send_signal(signal.SIGINT)
        hub.run(lambda: not any(n.alive() for n in nodes.values()), 5000)
        for node in nodes.values():
            node.stop()
        hub.close()
        shutil.rmtree(tmp, ignore_errors=True)


def simulated(scn, hops, mode):
    """exp_latency's latencies (virtual ms) for the same h and mode."""
    return exp_latency.run_one(scn, hops, mode)


def scenario(seed=None, loss=None):
    """exp_latency's scenario, with a seed / per-attempt 802.15.4 loss if given."""
    over = {}
    if seed is not None:
        over["seed"] = seed
    if loss is not None:
        over["phy"] = {"loss": loss}
    return world.load_scenario(exp_latency.SCENARIO, **over)


def compare(hops_list, presses, period_ms, seed=None, loss=None, log=print):
    """Rows {hops, mode, real: [...], sim: [...], ...}, real and simulated."""
    scn = scenario(seed, loss)
    rows = []
    for h in hops_list:
        for mode in MODES:
            real, model = run_real(scn, h, mode, presses, period_ms, log=log)
            sim = simulated(scn, h, mode)
            row = {"hops": h, "mode": mode, "real": real, "sim": sim,
                   "real_n": sum(x is not None for x in real),
                   "real_lost": sum(x is None for x in real),
                   "real_median_ms": world.percentile(real, 50),
                   "real_p95_ms": world.percentile(real, 95),
                   "sim_n": sum(x is not None for x in sim),
                   "sim_median_ms": world.percentile(sim, 50),
                   "sim_p95_ms": world.percentile(sim, 95),
                   "relay_per_hop_ms": model.per_hop_ms(NOTIFY_PATHS[mode], model.since),
                   "relay_ms": model.network,
                   "relay_median_ms": world.percentile(model.network, 50),
                   "relay_late_median_ms": world.percentile(model.late, 50),
                   "relay_late_max_ms": max(model.late) if model.late else None,
                   "processing_median_ms": world.percentile(
                       [r - n for r, n in zip(real, model.network)
                        if r is not None and n is not None], 50),
                   "relay_dropped": model.dropped,
                   "notify_bytes": model.sizes(NOTIFY_PATHS[mode], model.since)}
            if row["real_median_ms"] is not None and row["sim_median_ms"] is not None:
                row["diff_ms"] = row["real_median_ms"] - row["sim_median_ms"]
            else:
                row["diff_ms"] = None
            rows.append(row)
    return scn, rows


def _f(v, fmt="%.1f"):
    return "-" if v is None else fmt % v


def table(rows):
    """The rows as text: real, simulated, their difference; the relay's own share
    (its delay on the same presses) and what is left, the processing."""
    lines = ["hops  mode    real n/lost  real median  real p95  sim median  sim p95  "
             "real - sim  relay median  processing  ms/hop"]
    for r in rows:
        lines.append("%4d  %-6s  %6d/%-4d  %11s  %8s  %10s  %7s  %10s  %12s  %10s  %6s" % (
            r["hops"], r["mode"], r["real_n"], r["real_lost"], _f(r["real_median_ms"]),
            _f(r["real_p95_ms"]), _f(r["sim_median_ms"], "%d"), _f(r["sim_p95_ms"], "%d"),
            _f(r["diff_ms"], "%+.1f"), _f(r["relay_median_ms"]),
            _f(r["processing_median_ms"], "%.2f"), _f(r["relay_per_hop_ms"], "%.2f")))
    return "\n".join(lines)


def verdict(rows):
    """(ok, [lines]): every (h, mode) delivered; C2C faster than server-centric."""
    out, ok = [], True
    for h in sorted(set(r["hops"] for r in rows)):
        by = dict((r["mode"], r) for r in rows if r["hops"] == h)
        c, s = by["c2c"]["real_median_ms"], by["server"]["real_median_ms"]
        if c is None or s is None:
            ok = False
            out.append("%d hop(s): a mode delivered nothing" % h)
            continue
        ok = ok and c < s
        out.append("%d hop(s): C2C %.1f ms vs server-centric %.1f ms real (%d%% faster), "
                   "%s vs %s ms simulated" % (h, c, s, round(100 * (1 - c / s)),
                                              _f(by["c2c"]["sim_median_ms"], "%d"),
                                              _f(by["server"]["sim_median_ms"], "%d")))
    for m in MODES:
        d = [(r["hops"], r["diff_ms"], r["processing_median_ms"]) for r in rows
             if r["mode"] == m and r["diff_ms"] is not None]
        if d:
            out.append("%s: real - simulated median %s ms; real - the relay's delay on the "
                       "same presses (processing) %s ms" % (
                           m, ", ".join("%+.1f (%d hop%s)" % (x, h, "" if h == 1 else "s")
                                        for h, x, _ in d),
                           ", ".join(_f(p, "%.2f") for _, _, p in d)))
    late = [r["relay_late_median_ms"] for r in rows if r["relay_late_median_ms"] is not None]
    out.append("processing: the nodes' and the server's (CoAP, OSCORE, the follow app or "
               "the Forwarder) and the relay's loop (it sent held datagrams %s ms late, "
               "median per run); the simulator counts it as zero"
               % "/".join("%.2f" % x for x in late))
    return ok, out


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hops", default="1,3", help="hop counts, comma-separated (1..30)")
    ap.add_argument("--presses", type=int, default=10, help="toggles per (hops, mode)")
    ap.add_argument("--period-ms", type=int, default=300,
                    help="time between toggles; with --loss use the simulator's 2000 (a "
                    "press not followed before the next one counts as lost)")
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's")
    ap.add_argument("--loss", type=float, default=None,
                    help="802.15.4 per-attempt loss (both real and simulated)")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    a = ap.parse_args(argv)
    try:
        hops = [int(x) for x in a.hops.split(",")]
    except ValueError:
        ap.error("--hops: comma-separated integers")
    if not all(1 <= h <= 30 for h in hops) or not 1 <= a.presses <= 1000 \
            or not 50 <= a.period_ms <= 60000 or not (a.loss is None or 0 <= a.loss <= 1):
        ap.error("--hops 1..30, --presses 1..1000, --period-ms 50..60000, --loss 0..1")
    if not os.path.exists(MICROPYTHON):
        sys.stderr.write("realudp: no unix-port MicroPython at %s (make setup)\n" % MICROPYTHON)
        return 2
    t = time.time()
    print("realudp: exp_latency over real UDP -- tools/server in this process, two "
          "unix-port nodes, relay delays from the simulator's model")
    try:
        scn, rows = compare(hops, a.presses, a.period_ms, a.seed, a.loss)
    except Failed as e:
        print("FAILED: %s" % e)
        return 1
    print(table(rows))
    ok, lines = verdict(rows)
    for line in lines:
        print(line)
    print("seed %d, %d presses every %d ms per (hops, mode), simulator: %d presses; %.1f s"
          % (scn["seed"], a.presses, a.period_ms, scn["experiment"]["notifications"],
             time.time() - t))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"seed": scn["seed"], "presses": a.presses, "period_ms": a.period_ms,
                       "loss": scn["phy"]["loss"], "rows": rows}, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
