"""IPSO On/Off Switch object (3342): one instance per switch driver.

    sw = OnOffSwitch(Button(pin, active_low=True))     # instance 0
    sw.poll(now_ms)                                    # main loop, every few ms

The driver is a debounced input with the interface of lib/drivers/button.py
(`drivers.button.Switch`): `state`, `counter`, `on_time(now_ms)`,
`off_time(now_ms)`, `reset_on_time(now_ms)`, `reset_off_time(now_ms)` and,
if it has one, `poll(now_ms)` (called here first). `poll()` copies Digital
Input State 5500, Counter 5501, On Time 5852 and Off Time 5854 (seconds)
into the instance with `set()`, so observers hear only of real changes.

Writing 0 to 5852/5854 resets that time (any other value: 4.00). Polling,
writes between polls, Create/Delete (4.05) and Replace (keeps the driver's
resources): lwm2m.objects.driven.
"""
from micropython import const
from coap.numbers import BAD_REQUEST
from lwm2m.model import Error
from lwm2m.defs import ON_OFF_SWITCH
from lwm2m.objects.driven import Driven

_STATE = const(5500)
_COUNTER = const(5501)
_APP_TYPE = const(5750)
_ON_TIME = const(5852)
_OFF_TIME = const(5854)


class OnOffSwitch(Driven):
    oid = 3342
    table = ON_OFF_SWITCH
    KEPT = (_APP_TYPE,)

    def __init__(self, driver=None, clock=None, app_type=None):
        """With `driver`, instance 0 is added as by `add(driver, app_type)`.
        clock: optional monotonic milliseconds (callable) for writes."""
        Driven.__init__(self, clock)
        if driver is not None:
            self.add(driver, app_type=app_type)

    def add(self, driver, iid=None, app_type=None):
        """Add an instance for `driver`; returns its instance ID."""
        inst = {_STATE: bool(driver.state), _COUNTER: driver.counter,
                _ON_TIME: 0, _OFF_TIME: 0}
        if app_type is not None:
            inst[_APP_TYPE] = app_type
        return self.attach(iid, driver, inst)

    def refresh(self, iid, now_ms):
        d = self._drivers[iid]
        self.set(iid, _STATE, bool(d.state))
        self.set(iid, _COUNTER, d.counter)
        self.set(iid, _ON_TIME, d.on_time(now_ms))
        self.set(iid, _OFF_TIME, d.off_time(now_ms))

    def validate(self, iid, rid, value):
        """Error(4.00) unless a server may store `value` in `rid`."""
        if (rid == _ON_TIME or rid == _OFF_TIME) and value != 0:
            raise Error(BAD_REQUEST, "only 0 (reset) may be written")

    def act(self, d, rid, value, now_ms):
        if rid == _ON_TIME:
            d.reset_on_time(now_ms)
        elif rid == _OFF_TIME:
            d.reset_off_time(now_ms)
