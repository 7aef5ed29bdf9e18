"""Drivers: what runs the sans-IO server and makes `Server.wait()` block.

Owns: `UdpDriver` (a UDP socket and the blocking `transport.runner.Runner`,
for the console and scripts) and `RadioDriver` (the fake radio of
tools/sim/radio.py and its virtual clock, for tests). A driver has
`now_ms()`, `run(until, timeout_ms) -> bool` and `wake()`; `attach()` hands
them to the server (its clock for requests started outside receive/step,
and a wake-up so the radio steps it for retransmissions).
"""
from transport.runner import Runner, now_ms as _monotonic_ms


def attach(server, driver):
    server.driver = driver
    server.clock = driver.now_ms
    server.wake = driver.wake
    return driver


class UdpDriver:
    """Runs `server` on a bound UdpTransport."""

    def __init__(self, server, transport):
        self.server = server
        self.transport = transport
        self.runner = Runner(transport, server)
        attach(server, self)

    def now_ms(self):
        return _monotonic_ms()

    def wake(self):
        pass                        # run() steps the server before it waits

    def run(self, until=None, timeout_ms=None):
        """Serve until `until()` is true (True) or timeout_ms passes (False)."""
        return self.runner.run(until, timeout_ms)

    def poll(self, wait_ms):
        """Wait up to wait_ms for datagrams, handle them, step; next deadline."""
        return self.runner.poll(wait_ms)


class RadioDriver:
    """Runs a server attached to the fake radio at `addr`."""

    def __init__(self, server, radio, addr):
        self.server = server
        self.radio = radio
        self.addr = addr
        attach(server, self)

    def now_ms(self):
        return self.radio.now_ms

    def wake(self):
        self.radio.wake(self.addr)

    def run(self, until=None, timeout_ms=None):
        limit = 3600000 if timeout_ms is None else timeout_ms
        if until is None:
            self.radio.run_for(limit)
            return False
        if until():
            return True
        self.radio.run_while(lambda: not until(), limit)
        return until()
