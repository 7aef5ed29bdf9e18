"""Running a node under asyncio: network bring-up, a receive task, a step
timer driven by the engine's deadlines, driver polling, the watchdog, an
optional aiorepl; then the clean stop (de-register) outside asyncio.

    reason = aio.run(Runtime(node, board, log).main())   # STOP/REBOOT/FACTORY_RESET
    shutdown(node, board, log, timeout_ms)               # on STOP / Ctrl-C

Tasks (one event loop, nothing shared across threads):
- receive: waits until the socket is readable, feeds every waiting datagram
  to the engine, then wakes the stepper (the answer may have changed what
  is due: a notification, an executed Reboot);
- stepper: `node.step(now)` (drivers, engine, pending Device actions), feeds
  the watchdog, then sleeps until the earliest deadline, at most `poll_ms`
  (drivers are polled that often), or until woken;
- network (boards with Wi-Fi): brings the link up again when it drops and
  tells the engine its address may have changed (an Update follows);
- stop (optional): an fd that turns readable when the node must stop
  (firmware/main.py's SIGTERM bridge on the unix port).
"""
import asyncio
import gc
import aio
from transport.udp import wait_readable

STOP = "stop"
_BUF = 1280


class Runtime:
    def __init__(self, node, board, log, poll_ms=100, stop_fd=None, repl=False):
        self.node = node
        self.board = board
        self.log = log
        self.poll_ms = poll_ms
        self.stop_fd = stop_fd
        self.repl = repl
        self.wake = asyncio.Event()
        self.reason = None

    async def main(self):
        """Run until a Reboot/Factory Reset was executed or a stop was asked
        for; returns node.REBOOT, node.FACTORY_RESET or STOP."""
        await self.network_up()
        tasks = [asyncio.create_task(self.receive())]
        if self.board.network is not None:
            tasks.append(asyncio.create_task(self.network()))
        if self.stop_fd is not None:
            tasks.append(asyncio.create_task(self.stop_watch()))
        if self.repl:
            try:
                import aiorepl
                tasks.append(asyncio.create_task(aiorepl.task()))
            except ImportError:
                pass
        if self.board.start_watchdog():
            self.log.info("watchdog armed")
        try:
            await self.stepper()
        finally:
            for t in tasks:
                t.cancel()
            await aio.sleep_ms(0)
        return self.reason

    async def stepper(self):
        node, now_ms = self.node, self.board.now_ms
        while self.reason is None:
            now = now_ms()
            try:
                nxt = node.step(now)
            except Exception as e:      # noqa: BLE001 - e.g. MemoryError: the node goes on
                nxt = self._failed("step", e)
            self.board.feed()
            if node.action is not None:
                self.reason = node.action
                break
            wait = self.poll_ms if nxt is None else min(self.poll_ms, nxt - now_ms())
            self.wake.clear()
            if wait > 0:
                await aio.wait(self.wake, wait)
            else:
                await aio.sleep_ms(0)

    async def receive(self):
        transport, node, now_ms = self.board.transport, self.node, self.board.now_ms
        buf = bytearray(_BUF)
        mv = memoryview(buf)
        while True:
            await aio.readable(transport.sock)
            while True:
                got = transport.recv_into(buf)
                if got is None:
                    break
                try:
                    node.receive(mv[:got[0]], got[1], now_ms())
                except Exception as e:  # noqa: BLE001 - the datagram is dropped
                    self._failed("receive", e)
            self.wake.set()

    def _failed(self, what, error):
        """An exception out of the node (a MemoryError in a tight heap, a bug) is
        logged in one line -- type and text, never state -- and the node goes
        on: the next step retries what was due."""
        gc.collect()
        self.log.error("%s failed: %s %s" % (what, type(error).__name__, error))

    async def stop_watch(self):
        await aio.readable(self.stop_fd)
        self.log.info("stop requested")
        self.reason = STOP
        self.wake.set()

    async def network_up(self):
        """Bring the network up (boards), retrying with back-off."""
        link = self.board.network
        if link is None:
            return
        now_ms = self.board.now_ms
        self.log.info("network: connecting")
        tried = 0
        while not link.poll(now_ms()):
            self.board.feed()
            if link.total_attempts != tried:
                tried = link.total_attempts
                if link.last_error:
                    self.log.warning("network: %s (attempt %d)" % (link.last_error, tried))
            await aio.sleep_ms(min(link.next_poll_ms(now_ms()), 250))
        self.log.info("network: up, address %s" % link.address())

    async def network(self):
        link, now_ms = self.board.network, self.board.now_ms
        up = True
        while True:
            now = now_ms()
            is_up = link.poll(now)
            if is_up and not up:
                self.log.info("network: up again, address %s" % link.address())
                self.node.engine.address_changed()
                self.wake.set()
            elif up and not is_up:
                self.log.warning("network: down (%s)" % link.last_error)
            up = is_up
            await aio.sleep_ms(1000 if is_up else max(50, min(link.next_poll_ms(now), 1000)))


def shutdown(node, board, log, timeout_ms):
    """De-register from every server, blocking (no asyncio: this also runs
    after a KeyboardInterrupt ended the event loop). True when every server
    was told (or none was registered) within `timeout_ms`."""
    now_ms, transport = board.now_ms, board.transport
    node.stop(now_ms())
    end = now_ms() + timeout_ms
    buf = bytearray(_BUF)
    mv = memoryview(buf)
    while not node.stopped():
        now = now_ms()
        if now >= end:
            log.warning("de-registration timed out")
            return False
        nxt = node.engine.step(now)
        board.feed()
        if node.stopped():
            break
        wait = min(200, end - now) if nxt is None else max(0, min(200, end - now, nxt - now))
        if wait_readable(transport, wait):
            while True:
                got = transport.recv_into(buf)
                if got is None:
                    break
                node.receive(mv[:got[0]], got[1], now_ms())
    return True
