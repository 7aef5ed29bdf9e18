"""A blocking driver for a sans-IO engine on a UDP transport.

For host tools and simple scripts (firmware uses asyncio): receive what
arrives, call `engine.step()` at its deadlines, until a condition holds or a
time limit passes. `now_ms()` is a monotonic millisecond clock on MicroPython
and CPython alike.
"""
import time
from transport.udp import wait_readable

try:
    _ticks = time.ticks_ms
    _diff = time.ticks_diff
except AttributeError:          # CPython
    def _ticks():
        return int(time.monotonic() * 1000)

    def _diff(a, b):
        return a - b

_origin = _ticks()
_last = 0


def now_ms():
    """Milliseconds since import; never goes backwards, does not wrap like ticks."""
    global _origin, _last
    t = _ticks()
    _last += _diff(t, _origin)
    _origin = t
    return _last


class Runner:
    def __init__(self, transport, engine, buffer_size=1280):
        self.transport = transport
        self.engine = engine
        self.buf = bytearray(buffer_size)

    def poll(self, wait_ms):
        """Wait up to `wait_ms` for datagrams, feed them, then step the engine.
        Returns the engine's next deadline."""
        if wait_readable(self.transport, max(0, wait_ms)):
            while True:
                got = self.transport.recv_into(self.buf)
                if got is None:
                    break
                n, peer = got
                self.engine.receive(memoryview(self.buf)[:n], peer, now_ms())
        return self.engine.step(now_ms())

    def run(self, until=None, timeout_ms=None):
        """Run until `until()` is true or `timeout_ms` passes (None: forever).
        Returns True when the condition was met."""
        end = None if timeout_ms is None else now_ms() + timeout_ms
        deadline = self.engine.step(now_ms())
        while True:
            if until is not None and until():
                return True
            now = now_ms()
            if end is not None and now >= end:
                return False
            wait = 1000 if deadline is None else deadline - now
            if end is not None:
                wait = min(wait, end - now)
            deadline = self.poll(wait)
