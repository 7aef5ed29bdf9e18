"""IPSO Temperature object (3303): one instance per sensor driver.

    temp = Temperature(DS18B20(ow), period_ms=10000)   # instance 0
    temp.add(SHT3x(i2c), app_type="outdoor")           # instance 1
    deadline = temp.poll(now_ms)                       # main loop

A driver has `read()` -> degC (float), raising on failure, and may have the
non-blocking pair `start(now_ms)` / `ready(now_ms)` (lib/drivers), optional
`MIN_C`/`MAX_C` (5603/5604) and `conversion_ms`. `poll()` starts a
measurement every `period_ms`, reads it once the driver is ready, rounds it
to `resolution` degC (default: the DS18B20 step from its `resolution` bits,
else 0.01) and stores Sensor Value 5700 and Min/Max Measured 5601/5602 with
`set()`, so observers hear only of real changes. A failed measurement is
counted (`sensor(iid).errors`, `.last_error`) and the last good value kept.

Sensor Value is absent (Read 4.04) until the first good measurement: no
made-up reading is reported. Reset Min and Max (5605) sets both to the
current value. Instances belong to the hardware: Create and Delete answer
4.05.
"""
from micropython import const
from coap.numbers import METHOD_NOT_ALLOWED
from lwm2m.model import LwObject, Error
from lwm2m.defs import TEMPERATURE

_MIN_MEASURED = const(5601)
_MAX_MEASURED = const(5602)
_MIN_RANGE = const(5603)
_MAX_RANGE = const(5604)
_RESET_MIN_MAX = const(5605)
_VALUE = const(5700)
_UNITS = const(5701)
_APP_TYPE = const(5750)


def _digits(step):
    d = 0
    while d < 6 and abs(step * 10 ** d - round(step * 10 ** d)) > 1e-9:
        d += 1
    return d


class _Sensor:
    """Sampling state of one instance."""

    def __init__(self, driver, period_ms, step):
        self.driver = driver
        self.period_ms = period_ms
        self.step = step
        self.digits = _digits(step)
        self.next = None            # now_ms of the next start, None: at once
        self.busy = False           # a measurement was started ...
        self.started = 0            # ... at this now_ms
        self.errors = 0
        self.last_error = None

    def round(self, celsius):
        return round(round(celsius / self.step) * self.step, self.digits)


class Temperature(LwObject):
    oid = 3303
    table = TEMPERATURE

    def __init__(self, driver=None, **options):
        """With `driver`, instance 0 is added as by `add(driver, **options)`."""
        LwObject.__init__(self)
        self._sensors = {}
        if driver is not None:
            self.add(driver, **options)

    def add(self, driver, iid=None, period_ms=10000, resolution=None,
            app_type=None, units="Cel", min_range=None, max_range=None):
        """Add an instance sampling `driver`; returns its instance ID."""
        if iid is None:
            iid = self.new_iid()
        if resolution is None:
            bits = getattr(driver, "resolution", None)
            resolution = 0.5 / (1 << (bits - 9)) if bits in (9, 10, 11, 12) else 0.01
        inst = {_RESET_MIN_MAX: None, _UNITS: units}
        for rid, v in ((_MIN_RANGE, min_range if min_range is not None
                        else getattr(driver, "MIN_C", None)),
                       (_MAX_RANGE, max_range if max_range is not None
                        else getattr(driver, "MAX_C", None)),
                       (_APP_TYPE, app_type)):
            if v is not None:
                inst[rid] = v if rid == _APP_TYPE else float(v)
        self.instances[iid] = inst
        self._sensors[iid] = _Sensor(driver, period_ms, resolution)
        return iid

    def sensor(self, iid):
        """The sampling state of instance `iid` (driver, errors, last_error)."""
        return self._sensors[iid]

    def poll(self, now_ms):
        """Sample what is due; returns the now_ms at which to poll again
        (None without sensors)."""
        due = None
        for iid, s in self._sensors.items():
            t = self._poll(iid, s, now_ms)
            if due is None or t < due:
                due = t
        return due

    def _poll(self, iid, s, now_ms):
        d = s.driver
        try:
            if not s.busy:
                if s.next is not None and now_ms < s.next:
                    return s.next
                s.next = now_ms + s.period_ms
                if hasattr(d, "start"):
                    d.start(now_ms)
                s.busy = True
                s.started = now_ms
            if hasattr(d, "ready") and not d.ready(now_ms):
                if now_ms - s.started >= s.period_ms:
                    raise OSError("timeout")    # never became ready
                return max(now_ms + 1, s.started + getattr(d, "conversion_ms", 1))
            s.busy = False
            value = s.round(d.read())
        except Exception as e:      # SensorError, OSError: keep the last good value
            s.busy = False
            s.errors += 1
            s.last_error = e
            return s.next
        self.measured(iid, value)
        return s.next

    def measured(self, iid, value):
        """Record a measurement (degC) in instance `iid`: 5700, 5601, 5602."""
        inst = self.instance(iid)
        self.set(iid, _VALUE, value)
        lo, hi = inst.get(_MIN_MEASURED), inst.get(_MAX_MEASURED)
        if lo is None or value < lo:
            self.set(iid, _MIN_MEASURED, value)
        if hi is None or value > hi:
            self.set(iid, _MAX_MEASURED, value)

    def execute(self, iid, rid, args):
        inst = self.instance(iid)
        if rid != _RESET_MIN_MAX:
            raise Error(METHOD_NOT_ALLOWED, "not executable")
        value = inst.get(_VALUE)
        if value is None:
            inst.pop(_MIN_MEASURED, None)
            inst.pop(_MAX_MEASURED, None)
        else:
            self.set(iid, _MIN_MEASURED, value)
            self.set(iid, _MAX_MEASURED, value)

    def create(self, iid, values):
        raise Error(METHOD_NOT_ALLOWED, "instances are sensors")

    def delete(self, iid):
        raise Error(METHOD_NOT_ALLOWED, "instances are sensors")
