"""Fake radio: a seeded discrete-event network on a virtual clock.

Owns: the virtual clock, the event queue, the topology (hosts and directed links), hop-by-hop
routing, per-hop impairments (delay, loss, duplication, reordering), stepping of sans-IO
engines at their deadlines, and the record of everything put on the air. Used by the host
tests and by the network simulator; runs unchanged under CPython and the unix-port
MicroPython (no typing/dataclasses/enum; the PRNG is the xorshift32 of lib/drivers/sim.py),
and for one seed both interpreters produce the very same log.

Time. `radio.now_ms` is an int (virtual milliseconds, starts at 0). Delays and deadlines
given as floats are rounded *up* to whole ms, so a node is never stepped before it asked.

Addresses. An address is any hashable; a tuple `(host, port, ...)` is routed by its host
part (`addr[0]`), anything else is its own host. So ("n1", 5683) and ("n1", 5684) are two
endpoints of the same host "n1", and a bare "r1" is a host too (e.g. a router).

Engines. `attach(addr, engine)` binds an endpoint to an object with
`receive(datagram, peer, now_ms)` and `step(now_ms) -> next deadline ms or None`, and
returns the transport handed to that engine (`send(peer, datagram)`). The radio steps an
engine once when attached, right after every datagram it receives, at the deadline it
returned last, and when `wake(addr)` asks for it. A deadline not later than the current
time is taken as now + 1 ms (the engine was just stepped), so no engine can freeze the
clock. Datagrams sent from inside receive/step are always queued, never delivered
re-entrantly.

Example:
    radio = Radio(seed=3)
    radio.chain(["n1", "r1", "br"], delay_ms=10, loss=0.05)
    radio.link("br", "srv", delay_ms=40)                  # backbone
    t = radio.attach(("n1", 5683), client)                # client.transport = t
    radio.attach(("srv", 5683), server)
    radio.run_until_idle(60000)
    assert not any(b"secret" in f.data for f in radio.log)
"""
import heapq
from collections import namedtuple
from drivers.sim import Rng as Xorshift32

# One entry of `Radio.log`: one frame put on the air by host `tx` towards host `rx`.
#   t_ms   time it went on the air      src, dst  original sender / final destination address
#   hop    0 for the sender's own hop   tx, rx    the hosts of this hop
#   data   the datagram bytes           fate      DELIVERED, LOST, DUPLICATED or UNROUTABLE
#   at_ms  arrival time at rx (the first copy's when duplicated; None when lost/unroutable)
Frame = namedtuple("Frame", ("t_ms", "src", "dst", "hop", "tx", "rx", "data", "fate", "at_ms"))

DELIVERED = "delivered"
LOST = "lost"
DUPLICATED = "duplicated"      # arrived twice at rx
UNROUTABLE = "unroutable"      # tx knows no path to dst (rx is None)

_ARRIVE = 0
_WAKE = 1
_MASK32 = 0xFFFFFFFF


def host_of(addr):
    """The routing host of an address: `addr[0]` for a tuple, else the address itself."""
    return addr[0] if isinstance(addr, tuple) else addr


def _ms(value):
    """Whole milliseconds, rounding a fractional value up."""
    i = int(value)
    return i + 1 if value > i else i


class Rng(Xorshift32):
    """The xorshift32 of drivers.sim (identical sequences on CPython and MicroPython),
    seeded through a mix so that 0 and small neighbouring seeds are all usable, with
    the draws the radio needs. `next()`: the next raw 32-bit value (1 .. 2**32-1).
    """

    def __init__(self, seed=1):
        Xorshift32.__init__(self, (seed * 2654435761 + 0x9E3779B9) & _MASK32 or 0x6D2B79F5)
        for _ in range(4):          # let nearby seeds diverge
            self.next()

    def chance(self, p):
        """True with probability p (0.0 never draws and is never true, 1.0 always true)."""
        if p <= 0:
            return False
        if p >= 1:
            return True
        return self.next() < p * 4294967296.0

    def upto(self, n):
        """A uniform-ish int in 0..n inclusive (0 without drawing when n <= 0)."""
        if n <= 0:
            return 0
        return self.next() % (n + 1)


class Stats:
    """Counters kept per host, per directed link and in total (`Radio.total`).

    sent        datagrams originated (transport.send)        [host, total]
    delivered   datagrams handed to an engine's receive()    [host, total]
    dropped     datagrams that reached their host but no attached port, or had no
                route at all                                 [host, total]
    frames      frames put on the air (every hop counts)     [host (as tx), link, total]
    forwarded   frames transmitted on behalf of another host [host]
    lost        frames lost on the air                       [host (as tx), link, total]
    dup         frames that arrived twice                    [host (as tx), link, total]
    """

    def __init__(self):
        self.sent = self.delivered = self.dropped = 0
        self.frames = self.forwarded = self.lost = self.dup = 0

    def as_dict(self):
        return {"sent": self.sent, "delivered": self.delivered, "dropped": self.dropped,
                "frames": self.frames, "forwarded": self.forwarded, "lost": self.lost,
                "dup": self.dup}

    def __repr__(self):
        return "Stats(%r)" % (self.as_dict(),)


class Link:
    """One direction of a radio or wired link; see `Radio.link` for the parameters."""

    def __init__(self, delay_ms, loss, duplicate, reorder_ms, stats, phy=None):
        if delay_ms < 0 or reorder_ms < 0:
            raise ValueError("negative delay")
        if not (0 <= loss <= 1 and 0 <= duplicate <= 1):
            raise ValueError("probability out of 0..1")
        self.delay_ms = _ms(delay_ms)
        self.loss = loss
        self.duplicate = duplicate
        self.reorder_ms = _ms(reorder_ms)
        self.stats = stats
        self.phy = phy


class Port:
    """The transport of one attached endpoint: what its engine is given.

    send(peer, datagram): queue `datagram` (bytes-like; copied) from this endpoint to the
    address `peer`. Never raises for network reasons; an unknown destination is recorded
    as UNROUTABLE / counted as dropped.
    """

    def __init__(self, radio, addr, engine):
        self.radio = radio
        self.addr = addr
        self.engine = engine
        self.wake_at = None     # the pending wake-up time, or None
        self.gen = 0            # bumped to cancel queued wake-ups
        self.stepping = False

    def send(self, peer, datagram):
        self.radio._originate(self.addr, peer, bytes(datagram))

    def local_address(self):
        return self.addr


class Radio:
    """Discrete-event fake network.

    seed:        PRNG seed; the same seed and the same calls give the same log.
    log:         keep `self.log` (list of Frame); pass False for long simulations that
                 only need the counters (`self.log` is then None).
    max_events:  safety bound per run_* call; exceeding it raises RuntimeError (only a
                 zero-delay livelock between engines can get there).

    Public state: `now_ms`, `log`, `total` (Stats), `host_stats(host)`,
    `link_stats(a, b)`, `in_flight` (frames on the air right now), `rng` (the Rng).
    """

    def __init__(self, seed=1, log=True, max_events=1000000):
        self.now_ms = 0
        self.rng = Rng(seed)
        self.log = [] if log else None
        self.max_events = max_events
        self.total = Stats()
        self.in_flight = 0
        self._queue = []        # heap of (time, seq, kind, a, b, c, d)
        self._seq = 0
        self._ports = {}        # addr -> Port
        self._adj = {}          # host -> list of neighbour hosts (insertion order)
        self._links = {}        # (tx, rx) -> Link
        self._hosts = {}        # host -> Stats
        self._routes = {}       # source host -> {destination host: next hop}

    # ---- topology ---------------------------------------------------------------------

    def add_host(self, host):
        """Declare a host (a router needs nothing more); returns it. Idempotent."""
        host = host_of(host)
        if host not in self._adj:
            self._adj[host] = []
            self._hosts[host] = Stats()
            self._routes = {}
        return host

    def attach(self, addr, engine=None, wake=True):
        """Bind endpoint `addr` (e.g. ("n1", 5683)) and return its transport (a Port).

        engine: object with receive(datagram, peer, now_ms) and step(now_ms) -> deadline
                or None (step is optional). None makes a passive endpoint whose datagrams
                are counted as delivered and otherwise discarded.
        wake:   step the engine once at the current time (the usual start-up step).
        """
        if addr in self._ports:
            raise ValueError("address already attached: %r" % (addr,))
        self.add_host(host_of(addr))
        port = Port(self, addr, engine)
        self._ports[addr] = port
        if engine is not None and wake:
            self._want(port, self.now_ms, False)
        return port

    def detach(self, addr):
        """Unbind an endpoint; its pending wake-ups are cancelled, the host stays."""
        port = self._ports.pop(addr)
        port.gen += 1
        port.wake_at = None

    def link(self, a, b, delay_ms=10, loss=0.0, duplicate=0.0, reorder_ms=0, symmetric=True,
             phy=None):
        """Create or re-parameterise the link between hosts a and b (addresses accepted).

        delay_ms:   base one-way latency of a frame on this hop (ms, >= 0).
        loss:       probability 0..1 that a frame is lost on this hop.
        duplicate:  probability 0..1 that a frame that was not lost arrives twice (each
                    copy then travels on independently).
        reorder_ms: each copy gets an extra uniformly drawn 0..reorder_ms ms of delay, so
                    frames sent less than reorder_ms apart can overtake each other.
        symmetric:  also create b -> a with the same parameters (else only a -> b).
        phy:        a per-hop cost model (e.g. tools.sim.phy.Phy154) used instead of
                    delay_ms and loss: each frame's fate and delay come from
                    phy.hop(len(datagram), radio.rng) (delay rounded up to whole ms;
                    duplicate and reorder_ms still apply). Both directions share it
                    when symmetric, and so do its counters.
        Counters of an existing direction survive re-parameterisation.
        """
        a, b = self.add_host(a), self.add_host(b)
        pairs = ((a, b), (b, a)) if symmetric else ((a, b),)
        for tx, rx in pairs:
            old = self._links.get((tx, rx))
            self._links[(tx, rx)] = Link(delay_ms, loss, duplicate, reorder_ms,
                                         old.stats if old else Stats(), phy)
            if rx not in self._adj[tx]:
                self._adj[tx].append(rx)
        self._routes = {}

    def unlink(self, a, b, symmetric=True):
        """Remove the link a -> b (and b -> a when symmetric); frames already on it still land."""
        a, b = host_of(a), host_of(b)
        for tx, rx in (((a, b), (b, a)) if symmetric else ((a, b),)):
            if self._links.pop((tx, rx), None) is not None:
                self._adj[tx].remove(rx)
        self._routes = {}

    def chain(self, hosts, **link_kw):
        """Link hosts[0] - hosts[1] - ... in a line; link_kw as for link()."""
        for i in range(len(hosts) - 1):
            self.link(hosts[i], hosts[i + 1], **link_kw)
        return list(hosts)

    def star(self, center, leaves, **link_kw):
        """Link every leaf to `center`; link_kw as for link()."""
        for leaf in leaves:
            self.link(center, leaf, **link_kw)
        return list(leaves)

    def border_tree(self, server="server", border="br", routers=2, nodes_per_router=3,
                    mesh=None, backbone=None, router_prefix="r", node_prefix="n"):
        """Build nodes -> routers -> border router -> backbone -> server.

        server, border:   host names of the server and of the border router.
        routers:          number of mesh routers, all one hop from the border router.
        nodes_per_router: leaf nodes hanging off each router.
        mesh:             link() keyword dict for every mesh hop (default {}).
        backbone:         link() keyword dict for border <-> server (default delay 50 ms).
        Names are router_prefix + 1.. and node_prefix + 1..; returns the node host names
        (attach endpoints such as (name, 5683) to them afterwards).
        """
        mesh = mesh or {}
        self.link(border, server, **(backbone if backbone is not None else {"delay_ms": 50}))
        nodes = []
        for r in range(1, routers + 1):
            router = "%s%d" % (router_prefix, r)
            self.link(border, router, **mesh)
            for _ in range(nodes_per_router):
                node = "%s%d" % (node_prefix, len(nodes) + 1)
                self.link(router, node, **mesh)
                nodes.append(node)
        return nodes

    def route(self, src, dst):
        """The list of hosts a datagram from src to dst visits (fewest hops), or None."""
        here, goal = host_of(src), host_of(dst)
        if here not in self._adj or goal not in self._adj:
            return None
        path = [here]
        while here != goal:
            here = self._next_hop(here, goal)
            if here is None:
                return None
            path.append(here)
        return path

    def _next_hop(self, here, goal):
        table = self._routes.get(here)
        if table is None:       # BFS from `here`, neighbours in insertion order
            table = {}
            frontier = []
            for n in self._adj[here]:
                if n not in table:
                    table[n] = n
                    frontier.append(n)
            table[here] = here
            while frontier:
                nxt = []
                for h in frontier:
                    for n in self._adj[h]:
                        if n not in table:
                            table[n] = table[h]
                            nxt.append(n)
                frontier = nxt
            self._routes[here] = table
        return table.get(goal)

    # ---- observation --------------------------------------------------------------------

    def host_stats(self, host):
        """Stats of a host (address accepted)."""
        return self._hosts[host_of(host)]

    def link_stats(self, a, b):
        """Stats of the directed link a -> b."""
        return self._links[(host_of(a), host_of(b))].stats

    def frames(self, fate=None, tx=None, rx=None):
        """Log entries filtered by fate / transmitting host / receiving host."""
        return [f for f in self.log if (fate is None or f.fate == fate)
                and (tx is None or f.tx == tx) and (rx is None or f.rx == rx)]

    # ---- engines ------------------------------------------------------------------------

    def wake(self, addr, at_ms=None):
        """Ask for the engine at `addr` to be stepped at `at_ms` (default: now).

        An earlier pending wake-up stands; the step then reports the next deadline.
        """
        port = self._ports[addr]
        self._want(port, self.now_ms if at_ms is None else at_ms, port.stepping)

    def _want(self, port, t, clamp):
        t = _ms(t)
        if t < self.now_ms or (clamp and t <= self.now_ms):
            t = self.now_ms + 1 if clamp else self.now_ms
        if port.wake_at is not None and port.wake_at <= t:
            return
        port.gen += 1
        port.wake_at = t
        self._push(t, _WAKE, port, port.gen, None, None)

    def _step(self, port):
        step = getattr(port.engine, "step", None)
        port.gen += 1           # cancel whatever was pending; step() says what is next
        port.wake_at = None
        if step is None:
            return
        port.stepping = True
        try:
            deadline = step(self.now_ms)
        finally:
            port.stepping = False
        if deadline is not None:
            self._want(port, deadline, True)

    # ---- frames -------------------------------------------------------------------------

    def _push(self, t, kind, a, b, c, d):
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, kind, a, b, c, d))

    def _originate(self, src, dst, data):
        self.total.sent += 1
        self._hosts[host_of(src)].sent += 1
        here = host_of(src)
        if here == host_of(dst):            # same host: loopback, nothing on the air
            self.in_flight += 1
            self._push(self.now_ms, _ARRIVE, (src, dst, data), 0, here, None)
        else:
            self._transmit(here, src, dst, data, 0)

    def _transmit(self, here, src, dst, data, hop):
        """Put one frame on the air from host `here` towards dst's next hop."""
        nxt = self._next_hop(here, host_of(dst)) if here in self._adj else None
        hs = self._hosts[here]
        if nxt is None:
            hs.dropped += 1
            self.total.dropped += 1
            self._record(src, dst, hop, here, None, data, UNROUTABLE, None)
            return
        link = self._links[(here, nxt)]
        rng = self.rng
        hs.frames += 1
        link.stats.frames += 1
        self.total.frames += 1
        if hop:
            hs.forwarded += 1
        if link.phy is None:
            lost = rng.chance(link.loss)
            delay = link.delay_ms
        else:
            cost = link.phy.hop(len(data), rng)
            lost = not cost.delivered
            delay = (cost.delay_us + 999) // 1000
        if lost:
            hs.lost += 1
            link.stats.lost += 1
            self.total.lost += 1
            self._record(src, dst, hop, here, nxt, data, LOST, None)
            return
        copies = 2 if rng.chance(link.duplicate) else 1
        first = None
        for _ in range(copies):
            at = self.now_ms + delay + rng.upto(link.reorder_ms)
            first = at if first is None else min(first, at)
            self.in_flight += 1
            self._push(at, _ARRIVE, (src, dst, data), hop + 1, nxt, None)
        if copies == 2:
            hs.dup += 1
            link.stats.dup += 1
            self.total.dup += 1
        self._record(src, dst, hop, here, nxt, data, DUPLICATED if copies == 2 else DELIVERED,
                     first)

    def _record(self, src, dst, hop, tx, rx, data, fate, at):
        if self.log is not None:
            self.log.append(Frame(self.now_ms, src, dst, hop, tx, rx, data, fate, at))

    def _arrive(self, frame, hop, here):
        self.in_flight -= 1
        src, dst, data = frame
        if here != host_of(dst):
            self._transmit(here, src, dst, data, hop)
            return
        port = self._ports.get(dst)
        hs = self._hosts[here]
        if port is None:
            hs.dropped += 1
            self.total.dropped += 1
            return
        hs.delivered += 1
        self.total.delivered += 1
        if port.engine is not None:
            port.engine.receive(data, src, self.now_ms)
            if self._ports.get(dst) is port:
                self._step(port)

    # ---- run control --------------------------------------------------------------------

    def next_event_ms(self):
        """Time of the next queued event (stale wake-ups included), or None."""
        return self._queue[0][0] if self._queue else None

    def _run_one(self):
        t, _, kind, a, b, c, _d = heapq.heappop(self._queue)
        self.now_ms = t
        if kind == _ARRIVE:
            self._arrive(a, b, c)
            return True
        if a.gen != b or self._ports.get(a.addr) is not a:
            return False        # superseded wake-up
        self._step(a)
        return True

    def _run(self, end, predicate):
        """Process events up to time `end`; stop early when predicate() turns false."""
        budget = self.max_events
        q = self._queue
        while q and q[0][0] <= end:
            if predicate is not None and not predicate():
                return True
            budget -= 1
            if budget < 0:
                raise RuntimeError("radio: more than %d events before t=%d ms"
                                   % (self.max_events, end))
            self._run_one()
        if predicate is not None and not predicate():
            return True
        self.now_ms = max(self.now_ms, end)
        return False

    def run_until(self, t_ms):
        """Process every event up to and including t_ms, then set the clock to t_ms."""
        self._run(_ms(t_ms), None)

    def run_for(self, ms):
        """run_until(now + ms)."""
        self._run(self.now_ms + _ms(ms), None)

    def run_while(self, predicate, limit_ms):
        """Run while predicate() is true, for at most limit_ms of virtual time.

        predicate is checked before every event. Returns True when it turned false (the
        clock then stays at the time of the event that made it so), False when the limit
        was reached (the clock is then now + limit_ms).
        """
        return self._run(self.now_ms + _ms(limit_ms), predicate)

    def run_until_idle(self, limit_ms):
        """Run until nothing is queued (no frame in flight, no wake-up pending), for at most
        limit_ms. Returns True when idle was reached, False at the limit. Engines with a
        periodic deadline are never idle; use run_while(lambda: radio.in_flight, ...) to
        wait only for the air to go quiet.
        """
        end = self.now_ms + _ms(limit_ms)
        while True:
            self._drop_stale()
            if not self._queue:
                return True
            if self._queue[0][0] > end:
                self.now_ms = max(self.now_ms, end)
                return False
            self._run(self._queue[0][0], None)

    def _drop_stale(self):
        q = self._queue
        while q and q[0][2] == _WAKE and (q[0][3].gen != q[0][4]
                                          or self._ports.get(q[0][3].addr) is not q[0][3]):
            heapq.heappop(q)
