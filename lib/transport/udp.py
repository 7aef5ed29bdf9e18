"""Non-blocking UDP transport for the unix port, boards and CPython.

Owns one UDP socket: binding, sending to ("host", port) peers (resolved once, cached),
non-blocking receive into a caller's buffer, and turning whatever the interpreter reports
as the sender into a plain ("host", port) tuple. Network errors are counted, never raised:
a datagram that cannot go out is simply dropped, as on the air.

Peers are always ("host", port) with host a numeric string, the same on every
interpreter: "127.0.0.1", "::1", "fd00::2". IPv4-mapped senders seen on a dual-stack
socket ("::ffff:10.0.0.1") are reported as plain IPv4 ("10.0.0.1"), and IPv4 peers given to
an IPv6 socket are mapped back on send.

MicroPython quirks handled here (checked on the unix port, 1.28/1.29):
- `recvfrom` returns the sender as raw `struct sockaddr` bytes, not a tuple: decoded
  with struct (AF_INET: port at 2, address at 4..8; AF_INET6: port at 2, address 8..24).
- `getaddrinfo(host, port, af, type)` returns the sockaddr as a bytearray, accepted by
  `bind`/`sendto`; unknown names raise a plain OSError("[addrinfo error -2]").
- sockets have no `getsockname` and no `recvfrom_into`: binding to port 0 picks a random
  free port in 49152..65535 itself (so `local_address()` is known) and `recv_into`
  receives then copies.
- an empty non-blocking socket raises OSError(EAGAIN).
"""
import struct

try:
    import socket
except ImportError:  # pragma: no cover - old MicroPython ports
    import usocket as socket
try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select
try:
    import errno
except ImportError:  # pragma: no cover
    import uerrno as errno
import os
from micropython import const

_CACHE_SIZE = const(16)      # resolved peers / decoded senders kept; cleared when full
_BIND_TRIES = const(32)      # random ports tried when binding port 0 without getsockname
_EPHEMERAL_LO = const(49152)
_AGAIN = (getattr(errno, "EAGAIN", 11), getattr(errno, "EWOULDBLOCK", 11),
          getattr(errno, "ETIMEDOUT", 110))
_MAPPED = b"\0\0\0\0\0\0\0\0\0\0\xff\xff"


def _errno(exc):
    """errno of an OSError; MicroPython's resolver errors "[addrinfo error -2]" give -2."""
    code = exc.args[0] if exc.args else None
    if isinstance(code, str):
        try:
            code = int(code.rstrip("]").split()[-1])
        except (ValueError, IndexError):
            pass
    return code


def _ntop6(raw):
    """RFC 5952 text of 16 address bytes (used when socket.inet_ntop is missing)."""
    words = struct.unpack("!8H", raw)
    best, best_len, i = -1, 1, 0
    while i < 8:                    # longest run (>= 2) of zero words
        j = i
        while j < 8 and words[j] == 0:
            j += 1
        if j - i > best_len:
            best, best_len = i, j - i
        i = j + 1 if j == i else j
    if best < 0:
        return ":".join("%x" % w for w in words)
    head = ":".join("%x" % w for w in words[:best])
    tail = ":".join("%x" % w for w in words[best + best_len:])
    return head + "::" + tail


def _host6(raw):
    raw = bytes(raw)
    if raw[:12] == _MAPPED:
        return "%d.%d.%d.%d" % tuple(raw[12:16])
    ntop = getattr(socket, "inet_ntop", None)
    return ntop(socket.AF_INET6, raw) if ntop else _ntop6(raw)


def peer_of(addr):
    """Normalize a sender address (tuple or raw sockaddr bytes) to ("host", port)."""
    if isinstance(addr, tuple):
        host = addr[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        return (host, addr[1])
    b = bytes(addr)
    fam = struct.unpack_from("H", b, 0)[0]          # Linux: native-endian sa_family
    if fam != socket.AF_INET and fam != socket.AF_INET6:
        fam = b[1]                                  # BSD: sa_len, sa_family bytes
    port = struct.unpack_from("!H", b, 2)[0]
    if fam == socket.AF_INET:
        return ("%d.%d.%d.%d" % tuple(b[4:8]), port)
    if fam == socket.AF_INET6:
        return (_host6(b[8:24]), port)
    raise ValueError("unknown address family %d" % fam)


def _resolve(host, port, family):
    """(family, sockaddr) of the first UDP address for host; OSError when none."""
    for ai in socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM):
        if ai[0] == socket.AF_INET or ai[0] == socket.AF_INET6:
            return ai[0], ai[-1]
    raise OSError(getattr(errno, "EHOSTUNREACH", 113))


def resolve_peer(host, port, family=0):
    """("numeric host", port) for a name or address, so it matches what
    `recv_into` reports for the same peer. Raises OSError when unknown."""
    return peer_of(_resolve(host, port, family)[1])


class UdpTransport:
    """A bound, non-blocking UDP socket.

    bind:   (host, port) to bind; host picks the family ("0.0.0.0"/"127.0.0.1" IPv4,
            "::"/"::1" IPv6, "::" being dual-stack where the OS allows); port 0 = any.
    family: force socket.AF_INET / AF_INET6 when host is a name (default: first result).

    Counters: sent, received, tx_errors, rx_errors; last_error is the errno of the last
    failure, or a negative getaddrinfo code (EAI_*) when resolving failed. Attributes:
    sock, family.
    """

    def __init__(self, bind=("0.0.0.0", 0), family=0):
        host, port = bind[0], bind[1]
        self.family, sockaddr = _resolve(host, port, family)
        self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.sent = self.received = self.tx_errors = self.rx_errors = 0
        self.last_error = None
        self._out = {}          # peer -> sockaddr for sendto
        self._in = {}           # raw sender address -> peer tuple
        self._poller = None
        try:
            if port == 0 and not hasattr(self.sock, "getsockname"):
                port = self._bind_random(host)
            else:
                self.sock.bind(sockaddr)
            self.sock.setblocking(False)
        except Exception:
            self.sock.close()
            raise
        self._local = (peer_of((host, 0))[0], port)

    def _bind_random(self, host):
        last = None
        for _ in range(_BIND_TRIES):
            r = os.urandom(2)
            port = _EPHEMERAL_LO + (r[0] << 8 | r[1]) % (65536 - _EPHEMERAL_LO)
            try:
                self.sock.bind(_resolve(host, port, self.family)[1])
                return port
            except OSError as e:
                last = e
                if _errno(e) != errno.EADDRINUSE:
                    raise
        raise last

    def local_address(self):
        """(host, port) this socket is bound to (host as bound, e.g. "0.0.0.0")."""
        if hasattr(self.sock, "getsockname"):
            return peer_of(self.sock.getsockname())
        return self._local

    def fileno(self):
        return self.sock.fileno()

    def _sockaddr(self, peer):
        sa = self._out.get(peer)
        if sa is None:
            host = peer[0]
            if self.family == socket.AF_INET6 and "." in host and ":" not in host:
                host = "::ffff:" + host
            sa = _resolve(host, peer[1], self.family)[1]
            if len(self._out) >= _CACHE_SIZE:
                self._out.clear()
            self._out[peer] = sa
        return sa

    def send(self, peer, datagram):
        """Send datagram (bytes-like) to peer ("host", port); True if it left the socket.

        Never raises: resolution failures, EAGAIN, EHOSTUNREACH, a closed transport...
        are counted in tx_errors/last_error and the datagram is dropped. Names are
        resolved (blocking) once and cached; use numeric hosts on hot paths.
        """
        try:
            if self.sock is None:
                raise OSError(errno.EBADF)
            self.sock.sendto(datagram, self._sockaddr(peer))
        except OSError as e:
            self.tx_errors += 1
            self.last_error = _errno(e)
            return False
        self.sent += 1
        return True

    def recv_into(self, buf):
        """Receive one datagram into buf (bytearray/memoryview) without blocking.

        Returns (nbytes, peer) or None when nothing is waiting (errors such as an ICMP
        ECONNREFUSED are counted in rx_errors and also give None). A datagram longer than
        buf is truncated to len(buf).
        """
        sock = self.sock
        try:
            if sock is None:
                return None
            into = getattr(sock, "recvfrom_into", None)
            if into is not None:
                n, addr = into(buf)
            else:
                data, addr = sock.recvfrom(len(buf))
                n = len(data)
                buf[:n] = data
        except OSError as e:
            code = _errno(e)
            if code not in _AGAIN:
                self.rx_errors += 1
                self.last_error = code
            return None
        peer = self._in.get(addr)
        if peer is None:
            peer = peer_of(addr)
            if len(self._in) >= _CACHE_SIZE:
                self._in.clear()
            self._in[addr] = peer
            if peer not in self._out and len(self._out) < _CACHE_SIZE:
                self._out[peer] = addr          # reply without resolving
        self.received += 1
        return n, peer

    def poller(self):
        """A select.poll() with this socket registered for reading (made once)."""
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN)
        return self._poller

    def close(self):
        """Close the socket (idempotent); later sends count as errors, receives give None."""
        if self.sock is not None:
            if self._poller is not None:
                try:
                    self._poller.unregister(self.sock)
                except (OSError, KeyError, ValueError):
                    pass
                self._poller = None
            self.sock.close()
            self.sock = None


def wait_readable(transport, timeout_ms):
    """Block up to timeout_ms (-1 = forever) until transport has a datagram; True if so.

    For host tools and blocking scripts; firmware uses asyncio instead.
    """
    if transport.sock is None:
        return False
    for _obj, ev in transport.poller().poll(timeout_ms):
        if ev & (select.POLLIN | getattr(select, "POLLERR", 8)):
            return True
    return False
