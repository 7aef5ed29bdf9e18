"""UDP transport on loopback: exchange, peer normalization, errors dropped, IPv6 if present."""
import socket

from transport.udp import UdpTransport, wait_readable, peer_of, _ntop6


def _ipv6_loopback():
    """True when a socket can be bound to ::1 here (containers often lack IPv6)."""
    try:
        t = UdpTransport(("::1", 0))
    except (OSError, ValueError):
        return False
    t.close()
    return True


def _dual_stack():
    try:
        with open("/proc/sys/net/ipv6/bindv6only") as f:
            return f.read().strip() == "0" and _ipv6_loopback()
    except OSError:
        return False


def _recv(t, buf, timeout_ms=1000):
    """One datagram (bytes, peer) within a bounded wait, else None."""
    for _ in range(5):
        if wait_readable(t, timeout_ms // 5):
            got = t.recv_into(buf)
            if got is not None:
                return bytes(buf[:got[0]]), got[1]
    return None


def _exchange(host):
    a, b = UdpTransport((host, 0)), UdpTransport((host, 0))
    try:
        pa, pb = a.local_address(), b.local_address()
        assert pa[0] == host and pb[0] == host and pa[1] > 0 and pa[1] != pb[1]
        buf = bytearray(64)
        assert a.send(pb, b"hello") is True
        data, peer = _recv(b, buf)
        assert data == b"hello" and peer == (host, pa[1]) and peer == pa
        assert isinstance(peer, tuple) and isinstance(peer[0], str)
        assert b.send(peer, memoryview(b"world!")) is True        # reply to what we got
        data, peer = _recv(a, memoryview(buf))
        assert data == b"world!" and peer == pb
        assert a.sent == 1 and a.received == 1 and b.sent == 1 and b.received == 1
    finally:
        a.close()
        b.close()


def test_ipv4_loopback_exchange_and_peers():
    _exchange("127.0.0.1")


def test_ipv6_loopback_exchange_if_available():
    if _ipv6_loopback():
        _exchange("::1")


def test_dual_stack_reports_ipv4_peers_plainly():
    if not _dual_stack():
        return
    six, four = UdpTransport(("::", 0)), UdpTransport(("127.0.0.1", 0))
    try:
        port6 = six.local_address()[1]
        buf = bytearray(16)
        assert four.send(("127.0.0.1", port6), b"v4")
        data, peer = _recv(six, buf)
        assert data == b"v4" and peer == four.local_address()
        assert six.send(("127.0.0.1", four.local_address()[1]), b"back")
        assert _recv(four, buf) == (b"back", ("127.0.0.1", port6))
    finally:
        six.close()
        four.close()


def test_empty_socket_gives_none_without_blocking():
    t = UdpTransport(("127.0.0.1", 0))
    try:
        assert t.recv_into(bytearray(8)) is None
        assert wait_readable(t, 0) is False
        assert t.rx_errors == 0
    finally:
        t.close()


def test_send_to_closed_port_and_bad_peers_do_not_raise():
    t = UdpTransport(("127.0.0.1", 0))
    gone = UdpTransport(("127.0.0.1", 0))
    port = gone.local_address()[1]
    gone.close()
    try:
        for _ in range(3):
            t.send(("127.0.0.1", port), b"anyone?")
            wait_readable(t, 20)
            assert t.recv_into(bytearray(8)) is None
        assert t.send(("::1", 5683), b"x") is False     # no IPv6 on an IPv4 socket
        assert t.tx_errors == 1 and isinstance(t.last_error, int)
    finally:
        t.close()
    assert t.send(("127.0.0.1", port), b"after close") is False
    assert t.tx_errors == 2 and t.recv_into(bytearray(8)) is None
    assert wait_readable(t, 0) is False
    t.close()


def test_truncation_to_buffer_size():
    a, b = UdpTransport(("127.0.0.1", 0)), UdpTransport(("127.0.0.1", 0))
    try:
        a.send(b.local_address(), b"0123456789")
        assert _recv(b, bytearray(4)) == (b"0123", a.local_address())
    finally:
        a.close()
        b.close()


def test_peer_of_decodes_raw_sockaddrs():
    v4 = b"\x02\x00\x16\x33\x7f\x00\x00\x01" + bytes(8)
    assert peer_of(v4) == ("127.0.0.1", 5683)
    if socket.AF_INET6 == 10:       # Linux layout: native-endian u16 family
        v6 = b"\x0a\x00\x16\x34" + bytes(4) + bytes(15) + b"\x01" + bytes(4)
        assert peer_of(v6) == ("::1", 5684)
        mapped = b"\x0a\x00\x00\x07" + bytes(4) + bytes(10) + b"\xff\xff\x0a\x00\x00\x02" + bytes(4)
        assert peer_of(mapped) == ("10.0.0.2", 7)
    assert peer_of(("::ffff:192.0.2.1", 9, 0, 0)) == ("192.0.2.1", 9)
    assert peer_of(("fd00::2", 5683, 0, 0)) == ("fd00::2", 5683)


def test_own_ipv6_formatting_matches_rfc5952():
    def raw(words):
        return b"".join(bytes(((w >> 8) & 255, w & 255)) for w in words)
    assert _ntop6(raw([0] * 7 + [1])) == "::1"
    assert _ntop6(raw([0] * 8)) == "::"
    assert _ntop6(raw([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])) == "2001:db8::1:0:0:1"
    assert _ntop6(raw([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])) == "2001:db8:0:1:1:1:1:1"
    assert _ntop6(raw([0xfd00, 0, 0, 0, 0, 0, 0, 2])) == "fd00::2"
    assert _ntop6(raw([1, 0, 0, 2, 0, 0, 0, 3])) == "1:0:0:2::3"
    assert _ntop6(raw([1, 2, 3, 4, 5, 6, 7, 0])) == "1:2:3:4:5:6:7:0"
