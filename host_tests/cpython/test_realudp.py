"""tools/realudp.py: the latency experiment with real processes over real UDP,
the relay's delays from the simulator's model (tools/udpnat.py Nat(delay=),
realudp.PathModel), against the simulator's own figures."""
import os
import select
import socket
import time

import pytest

from tools.udpnat import Nat
from tools.loopback import MICROPYTHON
from tools.sim.phy import Phy154, airtime_us, ack_airtime_us, TURNAROUND_US, CCA_US
from tools import realudp

# real median - simulated median (ms) the test accepts: the processes' processing
# time (about 0.5-2.5 ms on an idle 2-core x86-64) plus room for a loaded machine
TOLERANCE_MS = 20


def _udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(2)
    return s


def _pump(nat, until, timeout=2.0):
    """The Hub's loop in small: select on the NAT, flush what is due."""
    end = time.monotonic() + timeout
    while not until() and time.monotonic() < end:
        nat.flush()
        w = nat.wait_ms()
        w = 20 if w is None else min(20, w)
        ready, _, _ = select.select(nat.socks(), [], [], w / 1000)
        for s in ready:
            nat.handle(s)
    return until()


def test_delaying_nat_holds_drops_and_bounds():
    server, node = _udp(), _udp()
    holds = {"x": 0.05}
    nat = Nat(server.getsockname(), delay=lambda src, dst, data: holds.get(data[:1].decode()),
              queue=2)
    nat.add("n", node.getsockname())
    server.setblocking(False)
    got = []

    def recv():
        try:
            got.append((time.monotonic(), server.recvfrom(100)[0]))
        except BlockingIOError:
            pass
        return len(got)
    node.sendto(b"x1", ("127.0.0.1", nat.server_port))
    node.sendto(b"y1", ("127.0.0.1", nat.server_port))        # delay() None: lost
    t0 = time.monotonic()
    assert _pump(nat, lambda: recv() == 1)
    assert got[0][1] == b"x1" and 0.05 <= got[0][0] - t0 < 0.25
    assert nat.dropped == 1 and [d.data for d in nat.log] == [b"x1"]
    for i in range(4):                                         # queue 2: two more dropped
        node.sendto(b"x%d" % i, ("127.0.0.1", nat.server_port))
    time.sleep(0.01)
    nat.handle(nat.socks()[0])
    assert nat.dropped == 3 and nat.wait_ms() > 0
    assert _pump(nat, lambda: recv() == 3)
    assert nat.wait_ms() is None
    plain = Nat(server.getsockname())                          # the default: nothing held
    assert plain.wait_ms() is None and plain.delay is None
    for s in [server, node]:
        s.close()
    nat.close()
    plain.close()


def test_path_model_is_the_simulators():
    scn = realudp.scenario()
    m = realudp.PathModel(scn, 2, seed=5)
    phy = Phy154(mac_overhead=scn["phy"]["mac_overhead"], ip_header=scn["phy"]["ip_header"])
    (psdu,) = phy.frame_sizes(60)
    least = CCA_US + TURNAROUND_US + airtime_us(psdu) + TURNAROUND_US + ack_airtime_us()
    most = least + phy.max_csma_us() - CCA_US - TURNAROUND_US
    c2c = m("switch", "light", b"\0" * 60)            # 4 mesh hops, each rounded up to ms
    hop_ms = [a[3] / a[4] for a in m.applied]
    assert m.applied[-1][4] == 4 and m.applied[-1][5] == 0
    assert 4 * -(-least // 1000) <= c2c * 1000 <= 4 * -(-most // 1000)
    assert abs(c2c * 1000 - round(c2c * 1000)) < 1e-6
    m1 = realudp.PathModel(scn, 2, seed=5)            # (m's channel is reserved a while)
    up = m1("switch", "server", b"\0" * 60)           # 2 mesh hops + the 40 ms backbone
    assert m1.applied[-1][4:6] == (2, 40)
    assert 40 + 2 * -(-least // 1000) <= up * 1000 <= 40 + 2 * -(-most // 1000)
    assert 3 <= hop_ms[0] <= 6                        # the ~4 ms per hop of a small datagram
    # one shared channel: a second datagram at the same moment waits for the first
    m2 = realudp.PathModel(scn, 1, seed=5)
    a, b = m2("switch", "server", b"\0" * 60), m2("light", "server", b"\0" * 60)
    assert b > a
    # fragmented: a 300-byte datagram takes 3 frames, longer than a small one
    m3 = realudp.PathModel(scn, 1, seed=5)
    assert m3("switch", "light", b"\0" * 300) > c2c / 2
    # seeded: the same draws again
    again = realudp.PathModel(scn, 2, seed=5)
    assert again("switch", "light", b"\0" * 60) == c2c


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="no unix-port MicroPython")
def test_real_udp_agrees_with_the_simulator():
    t0 = time.monotonic()
    lines = []
    scn, rows = realudp.compare([1], presses=12, period_ms=250, log=lines.append)
    by = dict((r["mode"], r) for r in rows)
    text = realudp.table(rows)
    for r in rows:
        assert r["real_lost"] == 0 and r["relay_dropped"] == 0, text
        assert r["sim_median_ms"] - 1 <= r["real_median_ms"], text
        assert r["real_median_ms"] <= r["sim_median_ms"] + TOLERANCE_MS, text
        assert 3 <= r["relay_per_hop_ms"] <= 6, text
        # the relay gave the presses what the simulator gives them (sampling apart) ...
        assert abs(r["relay_median_ms"] - r["sim_median_ms"]) <= 2, text
        # ... and no light changed before the relay delivered its datagrams
        assert all(x - n >= 0 for x, n in zip(r["real"], r["relay_ms"])), text
        assert 0 <= r["processing_median_ms"] <= TOLERANCE_MS, text
    assert by["c2c"]["real_median_ms"] < by["server"]["real_median_ms"], text
    ok, _ = realudp.verdict(rows)
    assert ok
    assert time.monotonic() - t0 < 40
