"""What both loopback interop suites with aiocoap (test_interop_aiocoap,
test_interop_oscore) share: BIG, the 4096-byte body of tools/coapd.py's /big
(and of the aiocoap side's /big), and Clock, an aiocoap observable resource
that counts up every 100 ms while observed."""
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

