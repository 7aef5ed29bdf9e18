"""Scenario builder shared by the experiments of the paper reproduction (issue 7):
a scenario dict -> the fake radio, a topology, the reference server (tools/server:
Server + Authz /ac + RadioDriver) and the unmodified firmware nodes
(firmware/node.py + firmware/apps.py through host_tests/support/simnode.py).

    scn = load_scenario("tools/sim/scenarios/latency.json", seed=2, topology={"hops": 3})
    with World(scn) as w:               # builds everything, nodes start registering
        w.settle()                      # registered; c2c: observing; server: forwarding
        n = w.press("switch")           # the host's switch toggles (update number n)
        w.run_for(500)
        w.deliveries["light"]           # [(t_ms, value), ...] the light took
        w.datagrams()                   # {host: datagrams its CoAP endpoint sent}
        w.radio.total.frames, w.phy.counters()

Scenario (JSON; `load_scenario` merges a file over DEFAULTS, then keyword overrides
over that, nested dicts key by key; unknown keys, wrong types and values out of
range raise ScenarioError with a one-line message). A "doc" key anywhere is ignored
(documentation). Keys:
  seed          PRNG seed of the radio, the key material, the server and the nodes.
  mode          "c2c": each requester follows its host directly (config "follow":
                4.01 + hint -> POST /ac -> OSCORE observation); "server": the
                server-centric baseline, the server observes the host and Writes every
                value to the requester (`Forwarder`).
  topology      kind "branches": hosts "switch" and "light", each `hops` mesh hops
                under the border router "br" on its own branch; kind "tree": `nodes`
                nodes n1..nN in a seeded random tree under "br" (each joins a random
                earlier node or br with < max_children children and depth <
                max_depth), `pairs` (host, requester) pairs drawn among them, the
                rest plain nodes (register only).
  backbone      delay_ms / loss of the wired link br <-> srv (one way).
  phy           tools/sim/phy.Phy154 parameters of every mesh hop (one model, so its
                counters cover the whole mesh): loss, cca_busy, mac_overhead,
                ip_header, max_retries; shared_channel: every mesh hop on one channel
                (`Channel`: nodes in mutual radio range, as on a testbed floor);
                queue: datagrams a sender holds waiting for the channel.
  lifetime_s    registration lifetime of every node (Update every ~lifetime).
  dedup_size    requests a node remembers for duplicate detection (config
                "dedup_size"); null: the firmware's default for the board (128 on
                the unix port the simulated board is, 32 on MCU boards).
  follow        path (host resource observed), target (requester resource written),
                retry_ms (follow app back-off).
  warmup_ms     most virtual time settle() waits.
  experiment    free-form: the experiment module's own parameters.

Counters: `datagrams()` is what each engine's CoAP endpoint sent (coap.endpoint
Endpoint.sent), `radio.host_stats(h).sent` what the radio saw each host originate;
the two must agree (the simulator adds no traffic). Frames: `radio.total.frames`
(every hop), `phy.counters()` (802.15.4 transmissions incl. retries, ACKs),
`channel.dropped` (datagrams a full sender queue refused), `frames()` per host.

For experiment modules (tools/sim/exp_*.py): `param()` / `ints()` check their
experiment keys (ScenarioError), `percentile()`, `write_csv()`, `table_text()`,
and `cli(module)`, the command line they share.
"""
import json
import os
import shutil
import sys
import tempfile
from collections import deque

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("tools/shims", "lib", ""):
    _p = os.path.join(_ROOT, _sub) if _sub else _ROOT
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tools.sim.radio import Radio, Rng  # noqa: E402
from tools.sim.phy import Phy154, Hop  # noqa: E402

SCENARIOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")
PORT = 5683
SRV = ("srv", PORT)

DEFAULTS = {
    "seed": 1,
    "mode": "c2c",
    "topology": {"kind": "branches", "hops": 1, "nodes": 10, "pairs": 1,
                 "max_children": 4, "max_depth": 5},
    "backbone": {"delay_ms": 40, "loss": 0.0},
    "phy": {"loss": 0.0, "cca_busy": 0.0, "mac_overhead": 11, "ip_header": 13,
            "max_retries": 3, "shared_channel": True, "queue": 16},
    "lifetime_s": 3600,
    "dedup_size": None,
    "follow": {"path": "/3342/0/5500", "target": "/3311/0/5850", "retry_ms": 2000},
    "warmup_ms": 30000,
    "experiment": {},
}
# (key path, type, low, high); strings list their choices instead of a range
_CHECKS = (
    (("seed",), int, 0, 2 ** 31), (("mode",), str, ("c2c", "server")),
    (("topology", "kind"), str, ("branches", "tree")),
    (("topology", "hops"), int, 1, 30), (("topology", "nodes"), int, 2, 2000),
    (("topology", "pairs"), int, 0, 1000), (("topology", "max_children"), int, 1, 64),
    (("topology", "max_depth"), int, 1, 30),
    (("backbone", "delay_ms"), (int, float), 0, 10000), (("backbone", "loss"), (int, float), 0, 1),
    (("phy", "loss"), (int, float), 0, 1), (("phy", "cca_busy"), (int, float), 0, 1),
    (("phy", "mac_overhead"), int, 5, 40), (("phy", "ip_header"), int, 0, 60),
    (("phy", "max_retries"), int, 0, 7), (("phy", "shared_channel"), bool, None),
    (("phy", "queue"), int, 1, 1024), (("lifetime_s",), int, 60, 86400 * 365),
    (("dedup_size",), (int, type(None)), 1, 4096),
    (("follow", "path"), str, None), (("follow", "target"), str, None),
    (("follow", "retry_ms"), int, 100, 600000), (("warmup_ms",), int, 1000, 3600000),
)


_KINDS = {int: "an integer", str: "a string", bool: "true or false", (int, float): "a number",
          (int, type(None)): "an integer or null"}


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is one line."""


def _merge(base, over, where, strict):
    out = dict(base)
    for k, v in over.items():
        if k == "doc":
            continue
        if strict and k not in base:
            raise ScenarioError("%s: unknown key %r" % (where, k))
        if isinstance(base.get(k), dict) and k != "experiment":
            if not isinstance(v, dict):
                raise ScenarioError("%s: %r must be an object" % (where, k))
            out[k] = _merge(base[k], v, "%s.%s" % (where, k), True)
        elif k == "experiment":
            if not isinstance(v, dict):
                raise ScenarioError("%s: 'experiment' must be an object" % where)
            out[k] = dict(base.get(k, {}))
            out[k].update((a, b) for a, b in v.items() if a != "doc")
        else:
            out[k] = v
    return out


def check(scn, where="scenario"):
    """Raise ScenarioError unless every known key has a usable value; returns scn."""
    for check_ in _CHECKS:
        keys, typ = check_[0], check_[1]
        v = scn
        for k in keys:
            v = v[k]
        name = "%s: %s" % (where, ".".join(keys))
        if (typ is bool) != isinstance(v, bool) or not isinstance(v, typ):
            raise ScenarioError("%s = %r is not %s" % (name, v, _KINDS[typ]))
        if typ is bool or v is None:
            continue
        if typ is str:
            if check_[2] is not None and v not in check_[2]:
                raise ScenarioError("%s = %r is not one of %s" % (name, v, ", ".join(check_[2])))
        elif not check_[2] <= v <= check_[3]:
            raise ScenarioError("%s = %r is out of %s..%s" % (name, v, check_[2], check_[3]))
    t = scn["topology"]
    if t["kind"] == "tree" and 2 * t["pairs"] > t["nodes"]:
        raise ScenarioError("%s: topology.pairs = %d needs %d nodes, has %d"
                            % (where, t["pairs"], 2 * t["pairs"], t["nodes"]))
    return scn


def load_scenario(path, **overrides):
    """DEFAULTS <- the JSON file at `path` (None: none) <- overrides; checked."""
    data = {}
    where = "scenario"
    if path is not None:
        where = os.path.basename(path)
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise ScenarioError("%s: cannot read: %s" % (where, e.strerror or e))
        except ValueError as e:
            raise ScenarioError("%s: not JSON: %s" % (where, str(e).splitlines()[0]))
        if not isinstance(data, dict):
            raise ScenarioError("%s: not a JSON object" % where)
    scn = _merge(DEFAULTS, data, where, True)
    return check(_merge(scn, overrides, where, True), where)


def rng_bytes(rng):
    """A seeded stand-in for os.urandom drawing from `rng` (tools.sim.radio.Rng)."""
    return lambda n: bytes(rng.next() & 0xFF for _ in range(n))


def tree(rng, n, max_children, max_depth, border="br"):
    """{node: parent} of n nodes n1..nN in a random tree under `border`."""
    depth = {border: 0}
    kids = {border: 0}
    parent = {}
    for i in range(1, n + 1):
        open_ = [h for h in depth if depth[h] < max_depth and kids[h] < max_children]
        if not open_:
            raise ScenarioError("topology: %d nodes do not fit max_children %d, max_depth %d"
                                % (n, max_children, max_depth))
        p = open_[rng.upto(len(open_) - 1)]
        name = "n%d" % i
        parent[name] = p
        depth[name] = depth[p] + 1
        kids[name] = 0
        kids[p] += 1
    return parent


def _objects():
    """The server's ObjectTable (OMA XML), parsed once per process."""
    global _TABLE
    if _TABLE is None:
        from tools.server.objects import ObjectTable
        _TABLE = ObjectTable.load()
    return _TABLE


_TABLE = None


class Channel:
    """One 802.15.4 channel shared by every mesh hop: a datagram goes on the air
    when the channel is free (CSMA/CA defers while another frame is on it; the
    model has no collisions), then takes what `phy.hop()` says (back-offs,
    fragments, retries, ACKs). A sender holds at most `queue` datagrams waiting;
    one more is dropped (`dropped`), as RIOT's network interface queue does
    (CONFIG_GNRC_NETIF_PKTQ_POOL_SIZE, 16). `sender(tx)` is what Radio.link(phy=)
    takes for the direction that `tx` transmits on. Without sharing (`shared`
    False) each hop costs only its own phy.hop(), with no waiting."""

    def __init__(self, phy, clock, queue=16, shared=True):
        self.phy = phy
        self.clock = clock
        self.queue = queue
        self.shared = shared
        self.busy_us = 0
        self.dropped = 0
        self._waiting = {}          # tx host -> start times (µs) of its queued datagrams

    def sender(self, tx):
        return _Sender(self, tx) if self.shared else self.phy

    def hop(self, tx, nbytes, rng):
        now = self.clock() * 1000
        q = self._waiting.setdefault(tx, deque())
        while q and q[0] <= now:
            q.popleft()
        if len(q) >= self.queue:
            self.dropped += 1
            return Hop(False, 0, 0, 0)
        start = max(now, self.busy_us)
        cost = self.phy.hop(nbytes, rng)
        self.busy_us = start + cost.delay_us
        if start > now:
            q.append(start)
        return Hop(cost.delivered, self.busy_us - now, cost.frames, cost.transmissions)


class _Sender:
    def __init__(self, channel, tx):
        self.channel = channel
        self.tx = tx

    def hop(self, nbytes, rng):
        return self.channel.hop(self.tx, nbytes, rng)


class Forwarder:
    """Server-centric relay (the published baseline): the server observes `path` of
    the host and Writes every value it gets to `target` of the requester."""

    def __init__(self, server, host, requester, path, target):
        from tools.server.operations import Device
        from coap.numbers import TEXT_PLAIN
        self.server = server
        self.requester = Device(server, requester)
        self.target = target
        self.writes = 0             # Writes started
        string = server.objects.type_name(tuple(int(x) for x in target.split("/")[1:]))
        self.convert = str if string == "String" else (lambda v: v)
        self.obs = Device(server, host).observe(path, on_notify=self._relay, accept=TEXT_PLAIN,
                                                callback=self._relay)

    @property
    def active(self):
        return self.obs.done and self.obs.active

    def _relay(self, result):
        if result.ok and result.value is not None:
            self.writes += 1
            self.requester.write(self.target, self.convert(result.value))


class World:
    """Everything a scenario describes, running on one Radio; see the module doc.

    radio, phy (the Phy154 of every mesh hop), channel, server, authz,
    nodes {name: firmware Node}, apps {name: App or None}, names (the nodes),
    hosts / requesters (lists: pair i is hosts[i], requesters[i]),
    parent {mesh host: its parent towards br}, forwarders (server mode),
    deliveries {requester: [(t_ms, value)]}."""

    def __init__(self, scenario, state_dir=None):
        self.scn = scn = scenario
        self.mode = scn["mode"]
        self._tmp = None
        if state_dir is None:
            state_dir = self._tmp = tempfile.mkdtemp(prefix="sim-world-")
        self.state_dir = state_dir
        seed = scn["seed"]
        self.radio = Radio(seed=seed, log=False)
        p = scn["phy"]
        self.phy = Phy154(loss=p["loss"], cca_busy=p["cca_busy"], mac_overhead=p["mac_overhead"],
                          ip_header=p["ip_header"], max_retries=p["max_retries"])
        self.channel = Channel(self.phy, lambda: self.radio.now_ms, p["queue"],
                               p["shared_channel"])
        self.parent, self.hosts, self.requesters = self._topology(Rng(seed + 7))
        self.names = [n for n in sorted(self.parent, key=_order)
                      if scn["topology"]["kind"] == "tree" or n in ("switch", "light")]
        self._keys = rng_bytes(Rng(seed + 2000))
        self._build_server(seed)
        self.nodes, self.apps, self.deliveries, self.forwarders = {}, {}, {}, []
        self._presses = {}
        for name in self.names:
            self._start_node(name, Rng(seed * 7919 + _order(name)))

    # -- construction ----------------------------------------------------------------
    def _topology(self, rng):
        t = self.scn["topology"]
        r = self.radio
        b = self.scn["backbone"]
        r.link("br", "srv", delay_ms=b["delay_ms"], loss=b["loss"])
        if t["kind"] == "branches":
            h = t["hops"]
            left = ["switch"] + ["s%d" % i for i in range(h - 1, 0, -1)] + ["br"]
            right = ["br"] + ["l%d" % i for i in range(1, h)] + ["light"]
            parent = {}
            for chain in (left[::-1], right):
                for up, down in zip(chain, chain[1:]):
                    parent[down] = up
            for node, up in parent.items():
                self._mesh(up, node)
            return parent, ["switch"], ["light"]
        parent = tree(rng, t["nodes"], t["max_children"], t["max_depth"])
        for node in sorted(parent, key=_order):
            self._mesh(parent[node], node)
        names = sorted(parent, key=_order)
        for i in range(len(names) - 1, 0, -1):        # Fisher-Yates, seeded
            j = rng.upto(i)
            names[i], names[j] = names[j], names[i]
        k = t["pairs"]
        return parent, names[0:2 * k:2], names[1:2 * k:2]

    def _mesh(self, a, b):
        """An 802.15.4 hop a <-> b on the channel."""
        self.radio.link(a, b, phy=self.channel.sender(a), symmetric=False)
        self.radio.link(b, a, phy=self.channel.sender(b), symmetric=False)

    def _build_server(self, seed):
        from tools.server.server import Server
        from tools.server.driver import RadioDriver
        from tools.server.authz import Authz
        from tools.server.policy import Policy
        srv = Server(None, objects=_objects(), rand=rng_bytes(Rng(seed + 1000)))
        srv.endpoint.transport = self.radio.attach(SRV, srv)
        RadioDriver(srv, self.radio, SRV)
        srv.enable_oscore([], rand=rng_bytes(Rng(seed + 1001)))
        host_path = "/" + "/".join(self.scn["follow"]["path"].split("/")[1:3])
        rules = [{"requester": q, "host": h, "allow": {host_path: "R"}}
                 for h, q in zip(self.hosts, self.requesters)]
        self.server = srv
        self.authz = Authz(srv, Policy.from_data({"rules": rules}),
                           rand=rng_bytes(Rng(seed + 1002)))

    def _oscore(self, index):
        """A fresh seeded OSCORE context between node number `index` and the server:
        the server's side added there, the node's returned as a --oscore spec."""
        from oscore.context import SecurityContext
        secret, salt = self._keys(16), self._keys(8)
        node_id, srv_id = b"\x10" + index.to_bytes(2, "big"), b"\x20" + index.to_bytes(2, "big")
        self.server.secure.add(SecurityContext(secret, srv_id, node_id, salt))
        return ":".join(x.hex() for x in (secret, salt, node_id, srv_id))

    def _start_node(self, name, rng):
        from host_tests.support import simnode
        from config import from_dict
        import apps
        data = {"endpoint": name, "temperature": [], "switch": None, "light": None,
                "lifetime": self.scn["lifetime_s"], "dedup_size": self.scn["dedup_size"],
                "servers": [{"uri": "coap://srv:%d" % PORT, "oscore": self._oscore(_order(name))}]}
        f = self.scn["follow"]
        if name in self.hosts:
            data.update({"switch": {"kind": "sim", "period_ms": 0}, "c2c": True})
        if name in self.requesters:
            host = self.hosts[self.requesters.index(name)]
            data.update({"light": {"kind": "sim"}, "c2c": True})
            if self.mode == "c2c":
                data["follow"] = {"endpoint": host, "path": f["path"], "target": f["target"],
                                  "address": "coap://%s:%d" % (host, PORT),
                                  "retry_ms": f["retry_ms"]}
        cfg = from_dict(data)
        d = os.path.join(self.state_dir, name)
        node, stepper = simnode.start(self.radio, (name, PORT), cfg, cfg["board_config"], d)
        # the board's random source: seeded, as a board's hardware RNG would be per device
        node.engine._rand = node.engine.endpoint._rand = rng_bytes(rng)
        self.nodes[name] = node
        self.apps[name] = apps.install(node, cfg, node.log)
        if name in self.requesters:
            self.deliveries[name] = []
            stepper.after = self._watcher(name, node)

    def _watcher(self, name, node):
        """After every step of a requester: record a new value of its target."""
        oid, iid, rid = (int(x) for x in self.scn["follow"]["target"].split("/")[1:])
        obj = node.engine.model.get(oid)
        box = [obj.get(iid, rid)]
        log = self.deliveries[name]

        def after():
            v = obj.get(iid, rid)
            if v != box[0]:
                box[0] = v
                log.append((self.radio.now_ms, v))
        return after

    # -- running ---------------------------------------------------------------------
    def run_for(self, ms):
        self.radio.run_for(ms)

    def registered(self):
        return all(self.server.registry.by_endpoint(n) is not None for n in self.nodes)

    def ready(self):
        """Every node registered, and every pair relaying: the requester observing
        its host (c2c) or the server's observation of the host answered (server)."""
        if not self.registered():
            return False
        if self.mode == "c2c":
            return all(self.apps[q].live for q in self.requesters)
        if not self.forwarders:
            f = self.scn["follow"]
            self.forwarders = [Forwarder(self.server, h, q, f["path"], f["target"])
                               for h, q in zip(self.hosts, self.requesters)]
        return all(fw.active for fw in self.forwarders)

    def settle(self, step_ms=100):
        """Run until ready() (checked every step_ms); RuntimeError after warmup_ms."""
        end = self.radio.now_ms + self.scn["warmup_ms"]
        while not self.ready():
            if self.radio.now_ms >= end:
                raise RuntimeError("not ready after %d ms: %d of %d registered" % (
                    self.scn["warmup_ms"], sum(self.server.registry.by_endpoint(n) is not None
                                               for n in self.nodes), len(self.nodes)))
            self.radio.run_for(step_ms)
        return self.radio.now_ms

    def check_sources(self):
        """RuntimeError unless every value a requester took came the way the mode
        says: its follow app (event lines source=c2c) in c2c mode, the server's
        Writes (source=write, no more than the Forwarder sent) in server mode."""
        want = "source=c2c" if self.mode == "c2c" else "source=write"
        for i, q in enumerate(self.requesters):
            src = [ln.split(" ")[3] for ln in self.nodes[q].log.lines
                   if ln.startswith("event light ")]
            bad = [x for x in src if x != want]
            if self.mode == "server" and len(src) > self.forwarders[i].writes:
                bad.append("%d updates, %d Writes" % (len(src), self.forwarders[i].writes))
            if bad:
                raise RuntimeError("%s took values not by %s: %r" % (q, want, bad[:3]))

    def press(self, host):
        """Toggle the host's switch now (its app polls when woken); the number of this
        press, which is also the Digital Input Counter (3342/0/5501) it produces."""
        node = self.nodes[host]
        node.switch._drivers[0].press()
        self.radio.wake((host, PORT))
        self._presses[host] = self._presses.get(host, 0) + 1
        return self._presses[host]

    # -- counters ----------------------------------------------------------------------
    def datagrams(self):
        """{host: datagrams its engine's CoAP endpoint sent}, "srv" included."""
        out = dict((n, node.engine.endpoint.sent) for n, node in self.nodes.items())
        out["srv"] = self.server.endpoint.sent
        return out

    def radio_sent(self):
        """{host: datagrams the radio saw it originate}, for the same hosts."""
        return dict((h, self.radio.host_stats(h).sent) for h in self.datagrams())

    def frames(self):
        """{host: frames it put on the air, forwarded ones included}, every host
        (relays, "br" and "srv" too; "br" and "srv" count their backbone frames)."""
        return dict((h, self.radio.host_stats(h).frames)
                    for h in ["srv", "br"] + sorted(self.parent, key=_order))

    def hops(self, name):
        """Mesh hops between a node and the border router."""
        n = 0
        while name != "br":
            name = self.parent[name]
            n += 1
        return n

    # -- lifetime ----------------------------------------------------------------------
    def close(self):
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _order(name):
    """Index of a node name (key material, seeds, order): n12 -> 12; switch 1,
    light 2; relays s<i> 100+i, l<i> 200+i."""
    if name in ("switch", "light"):
        return 1 if name == "switch" else 2
    base = {"n": 0, "s": 100, "l": 200}[name[0]]
    return base + int(name[1:])


def param(scn, key, ok, what):
    """scn["experiment"][key], or ScenarioError "experiment.<key> = V is not <what>"."""
    v = scn["experiment"].get(key)
    try:
        good = v is not None and ok(v)
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ScenarioError("experiment.%s = %r is not %s" % (key, v, what))
    return v


def ints(low, high):
    """A check for param(): a non-empty list of ints in low..high."""
    return lambda v: (isinstance(v, list) and v and all(
        isinstance(x, int) and not isinstance(x, bool) and low <= x <= high for x in v))


def percentile(values, p):
    """Nearest-rank percentile of the non-None values (None when there are none)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = max(1, -(-len(v) * p // 100))        # ceil(n * p / 100), at least 1
    return v[int(k) - 1]


def table_text(table):
    """An experiment's {"columns", "rows"} as aligned text."""
    rows = [table["columns"]] + [["" if c is None else c for c in r] for r in table["rows"]]
    cells = [["%.3g" % c if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def write_csv(path, columns, rows):
    with open(path, "w") as f:
        f.write(",".join(columns) + "\n")
        for r in rows:
            f.write(",".join("" if c is None else str(c) for c in r) + "\n")


def figure(width, height):
    """A figure of two plots side by side, (fig, (left, right)), on matplotlib's
    Agg backend (no display; matplotlib is imported only when plotting)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(1, 2, figsize=(width, height))


def save_figure(fig, path, rect=(0, 0, 1, 1)):
    """Lay `fig` out within `rect`, write it as a PNG (110 dpi) and free it."""
    import matplotlib.pyplot as plt
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cli(module, argv=None):
    """The command line of an experiment module (NAME, SCENARIO, run):
    [--scenario FILE] [--seed N] [--out DIR]; a bad scenario is one line, exit 2."""
    import argparse
    import time
    ap = argparse.ArgumentParser(prog="python -m tools.sim.exp_" + module.NAME,
                                 description=module.__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=module.SCENARIO)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=None, help="write <out>/%s.csv and .png" % module.NAME)
    a = ap.parse_args(argv)
    over = {} if a.seed is None else {"seed": a.seed}
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    t = time.time()
    try:
        scn = load_scenario(a.scenario, **over)
        res = module.run(scn, a.out)
    except ScenarioError as e:
        where = os.path.basename(a.scenario)
        text = str(e) if str(e).startswith(where) else "%s: %s" % (where, e)
        sys.stderr.write("error: %s\n" % text)
        raise SystemExit(2)
    print(res["title"])
    print(table_text(res["table"]))
    print("seed %d, %.1f s%s" % (scn["seed"], time.time() - t,
                                 ", output in %s" % a.out if a.out else ""))
    return res
