"""A hand-driven wire for message-layer unit tests: datagrams wait in a list
until the test delivers, drops or inspects them (the fake radio in tools/sim
is for timing, loss and topology)."""
from coap.message import decode


class Wire:
    def __init__(self):
        self.queue = []          # (src, dst, bytes)
        self.nodes = {}

    def transport(self, addr):
        wire = self

        class _T:
            def send(self, peer, data):
                wire.queue.append((addr, peer, bytes(data)))
        return _T()

    def attach(self, addr, endpoint):
        self.nodes[addr] = endpoint

    def take(self):
        """Remove and return the queued datagrams as decoded (src, dst, msg)."""
        out = [(s, d, decode(b)) for s, d, b in self.queue]
        self.queue = []
        return out

    def deliver(self, now_ms, drop=None):
        """Deliver everything queued (and what that triggers); `drop(src, dst,
        msg)` returning True loses a datagram. Returns the number delivered."""
        n = 0
        while self.queue:
            src, dst, data = self.queue.pop(0)
            if drop is not None and drop(src, dst, decode(data)):
                continue
            self.nodes[dst].receive(data, src, now_ms)
            n += 1
        return n


class Recorder:
    """Collects (response, error) pairs passed to a request callback."""

    def __init__(self):
        self.calls = []

    def __call__(self, response, error):
        self.calls.append((response, error))
