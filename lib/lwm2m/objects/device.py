"""LwM2M Device object (3, version 1.1): the node's identity, power, memory,
error codes and clock.

    dev = Device(now_ms, manufacturer="ACME", model="node-1", serial="42",
                 firmware="0.3", reboot=machine.reset, battery=read_pct,
                 power_sources=((1, read_mv, None), 5))
    dev.pending            # "reboot" / "factory-reset" after an Execute
    dev.run_pending()      # firmware/engine: once the 2.04 went out

Board facts arrive as keyword arguments (`Device(clock, **facts)`). Values
that change (battery 9, memory free 10, power voltage/current 7/8, current
time 13) are computed on Read; the rest is held in the instance.

Reboot (4) and Factory Reset (5) never act inside the request handler: an
Execute only records `pending`; `run_pending()` calls the callback after
the response has been sent. Factory Reset exists only when a callback does.

Current Time (13): boards have no real-time clock, so the resource is not
instantiated until a server Write or `set_time()` (NTP) gives the time:
until then a Read of /3/0/13 answers 4.04 Not Found (the TS answer for an
absent optional resource) and an instance Read omits it, so no 1970 value is
ever reported. Once set, the time is kept as an offset to the monotonic
millisecond clock passed in and advances with it.

Error Code (11) follows the resource description: one instance 0 = 0 when
all is well, one instance per active error otherwise (`add_error()`,
`clear_error()`); Reset Error Code (12) goes back to {0: 0}.
"""
import gc
from micropython import const
from coap.numbers import BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED
from lwm2m.model import LwObject, Error
from lwm2m.defs import DEVICE

_MANUFACTURER = const(0)
_MODEL = const(1)
_SERIAL = const(2)
_FIRMWARE = const(3)
_REBOOT = const(4)
_FACTORY_RESET = const(5)
_POWER_SOURCES = const(6)
_POWER_VOLTAGE = const(7)
_POWER_CURRENT = const(8)
_BATTERY = const(9)
_MEM_FREE = const(10)
_ERROR_CODE = const(11)
_RESET_ERROR_CODE = const(12)
_CURRENT_TIME = const(13)
_UTC_OFFSET = const(14)
_TIMEZONE = const(15)
_BINDING = const(16)
_MEM_TOTAL = const(21)

REBOOT = "reboot"
FACTORY_RESET = "factory-reset"

# Error Code (11) values
NO_ERROR = const(0)
LOW_BATTERY = const(1)
EXTERNAL_POWER_OFF = const(2)
GPS_FAILURE = const(3)
LOW_SIGNAL = const(4)
OUT_OF_MEMORY = const(5)
SMS_FAILURE = const(6)
IP_FAILURE = const(7)
PERIPHERAL_FAILURE = const(8)


def _value(v):
    return v() if callable(v) else v


class Device(LwObject):
    oid = 3
    table = DEVICE
    multiple = False

    def __init__(self, clock, manufacturer=None, model=None, serial=None,
                 firmware=None, reboot=None, factory_reset=None,
                 power_sources=(), battery=None, mem_free=None, mem_total=None,
                 binding="U", utc_offset=None, timezone=None):
        """clock: monotonic milliseconds (callable). reboot/factory_reset:
        callables run by `run_pending()`. power_sources: codes 0..7, or
        (code, mV, mA) tuples whose mV/mA are ints, callables or None.
        battery: callable -> percent. mem_free: callable -> bytes (default
        gc.mem_free where it exists). mem_total: bytes."""
        LwObject.__init__(self)
        self._clock = clock
        self._callbacks = {REBOOT: reboot, FACTORY_RESET: factory_reset}
        self._battery = battery
        self._mem_free = mem_free if mem_free is not None else getattr(gc, "mem_free", None)
        self._time_s = None         # UNIX time at clock() == _time_ms, None: unknown
        self._time_ms = 0
        self.pending = None         # REBOOT or FACTORY_RESET once executed
        inst = {_REBOOT: None, _RESET_ERROR_CODE: None,
                _ERROR_CODE: {0: NO_ERROR}, _BINDING: binding}
        for rid, v in ((_MANUFACTURER, manufacturer), (_MODEL, model),
                       (_SERIAL, serial), (_FIRMWARE, firmware),
                       (_UTC_OFFSET, utc_offset), (_TIMEZONE, timezone)):
            if v is not None:
                inst[rid] = v
        if factory_reset is not None:
            inst[_FACTORY_RESET] = None
        if battery is not None:
            inst[_BATTERY] = None
        if self._mem_free is not None:
            inst[_MEM_FREE] = None
        if mem_total is not None:
            inst[_MEM_TOTAL] = mem_total // 1024
        self._power = []            # [(code, mV, mA)] by resource instance ID
        for p in power_sources:
            p = p if isinstance(p, tuple) else (p, None, None)
            if not 0 <= p[0] <= 7:
                raise ValueError("power source code")
            self._power.append(p)
        if self._power:
            inst[_POWER_SOURCES] = dict((i, p[0]) for i, p in enumerate(self._power))
            for rid, k in ((_POWER_VOLTAGE, 1), (_POWER_CURRENT, 2)):
                if any(p[k] is not None for p in self._power):
                    inst[rid] = None
        self.instances[0] = inst

    # -- reads --------------------------------------------------------------
    def read(self, iid, rid):
        value = LwObject.read(self, iid, rid)
        if rid == _CURRENT_TIME:
            return self.time()
        if rid == _BATTERY:
            return max(0, min(100, int(self._battery())))
        if rid == _MEM_FREE:
            return self._mem_free() // 1024
        if rid == _POWER_VOLTAGE or rid == _POWER_CURRENT:
            k = 1 if rid == _POWER_VOLTAGE else 2
            return dict((i, int(_value(p[k]))) for i, p in enumerate(self._power)
                        if p[k] is not None)
        return value

    def time(self):
        """UNIX time in seconds, or None while unknown."""
        if self._time_s is None:
            return None
        return self._time_s + (self._clock() - self._time_ms) // 1000

    def set_time(self, unix_s):
        """The time from NTP (or any trusted source)."""
        if not isinstance(unix_s, int) or unix_s < 0:
            raise ValueError("time")
        self._time_s = unix_s
        self._time_ms = self._clock()
        self.instances[0][_CURRENT_TIME] = unix_s
        self._changed(0, _CURRENT_TIME)

    # -- writes ---------------------------------------------------------------
    def validate(self, iid, rid, value):
        """Error(4.00) unless a server may store `value` in `rid`."""
        if rid == _CURRENT_TIME and value < 0:
            raise Error(BAD_REQUEST, "time before 1970")

    def write(self, iid, rid, value):
        self.validate(iid, rid, value)
        if rid == _CURRENT_TIME:
            self._time_s = value
            self._time_ms = self._clock()
        LwObject.write(self, iid, rid, value)

    def remove(self, iid, rid):
        if rid == _CURRENT_TIME:
            self._time_s = None
        LwObject.remove(self, iid, rid)

    def create(self, iid, values):
        raise Error(METHOD_NOT_ALLOWED, "single Device instance")

    def delete(self, iid):
        raise Error(METHOD_NOT_ALLOWED, "the Device object cannot be deleted")

    # -- executes -------------------------------------------------------------
    def execute(self, iid, rid, args):
        inst = self.instance(iid)
        if rid not in inst:
            raise Error(NOT_FOUND, "not supported")
        if rid == _REBOOT:
            self.pending = REBOOT
        elif rid == _FACTORY_RESET:
            self.pending = FACTORY_RESET
        elif rid == _RESET_ERROR_CODE:
            self.set(0, _ERROR_CODE, {0: NO_ERROR})
        else:
            raise Error(METHOD_NOT_ALLOWED, "not executable")

    def run_pending(self):
        """Perform a scheduled Reboot/Factory Reset (call once the response
        went out). Returns what was pending (None if nothing)."""
        action, self.pending = self.pending, None
        if action is not None and self._callbacks[action] is not None:
            self._callbacks[action]()
        return action

    # -- error codes ------------------------------------------------------------
    def errors(self):
        """Active error codes (empty when all is well)."""
        return [c for c in self.instances[0][_ERROR_CODE].values() if c]

    def add_error(self, code):
        """Raise error `code` (1..8); observers hear of it once."""
        if not 1 <= code <= 8:
            raise ValueError("error code")
        codes = self.instances[0][_ERROR_CODE]
        if code in codes.values():
            return
        new = {} if codes == {0: NO_ERROR} else dict(codes)
        new[max(new) + 1 if new else 0] = code
        self.set(0, _ERROR_CODE, new)

    def clear_error(self, code):
        """The condition behind `code` is gone."""
        codes = self.instances[0][_ERROR_CODE]
        new = dict((i, c) for i, c in codes.items() if c != code or not c)
        self.set(0, _ERROR_CODE, new or {0: NO_ERROR})
