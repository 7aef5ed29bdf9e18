"""The 802.15.4 per-hop cost model (tools/sim/phy.py) and the radio's phy= hook."""
from tools.sim.phy import (Phy154, airtime_us, ack_airtime_us, MAX_FRAME_RETRIES,
                           TURNAROUND_US, ACK_WAIT_US)
from tools.sim.radio import Radio, Rng, DELIVERED, LOST

# One clear attempt's CSMA/CA at most: 7 backoff periods of 320 µs, CCA 128, turnaround 192.
MAX_CSMA = 7 * 320 + 128 + 192
ACK = 192 + (6 + 5) * 32        # turnaround + ACK frame airtime


class Sink:
    def __init__(self):
        self.got = []

    def receive(self, datagram, peer, now_ms):
        self.got.append((now_ms, datagram, peer))


def test_airtime_of_a_full_frame_and_of_an_ack():
    assert airtime_us(127) == (6 + 127) * 8 * 4 == 4256
    assert ack_airtime_us() == 352 and ACK == TURNAROUND_US + ack_airtime_us() == 544
    assert ACK_WAIT_US == 54 * 16 and Phy154().max_csma_us() == MAX_CSMA == 2560


def test_small_datagram_is_one_frame():
    # 60 bytes of UDP payload + 13 compressed IPv6/UDP + 11 MAC = 84 <= 127
    assert Phy154().frame_sizes(60) == [84]
    assert Phy154().frame_sizes(103) == [127]           # the largest unfragmented payload
    assert len(Phy154().frame_sizes(104)) == 2


def test_large_datagram_is_fragmented_by_hand():
    # 300 bytes: 13 + 300 > 116 (127 - 11 MAC) -> fragments.
    # FRAG1: 116 - 4 (FRAG1) - 13 (headers) = 99 -> 96 payload bytes (multiple of 8)
    # FRAGN: 116 - 5 = 111 -> 104 payload bytes each; 300 - 96 = 204 = 104 + 100
    sizes = Phy154().frame_sizes(300)
    assert sizes == [11 + 4 + 13 + 96, 11 + 5 + 104, 11 + 5 + 100] == [124, 120, 116]
    assert all(s <= 127 for s in sizes)
    # 1232 bytes (IPv6 datagram of 1280): 96 + 11 * 104 = 1240 >= 1232 -> 12 frames
    assert len(Phy154().frame_sizes(1232)) == 12
    assert Phy154().frame_sizes(1233) is None           # beyond the 1280-byte mtu
    # EUI-64 addressing (23-byte MAC header): 104 - 4 - 13 = 87 -> 80; 104 - 5 = 99 -> 96
    assert Phy154(mac_overhead=23).frame_sizes(300) == [23 + 4 + 13 + 80, 23 + 5 + 96,
                                                         23 + 5 + 96, 23 + 5 + 28]


def test_no_loss_no_contention_delay_bounds():
    phy = Phy154()
    rng = Rng(5)
    seen = set()
    for _ in range(200):
        h = phy.hop(60, rng)
        assert h.delivered and h.frames == 1 and h.transmissions == 1
        lo = airtime_us(84) + ACK
        assert lo <= h.delay_us <= lo + MAX_CSMA
        assert lo + 128 + 192 <= h.delay_us          # CCA and turnaround always happen
        seen.add(h.delay_us)
    assert len(seen) == 8           # backoff of 0..7 unit periods, all of them drawn
    air = sum(airtime_us(s) for s in phy.frame_sizes(300))
    for _ in range(50):
        h = phy.hop(300, rng)
        assert h.delivered and h.frames == 3 and h.transmissions == 3
        assert air + 3 * ACK <= h.delay_us <= air + 3 * (ACK + MAX_CSMA)
    assert phy.datagrams == phy.delivered == 250
    assert phy.frames == phy.transmissions == phy.acks == 200 + 150
    assert phy.cca == 350 and phy.cca_failures == 0


def test_loss_one_delivers_nothing_after_all_retries():
    phy = Phy154(loss=1.0)
    rng = Rng(9)
    for n in (60, 300):
        h = phy.hop(n, rng)
        assert not h.delivered
        # the datagram is given up at its first fragment
        assert h.frames == 1 and h.transmissions == MAX_FRAME_RETRIES + 1 == 4
        attempt = airtime_us(phy.frame_sizes(n)[0]) + ACK_WAIT_US
        assert 4 * (attempt + 320) <= h.delay_us <= 4 * (attempt + MAX_CSMA)
    assert phy.delivered == 0 and phy.acks == 0 and phy.transmissions == 8
    assert Phy154(loss=1.0, max_retries=0).hop(60, rng).transmissions == 1


def test_partial_loss_retries_and_counts():
    phy = Phy154(loss=0.3)
    rng = Rng(2)
    results = [phy.hop(300, rng) for _ in range(300)]
    ok = [h for h in results if h.delivered]
    assert 250 < len(ok) < 300          # per frame 1 - 0.3**4 ~ 0.992; per datagram ~ 0.976
    assert any(h.transmissions > h.frames for h in ok)
    assert phy.transmissions == sum(h.transmissions for h in results)
    assert phy.frames == sum(h.frames for h in results)
    assert phy.acks == sum(h.frames for h in ok) + sum(h.frames - 1 for h in results
                                                       if not h.delivered)


def test_contention_can_fail_channel_access():
    phy = Phy154(cca_busy=1.0)
    h = phy.hop(60, Rng(1))
    assert not h.delivered and h.frames == 1 and h.transmissions == 0
    assert phy.cca == 5 and phy.cca_failures == 1      # macMaxCSMABackoffs 4 + 1 CCAs
    # back-off exponents 3, 4, 5, 5, 5: at most (7 + 15 + 31 * 3) * 320 + 5 * 128
    assert 5 * 128 <= h.delay_us <= (7 + 15 + 93) * 320 + 5 * 128
    half = Phy154(cca_busy=0.5)
    rng = Rng(3)
    got = [half.hop(60, rng).delivered for _ in range(400)]
    assert 370 < got.count(True) < 400          # failure needs 5 busy CCAs: 1/32
    assert half.cca > 400


# Computed once; CPython and the unix-port MicroPython must both reproduce it.
GOLDEN = [(True, 3744, 1), (True, 4704, 1), (True, 14176, 3), (True, 26880, 4),
          (True, 44512, 7), (True, 5024, 1), (True, 5984, 1), (True, 13888, 2)]


def test_same_seed_same_delays_on_every_interpreter():
    phy = Phy154(loss=0.2, cca_busy=0.1)
    rng = Rng(42)
    got = [(h.delivered, h.delay_us, h.transmissions)
           for h in (phy.hop(n, rng) for n in (10, 60, 120, 300, 500, 60, 60, 200))]
    rng2 = Rng(42)
    phy2 = Phy154(loss=0.2, cca_busy=0.1)
    assert got == [(h.delivered, h.delay_us, h.transmissions)
                   for h in (phy2.hop(n, rng2) for n in (10, 60, 120, 300, 500, 60, 60, 200))]
    assert got == GOLDEN


def test_bad_parameters_are_refused():
    for kw in ({"loss": 1.5}, {"cca_busy": -0.1}, {"max_retries": -1}, {"mtu": 4000},
               {"mac_overhead": 120}):
        try:
            Phy154(**kw)
        except ValueError:
            continue
        raise AssertionError(kw)


def _chain(seed, phy):
    radio = Radio(seed=seed)
    radio.chain(["n0", "n1", "n2", "n3"], phy=phy)
    tx = radio.attach(("n0", 1))
    sinks = []
    for h in ("n1", "n2", "n3"):
        s = Sink()
        radio.attach((h, 2), s)
        sinks.append(s)
    return radio, tx, sinks


def test_radio_chain_with_phy_delay_grows_with_hops():
    phy = Phy154()
    radio, tx, sinks = _chain(7, phy)
    totals = [0, 0, 0]
    for _ in range(20):
        start = radio.now_ms
        for h in ("n1", "n2", "n3"):
            tx.send((h, 2), b"x" * 60)
        radio.run_until_idle(1000)
        arrive = [s.got[-1][0] - start for s in sinks]
        # each hop: 3424 .. 5984 µs, rounded up to whole ms -> 4 .. 6 ms
        assert 4 <= arrive[0] <= 6 and 8 <= arrive[1] <= 12 and 12 <= arrive[2] <= 18
        assert arrive[0] < arrive[1] < arrive[2]
        for i in range(3):
            totals[i] += arrive[i]
        radio.run_for(100)
    assert totals[0] < totals[1] < totals[2]
    assert all(len(s.got) == 20 for s in sinks)
    assert phy.datagrams == 20 * (1 + 2 + 3) == phy.delivered == phy.frames
    # the radio's own counters: one radio frame per hop, none lost
    assert radio.total.frames == 120 and radio.total.lost == 0
    # a bigger datagram takes longer per hop (three fragments)
    radio, tx, sinks = _chain(7, Phy154())
    tx.send(("n3", 2), b"y" * 300)
    radio.run_until_idle(1000)
    assert sinks[2].got[0][0] >= 3 * (sum(airtime_us(s) for s in (124, 120, 116)) + 3 * ACK) / 1000


def test_radio_phy_loss_is_recorded_as_lost():
    radio, tx, sinks = _chain(1, Phy154(loss=1.0))
    tx.send(("n3", 2), b"z")
    radio.run_until_idle(1000)
    assert [s.got for s in sinks] == [[], [], []]
    assert [(f.hop, f.tx, f.rx, f.fate) for f in radio.log] == [(0, "n0", "n1", LOST)]
    assert radio.link_stats("n0", "n1").lost == 1


def test_radio_with_phy_is_deterministic_and_phy_none_unchanged():
    def run(seed):
        radio, tx, sinks = _chain(seed, Phy154(loss=0.1, cca_busy=0.05))
        for k in range(30):
            tx.send(("n3", 2), bytes([k]) * (20 + 10 * k))
            radio.run_for(7)
        radio.run_until_idle(5000)
        return [(f.t_ms, f.hop, f.fate, f.at_ms) for f in radio.log]
    a = run(11)
    assert a == run(11) and a != run(12)
    assert any(f[2] == DELIVERED for f in a)
    # without phy the fixed delay is used as before
    radio = Radio(seed=1)
    radio.chain(["a", "b"], delay_ms=7)
    s = Sink()
    radio.attach(("b", 1), s)
    radio.attach(("a", 1)).send(("b", 1), b"q" * 300)
    radio.run_until_idle(100)
    assert s.got == [(7, b"q" * 300, ("a", 1))]
