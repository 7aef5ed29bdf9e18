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

Writes happen between polls: they use `clock()` when given, else the
now_ms of the last poll. Instances belong to the hardware: Create and
Delete answer 4.05, and a Replace keeps the driver's resources.
"""
from micropython import const
from coap.numbers import BAD_REQUEST, METHOD_NOT_ALLOWED
from lwm2m.model import LwObject, Error
from lwm2m.defs import LIGHT_CONTROL

_UNITS = const(5701)
_COLOUR = const(5706)
_APP_TYPE = const(5750)
_POWER = const(5805)
_POWER_FACTOR = const(5820)
_ON_OFF = const(5850)
_DIMMER = const(5851)
_ON_TIME = const(5852)
_KEPT = (_COLOUR, _APP_TYPE)        # stored values a Replace may remove


class LightControl(LwObject):
    oid = 3311
    table = LIGHT_CONTROL

    def __init__(self, driver=None, clock=None, **options):
        """With `driver`, instance 0 is added as by `add(driver, **options)`.
        clock: optional monotonic milliseconds (callable) for writes."""
        LwObject.__init__(self)
        self._clock = clock
        self._now = 0               # now_ms of the last poll
        self._drivers = {}
        if driver is not None:
            self.add(driver, **options)

    def add(self, driver, iid=None, colour=None, app_type=None, units="Wh",
            power_factor=None):
        """Add an instance for `driver`; returns its instance ID."""
        if iid is None:
            iid = self.new_iid()
        inst = {_ON_OFF: bool(driver.on), _DIMMER: driver.dimmer, _ON_TIME: 0,
                _POWER: 0.0}
        if power_factor is not None:
            inst[_POWER_FACTOR] = float(power_factor)
        for rid, v in ((_COLOUR, colour), (_APP_TYPE, app_type), (_UNITS, units)):
            if v is not None:
                inst[rid] = v
        self.instances[iid] = inst
        self._drivers[iid] = driver
        return iid

    def now(self):
        return self._clock() if self._clock is not None else self._now

    def poll(self, now_ms):
        """Refresh the instances from their drivers."""
        self._now = now_ms
        for iid in self._drivers:
            self.refresh(iid, now_ms)

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

    def write(self, iid, rid, value):
        self.validate(iid, rid, value)
        LwObject.write(self, iid, rid, value)

    def written(self, iid, rid, value):
        d = self._drivers.get(iid)
        if d is None or rid in _KEPT:
            return
        now = self.now()
        if rid == _ON_OFF:
            d.set_on(value, now)
        elif rid == _DIMMER:
            d.set_dimmer(value, now)
        elif rid == _ON_TIME:
            d.reset_on_time(now)
        self.refresh(iid, now)

    def remove(self, iid, rid):
        if rid in _KEPT:            # the others are the driver's
            LwObject.remove(self, iid, rid)

    def create(self, iid, values):
        raise Error(METHOD_NOT_ALLOWED, "instances are lights")

    def delete(self, iid):
        raise Error(METHOD_NOT_ALLOWED, "instances are lights")
