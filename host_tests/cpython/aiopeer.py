"""What both loopback interop suites with aiocoap (test_interop_aiocoap,
test_interop_oscore) share: BIG, the 4096-byte body of tools/coapd.py's /big
(and of the aiocoap side's /big), Clock, an aiocoap observable resource
that counts up every 100 ms while observed, and observe(), an aiocoap client
observing a counter."""
import asyncio

import aiocoap
import aiocoap.resource as resource

BIG = b"".join(b"%04d 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV\n"
               % i for i in range(64))


class Clock(resource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.value = 0
        self.task = None

    def update_observation_count(self, count):
        if count and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.tick())

    async def tick(self):
        while True:
            await asyncio.sleep(0.1)
            self.value += 1
            self.updated_state()

    async def render_get(self, request):
        return aiocoap.Message(payload=b"%d" % self.value, content_format=0)



async def observe(ctx, uri, n=5):
    """GET `uri` with Observe from aiocoap context `ctx` until `n` values (the
    response's included) came; the observation is then cancelled. Returns
    (the first response, [the n values as int])."""
    req = ctx.request(aiocoap.Message(code=aiocoap.GET, uri=uri, observe=0))
    first = await req.response
    values = [int(first.payload)]
    async for note in req.observation:
        values.append(int(note.payload))
        if len(values) == n:
            req.observation.cancel()
            break
    return first, values
