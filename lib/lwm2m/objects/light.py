"""IPSO Light Control object (3311): one instance per light driver.

    lc = LightControl(Light(pin, pwm, rated_w=5.0), clock=now_ms)   # instance 0
    lc.poll(now_ms)                                                 # main loop

The driver has the interface of lib/drivers/light.py: `on`, `dimmer`,
`set_on(on, now_ms)`, `set_dimmer(percent, now_ms)`, `on_time(now_ms)`,
`reset_on_time(now_ms)`, `energy_wh(now_ms)`. A server Write acts through
`written()`: On/Off 5850 and Dimmer 5851 (integer 0..100, else 4.00) drive
the light, On Time 5852 accepts only 0 (reset; else 4.00). Colour 5706 and
Application Type 5750 are kept as written. `poll()` copies the driver's
state, On Time (s) and Cumulative Active Power 5805 (Wh, 3 decimals) in
with `set()`, so observers hear only of real changes (also of a light
switched locally through the driver). Power Factor 5820 is a constant
given by the board (absent when unknown); Sensor Units 5701 name the unit
of 5805.

Polling, writes between polls, Create/Delete (4.05) and Replace (keeps the
driver's resources): lwm2m.objects.driven.
"""
from micropython import const
from coap.numbers import BAD_REQUEST
from lwm2m.model import Error
from lwm2m.defs import LIGHT_CONTROL
from lwm2m.objects.driven import Driven

_UNITS = const(5701)
_COLOUR = const(5706)
_APP_TYPE = const(5750)
_POWER = const(5805)
_POWER_FACTOR = const(5820)
_ON_OFF = const(5850)
_DIMMER = const(5851)
_ON_TIME = const(5852)


class LightControl(Driven):
    oid = 3311
    table = LIGHT_CONTROL
    KEPT = (_COLOUR, _APP_TYPE)

    def __init__(self, driver=None, clock=None, **options):
        """With `driver`, instance 0 is added as by `add(driver, **options)`.
        clock: optional monotonic milliseconds (callable) for writes."""
        Driven.__init__(self, clock)
        if driver is not None:
            self.add(driver, **options)

    def add(self, driver, iid=None, colour=None, app_type=None, units="Wh",
            power_factor=None):
        """Add an instance for `driver`; returns its instance ID."""
        inst = {_ON_OFF: bool(driver.on), _DIMMER: driver.dimmer, _ON_TIME: 0,
                _POWER: 0.0}
        if power_factor is not None:
            inst[_POWER_FACTOR] = float(power_factor)
        for rid, v in ((_COLOUR, colour), (_APP_TYPE, app_type), (_UNITS, units)):
            if v is not None:
                inst[rid] = v
        return self.attach(iid, driver, inst)

    def refresh(self, iid, now_ms):
        d = self._drivers[iid]
        self.set(iid, _ON_OFF, bool(d.on))
        self.set(iid, _DIMMER, d.dimmer)
        self.set(iid, _ON_TIME, d.on_time(now_ms))
        self.set(iid, _POWER, round(float(d.energy_wh(now_ms)), 3))

    def validate(self, iid, rid, value):
        """Error(4.00) unless a server may store `value` in `rid`."""
        if rid == _DIMMER and not 0 <= value <= 100:
            raise Error(BAD_REQUEST, "dimmer is 0..100")
        if rid == _ON_TIME and value != 0:
            raise Error(BAD_REQUEST, "only 0 (reset) may be written")

    def act(self, d, rid, value, now_ms):
        if rid == _ON_OFF:
            d.set_on(value, now_ms)
        elif rid == _DIMMER:
            d.set_dimmer(value, now_ms)
        elif rid == _ON_TIME:
            d.reset_on_time(now_ms)
