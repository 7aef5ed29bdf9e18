"""A UDP NAT on loopback with the nodes inside and the server outside,
recording every datagram it carries: what really travels between the
nodes (make demo, the C2C end-to-end test).

    nat = Nat(server=("127.0.0.1", 5683))
    pub = nat.add("switch", ("127.0.0.1", 5701))   # the node's public address
    # every inside node registers at nat.server_uri(); the server (and every
    # peer it tells) sees each node at its public address
    hub.add(nat)                 # a select() loop: nat.socks(), nat.handle(sock)
    nat.between("light", "switch")   # [Datagram(t_ns, src, dst, data)]

Like a home router, with hairpinning: what an inside node sends to
`server_port` leaves from the node's public socket to the server, and
what the server sends to that public socket reaches the node from
`server_port` -- so all nodes share one server URI, and the server hint of
one node is valid for another. What an inside node sends to another's
public address reaches that node from the sender's public address (both
sides see each other as the server does). Datagrams from anyone else are
dropped. `src`/`dst` in the log are the nodes' names and "server". No
retransmission, reordering or loss of its own -- unless given `delay`:

    nat = Nat(server, delay=fn)   # fn(src, dst, data) -> seconds to hold it, None: drop
    hub.add(nat)                  # Hub.run() wakes at nat.wait_ms(), calls nat.flush()

Each datagram is then held for what `fn` says (per path: src/dst are names,
"server" included) in a bounded queue (`queue` datagrams; one more is dropped)
and sent when due by flush() from the same select() loop -- no threads, no
sleeping. `dropped` counts what fn or a full queue dropped; the log has the
datagrams at the time they were sent on (delivered). Without `delay` every
datagram is sent on at once, as before (wait_ms() None, flush() nothing).
"""
import heapq
import socket
import time


class Datagram:
    __slots__ = ("t_ns", "src", "dst", "data")

    def __init__(self, t_ns, src, dst, data):
        self.t_ns = t_ns
        self.src = src
        self.dst = dst
        self.data = data


class Nat:
    def __init__(self, server, host="127.0.0.1", delay=None, queue=256):
        self.server = server
        self.host = host
        self.delay = delay
        self.queue = queue
        self.dropped = 0
        self._held = []             # heap: (due monotonic s, seq, sock, dst, data, src, dst name)
        self._seq = 0
        self._to_server = self._bind()      # the inside nodes' view of the server
        self.inside = {}            # inside address -> name
        self.public = {}            # name -> public socket
        self._owner = {}            # public socket -> (name, inside address)
        self.log = []

    def _bind(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.host, 0))
        s.setblocking(False)
        return s

    @property
    def server_port(self):
        return self._to_server.getsockname()[1]

    def server_uri(self):
        return "coap://%s:%d" % (self.host, self.server_port)

    def add(self, name, address):
        """Put node `name` (bound at `address`) inside; its public (host, port)."""
        s = self._bind()
        self.inside[tuple(address)] = name
        self.public[name] = s
        self._owner[s] = (name, tuple(address))
        return s.getsockname()

    def uri(self, name):
        """Node `name`'s URI as the server and the other nodes see it."""
        return "coap://%s:%d" % self.public[name].getsockname()

    def socks(self):
        return [self._to_server] + list(self._owner)

    def handle(self, sock):
        """Pass on every datagram waiting on `sock` (one of socks())."""
        while True:
            try:
                data, src = sock.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError:             # ICMP port unreachable from an earlier send
                continue
            sender = self.inside.get(src)
            if sock is self._to_server:
                if sender is not None:
                    self._pass(self.public[sender], self.server, data, sender, "server")
                continue
            name, address = self._owner[sock]
            if src == self.server:
                self._pass(self._to_server, address, data, "server", name)
            elif sender is not None:
                self._pass(self.public[sender], address, data, sender, name)

    def _pass(self, sock, dst, data, src_name, dst_name):
        if self.delay is not None:
            hold = self.delay(src_name, dst_name, data)
            if hold is None or len(self._held) >= self.queue:
                self.dropped += 1
                return
            self._seq += 1
            heapq.heappush(self._held, (time.monotonic() + hold, self._seq, sock, dst, data,
                                        src_name, dst_name))
            return
        self._send(sock, dst, data, src_name, dst_name)

    def wait_ms(self):
        """Milliseconds until the next held datagram is due (0: now), None: none held."""
        if not self._held:
            return None
        return max(0.0, (self._held[0][0] - time.monotonic()) * 1000)

    def flush(self):
        """Send on every held datagram that is due."""
        now = time.monotonic()
        while self._held and self._held[0][0] <= now:
            _, _, sock, dst, data, src_name, dst_name = heapq.heappop(self._held)
            self._send(sock, dst, data, src_name, dst_name)

    def _send(self, sock, dst, data, src_name, dst_name):
        self.log.append(Datagram(time.time_ns(), src_name, dst_name, data))
        try:
            sock.sendto(data, dst)
        except OSError:
            pass                        # the other side is gone: a lost datagram

    def between(self, a, b, since_ns=0):
        """The datagrams `a` sent to `b` (names) from `since_ns` on, oldest first."""
        return [d for d in list(self.log) if d.src == a and d.dst == b and d.t_ns >= since_ns]

    def close(self):
        for s in self.socks():
            s.close()
