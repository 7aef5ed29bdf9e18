"""Machine-free stand-ins for the unix board and host tests, with the driver
interfaces: a temperature sensor drifting from a seed, a switch toggled on a
schedule or on demand, a light that logs what it was told.

Determinism: `Rng` is a 32-bit xorshift on plain ints and the temperature is
kept in integer centi-degrees, so a seed gives the same readings under
CPython and MicroPython.
"""
from micropython import const
from drivers.button import Switch
from drivers.light import Light

_M32 = const(0xFFFFFFFF)


class Rng:
    """xorshift32 (Marsaglia); seed 0 is mapped to 1 (0 is a fixed point)."""

    def __init__(self, seed):
        self.x = (seed & _M32) or 1

    def next(self):
        """Next value in 1..2**32-1."""
        x = self.x
        x ^= (x << 13) & _M32
        x ^= x >> 17
        x ^= (x << 5) & _M32
        self.x = x
        return x


class SimTemperature:
    """Temperature that random-walks by up to `step_c` per measurement, kept
    within [min_c, max_c] by reflection (and clamping). start/ready/read like DS18B20."""

    def __init__(self, seed=1, start_c=21.0, step_c=0.1, min_c=-10.0, max_c=40.0,
                 conversion_ms=0):
        self.MIN_C = min_c
        self.MAX_C = max_c
        self.conversion_ms = conversion_ms
        self._rng = Rng(seed)
        self._c = int(round(start_c * 100))     # centi-degrees
        self._step = int(round(step_c * 100))
        self._lo = int(round(min_c * 100))
        self._hi = int(round(max_c * 100))
        self._t0 = None

    def start(self, now_ms):
        """Take the next value of the walk."""
        c = self._c + self._rng.next() % (2 * self._step + 1) - self._step
        if c > self._hi:
            c = 2 * self._hi - c
        elif c < self._lo:
            c = 2 * self._lo - c
        self._c = min(max(c, self._lo), self._hi)   # a step wider than the range
        self._t0 = now_ms

    def ready(self, now_ms):
        return self._t0 is not None and now_ms - self._t0 >= self.conversion_ms

    def read(self):
        self._t0 = None
        return self._c / 100


class SimSwitch(Switch):
    """A switch with Button's interface (state, counter, times, poll) that
    toggles every `period_ms` (0: never) and once per `press()`. Each poll
    applies at most one toggle, so every press shows as its own change."""

    def __init__(self, period_ms=0, state=False):
        Switch.__init__(self, state)
        self.period_ms = period_ms
        self._presses = 0
        self._next = None           # now_ms of the next scheduled toggle

    def press(self):
        """Queue one toggle for the next poll (safe from a callback or IRQ)."""
        self._presses += 1

    def poll(self, now_ms):
        """True when `state` changed."""
        self._start(now_ms)
        if self._presses:
            self._presses -= 1
            return self._set(not self.state, now_ms)
        if self.period_ms:
            if self._next is None:
                self._next = now_ms + self.period_ms
            elif now_ms >= self._next:
                self._next += self.period_ms
                if self._next <= now_ms:        # polled late: no catch-up burst
                    self._next = now_ms + self.period_ms
                return self._set(not self.state, now_ms)
        return False


class SimLight(Light):
    """A Light without hardware that keeps the last `log_size` commands as
    (now_ms, on, dimmer) tuples in `log`."""

    def __init__(self, rated_w=0.0, log_size=16):
        Light.__init__(self, rated_w=rated_w)
        self.log = []
        self._size = log_size

    def _record(self, now_ms):
        if len(self.log) >= self._size:
            self.log.pop(0)
        self.log.append((now_ms, self.on, self.dimmer))

    def set_on(self, on, now_ms):
        Light.set_on(self, on, now_ms)
        self._record(now_ms)

    def set_dimmer(self, percent, now_ms):
        Light.set_dimmer(self, percent, now_ms)
        self._record(now_ms)

    def power_w(self):
        # no PWM object, but a simulated light dims like a PWM one
        return self.rated_w * self.dimmer / 100 if self.on else 0.0
