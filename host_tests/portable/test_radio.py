"""The fake radio: determinism, timing, impairments, routing, stepping, bounded run loops."""
from tools.sim.radio import Radio, Rng, DELIVERED, LOST, DUPLICATED, UNROUTABLE


class Sink:
    """Toy engine: records (now_ms, datagram, peer); never asks to be woken."""

    def __init__(self):
        self.got = []
        self.steps = []

    def receive(self, datagram, peer, now_ms):
        self.got.append((now_ms, datagram, peer))

    def step(self, now_ms):
        self.steps.append(now_ms)
        return None


class Echo(Sink):
    """Answers every datagram with b"re:" + datagram."""

    transport = None

    def receive(self, datagram, peer, now_ms):
        Sink.receive(self, datagram, peer, now_ms)
        self.transport.send(peer, b"re:" + datagram)


class Alarm(Sink):
    """Asks to be woken at the times listed, then at nothing."""

    def __init__(self, deadlines):
        Sink.__init__(self)
        self.deadlines = list(deadlines)

    def step(self, now_ms):
        self.steps.append(now_ms)
        return self.deadlines.pop(0) if self.deadlines else None


class Busy(Sink):
    """Always wants to run again right now (a misbehaving engine)."""

    def step(self, now_ms):
        self.steps.append(now_ms)
        return now_ms


def _pair(**link_kw):
    radio = Radio(seed=link_kw.pop("seed", 1))
    radio.link("a", "b", **link_kw)
    sink = Sink()
    tx = radio.attach(("a", 1000))
    radio.attach(("b", 2000), sink)
    return radio, tx, sink


def _scenario(seed):
    radio = Radio(seed=seed)
    radio.chain(["n1", "r1", "br"], delay_ms=7, loss=0.2, duplicate=0.2, reorder_ms=9)
    radio.link("br", "srv", delay_ms=30, loss=0.05)
    echo = Echo()
    echo.transport = radio.attach(("srv", 5683), echo)
    tx = radio.attach(("n1", 5683), Sink())
    for i in range(60):
        tx.send(("srv", 5683), b"m%d" % i)
        radio.run_for(3)
    radio.run_until_idle(10000)
    return [tuple(f) for f in radio.log]


def test_prng_sequence_is_fixed_on_every_interpreter():
    r = Rng(7)
    assert [r.next() for _ in range(4)] == [1452080460, 3984990750, 293284220, 4274452886]
    a, b = Rng(0), Rng(1)
    assert a.next() != b.next()
    assert Rng(5).upto(0) == 0 and not Rng(5).chance(0.0) and Rng(5).chance(1.0)


def test_same_seed_same_log_other_seed_other_log():
    first = _scenario(11)
    assert len(first) > 100
    assert _scenario(11) == first
    assert _scenario(12) != first
    fates = set(f[7] for f in first)
    assert LOST in fates and DUPLICATED in fates and DELIVERED in fates


def test_three_hop_chain_delay_is_the_sum_of_hop_delays():
    radio = Radio()
    radio.link("a", "b", delay_ms=5)
    radio.link("b", "c", delay_ms=7)
    radio.link("c", "d", delay_ms=11)
    sink = Sink()
    radio.attach(("d", 9), sink)
    tx = radio.attach(("a", 1))
    radio.run_until(100)
    tx.send(("d", 9), b"x")
    radio.run_until(200)
    assert sink.got == [(123, b"x", ("a", 1))]
    assert radio.route(("a", 1), ("d", 9)) == ["a", "b", "c", "d"]
    hops = [(f.hop, f.tx, f.rx, f.t_ms, f.at_ms, f.fate) for f in radio.log]
    assert hops == [(0, "a", "b", 100, 105, DELIVERED), (1, "b", "c", 105, 112, DELIVERED),
                    (2, "c", "d", 112, 123, DELIVERED)]
    assert radio.host_stats("b").forwarded == 1 and radio.host_stats("a").forwarded == 0
    assert radio.host_stats("d").delivered == 1 and radio.total.frames == 3
    assert radio.link_stats("b", "c").frames == 1 and radio.link_stats("c", "b").frames == 0


def test_loss_one_drops_everything():
    radio, tx, sink = _pair(loss=1.0)
    for i in range(50):
        tx.send(("b", 2000), b"%d" % i)
    radio.run_for(1000)
    assert sink.got == []
    assert radio.total.lost == 50 and radio.total.delivered == 0
    assert all(f.fate == LOST for f in radio.log) and len(radio.log) == 50


def test_loss_rate_is_roughly_honoured():
    radio, tx, sink = _pair(loss=0.3, seed=4)
    for i in range(2000):
        tx.send(("b", 2000), b"p")
    radio.run_for(100)
    lost = radio.link_stats("a", "b").lost
    assert 500 <= lost <= 700, lost
    assert len(sink.got) == 2000 - lost


def test_duplicate_one_delivers_twice():
    radio, tx, sink = _pair(duplicate=1.0, delay_ms=4)
    tx.send(("b", 2000), b"d")
    radio.run_for(50)
    assert [g[:2] for g in sink.got] == [(4, b"d"), (4, b"d")]
    assert radio.total.dup == 1 and radio.log[0].fate == DUPLICATED


def test_duplicate_half_duplicates_about_half():
    radio, tx, sink = _pair(duplicate=0.5, seed=9)
    for _ in range(1000):
        tx.send(("b", 2000), b"d")
    radio.run_for(100)
    assert 400 <= radio.total.dup <= 600
    assert len(sink.got) == 1000 + radio.total.dup


def test_reorder_jitters_within_bound_and_reorders():
    radio, tx, sink = _pair(delay_ms=10, reorder_ms=20)
    for i in range(50):
        tx.send(("b", 2000), b"%d" % i)
        radio.run_for(1)
    radio.run_for(100)
    order = [int(g[1]) for g in sink.got]
    assert sorted(order) == list(range(50)) and order != list(range(50))
    for f in radio.log:
        assert 10 <= f.at_ms - f.t_ms <= 30


def test_no_reorder_keeps_order():
    radio, tx, sink = _pair(delay_ms=10)
    for i in range(20):
        tx.send(("b", 2000), b"%d" % i)
    radio.run_for(100)
    assert [int(g[1]) for g in sink.got] == list(range(20))


def test_step_deadlines_are_honoured_exactly():
    radio = Radio()
    alarm = Alarm([100, 250.5])
    radio.attach(("n", 1), alarm)
    radio.run_until(1000)
    assert alarm.steps == [0, 100, 251]     # at attach, then each deadline (rounded up)
    radio.wake(("n", 1))
    radio.run_for(0)
    assert alarm.steps[-1] == 1000


def test_delivery_steps_the_receiver_and_reply_routes_back():
    radio = Radio()
    radio.chain(["n1", "r1", "srv"], delay_ms=3)
    echo = Echo()
    echo.transport = radio.attach(("srv", 5683), echo)
    client = Sink()
    tx = radio.attach(("n1", 40000), client)
    radio.run_until(10)
    tx.send(("srv", 5683), b"hi")
    assert radio.run_until_idle(1000)
    assert echo.got == [(16, b"hi", ("n1", 40000))] and 16 in echo.steps
    assert client.got == [(22, b"re:hi", ("srv", 5683))] and client.steps[-1] == 22


def test_run_loops_stop_with_an_always_busy_engine():
    radio = Radio()
    busy = Busy()
    radio.attach(("x", 1), busy)
    assert radio.run_until_idle(500) is False
    assert radio.now_ms == 500
    assert busy.steps[:3] == [0, 1, 2] and len(busy.steps) == 501
    assert radio.run_while(lambda: True, 300) is False and radio.now_ms == 800
    assert radio.run_while(lambda: radio.now_ms < 850, 300) is True and radio.now_ms == 850


def test_run_until_idle_reports_idle():
    radio, tx, sink = _pair(delay_ms=25)
    tx.send(("b", 2000), b"z")
    assert radio.in_flight == 1
    assert radio.run_until_idle(1000) is True
    assert radio.now_ms == 25 and radio.in_flight == 0
    assert radio.run_until_idle(1000) is True and radio.now_ms == 25


def test_routing_by_host_several_ports_and_unroutable():
    radio = Radio()
    radio.link("a", "b", delay_ms=2)
    s1, s2 = Sink(), Sink()
    radio.attach(("b", 1), s1)
    radio.attach(("b", 2), s2)
    tx = radio.attach(("a", 7))
    tx.send(("b", 2), b"two")
    tx.send(("b", 3), b"nobody")
    tx.send(("zz", 1), b"nowhere")
    radio.run_for(10)
    assert s1.got == [] and s2.got == [(2, b"two", ("a", 7))]
    assert radio.host_stats("b").dropped == 1
    assert radio.log[-1].fate == UNROUTABLE and radio.log[-1].rx is None
    assert radio.total.sent == 3 and radio.total.delivered == 1 and radio.total.dropped == 2


def test_same_host_loopback_is_not_on_the_air():
    radio = Radio()
    sink = Sink()
    radio.attach(("h", 2), sink)
    radio.attach(("h", 1)).send(("h", 2), b"lo")
    radio.run_for(1)
    assert sink.got == [(0, b"lo", ("h", 1))] and radio.log == []


def test_routes_follow_topology_changes():
    radio = Radio()
    radio.chain(["a", "b", "c"], delay_ms=1)
    radio.chain(["a", "x", "y", "c"], delay_ms=1)
    assert radio.route("a", "c") == ["a", "b", "c"]
    radio.unlink("b", "c")
    assert radio.route("a", "c") == ["a", "x", "y", "c"]
    radio.unlink("y", "c")
    assert radio.route("a", "c") is None
    radio.link("a", "c", delay_ms=1, symmetric=False)
    assert radio.route("a", "c") == ["a", "c"] and radio.route("c", "a") is None


def test_border_tree_builder():
    radio = Radio(seed=2)
    nodes = radio.border_tree(routers=2, nodes_per_router=3, mesh={"delay_ms": 15},
                              backbone={"delay_ms": 40})
    assert nodes == ["n1", "n2", "n3", "n4", "n5", "n6"]
    assert radio.route("n5", "server") == ["n5", "r2", "br", "server"]
    sink = Sink()
    radio.attach(("server", 5683), sink)
    for n in nodes:
        radio.attach((n, 5683)).send(("server", 5683), n.encode())
    radio.run_until_idle(1000)
    assert sorted(g[1] for g in sink.got) == [n.encode() for n in nodes]
    assert set(g[0] for g in sink.got) == set([70])
    assert radio.link_stats("br", "server").frames == 6
    assert radio.host_stats("br").forwarded == 6


def test_sent_bytes_are_copied_and_inspectable():
    radio, tx, sink = _pair()
    buf = bytearray(b"secret")
    tx.send(("b", 2000), memoryview(buf))
    buf[:] = b"XXXXXX"
    radio.run_for(20)
    assert sink.got[0][1] == b"secret"
    assert any(b"secret" in f.data for f in radio.frames(tx="a"))
