"""The few asyncio calls the firmware needs, on MicroPython and CPython.

    await readable(sock_or_fd)    # until it can be read
    await wait(event, ms)         # Event.wait with a timeout: True if set
    await sleep_ms(ms)
    run(coro)                     # a fresh event loop each time (reboots)

MicroPython: `yield asyncio.core._io_queue.queue_read(obj)` inside the
coroutine (what asyncio's own streams do; obj: a socket or an int fd).
CPython: the loop's add_reader().
"""
import asyncio

try:
    from asyncio import core as _core       # MicroPython only
except ImportError:
    _core = None

if _core is not None:
    async def readable(obj):
        yield _core._io_queue.queue_read(obj)

    async def wait(event, ms):
        if event.is_set():
            return True
        try:
            await asyncio.wait_for_ms(event.wait(), max(1, ms))
            return True
        except asyncio.TimeoutError:
            return False

    sleep_ms = asyncio.sleep_ms

    def run(coro):
        asyncio.new_event_loop()            # drop tasks a previous run left
        return asyncio.run(coro)
else:
    async def readable(obj):
        loop = asyncio.get_running_loop()
        fd = obj if isinstance(obj, int) else obj.fileno()
        fut = loop.create_future()

        def ready():
            if not fut.done():
                fut.set_result(None)
        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)

    async def wait(event, ms):
        if event.is_set():
            return True
        try:
            await asyncio.wait_for(event.wait(), max(1, ms) / 1000)
            return True
        except asyncio.TimeoutError:
            return False

    async def sleep_ms(ms):
        await asyncio.sleep(ms / 1000)

    def run(coro):
        return asyncio.run(coro)
