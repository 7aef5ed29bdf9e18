"""Base of the IPSO objects whose instances are device drivers (Light Control
3311, On/Off Switch 3342): `Driven`.

A subclass builds an instance's values in its `add()` and hands them to
`attach(iid, driver, values)`; it defines `refresh(iid, now_ms)` (copy the
driver's state in with `set()`, so observers hear only of real changes),
`act(driver, rid, value, now_ms)` (a server wrote `rid`: drive the
hardware), `validate()` as usual and `KEPT`, the resources stored as written
(a Replace may remove only those; the others are the driver's). Here:
`poll(now_ms)` polls the drivers that have a `poll(now_ms)` and refreshes
every instance; a server Write is validated also when it comes through
`write()` directly, acted on, then refreshed. Writes happen between polls:
they use `clock()` when given, else the now_ms of the last poll. Instances
belong to the hardware: Create and Delete answer 4.05.
"""
from coap.numbers import METHOD_NOT_ALLOWED
from lwm2m.model import LwObject, Error


class Driven(LwObject):
    KEPT = ()

    def __init__(self, clock=None):
        """clock: optional monotonic milliseconds (callable) for writes."""
        LwObject.__init__(self)
        self._clock = clock
        self._now = 0               # now_ms of the last poll
        self._drivers = {}

    def attach(self, iid, driver, values):
        """Instance `iid` (None: the next free one) of `driver`; returns it."""
        if iid is None:
            iid = self.new_iid()
        self.instances[iid] = values
        self._drivers[iid] = driver
        return iid

    def now(self):
        return self._clock() if self._clock is not None else self._now

    def poll(self, now_ms):
        """Poll the drivers and refresh the instances."""
        self._now = now_ms
        for iid, d in self._drivers.items():
            if hasattr(d, "poll"):
                d.poll(now_ms)
            self.refresh(iid, now_ms)

    def refresh(self, iid, now_ms):
        pass

    def act(self, driver, rid, value, now_ms):
        pass

    def write(self, iid, rid, value):
        self.validate(iid, rid, value)
        LwObject.write(self, iid, rid, value)

    def written(self, iid, rid, value):
        d = self._drivers.get(iid)
        if d is None or rid in self.KEPT:
            return
        now = self.now()
        self.act(d, rid, value, now)
        self.refresh(iid, now)

    def remove(self, iid, rid):
        if rid in self.KEPT:
            LwObject.remove(self, iid, rid)

    def create(self, iid, values):
        raise Error(METHOD_NOT_ALLOWED, "instances are hardware")

    def delete(self, iid):
        raise Error(METHOD_NOT_ALLOWED, "instances are hardware")
