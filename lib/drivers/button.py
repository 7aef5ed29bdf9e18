"""Debounced push button or toggle input for the IPSO On/Off switch (3342).

    b = Button(pin, debounce_ms=30, active_low=True, ticks=time.ticks_ms)
    if b.poll(now_ms):             # main loop, every few ms; True on a change
        report(b.state)

`pin` needs value() -> 0/1 and irq(handler, trigger) (`machine.Pin`); the
trigger defaults to pin.IRQ_RISING | pin.IRQ_FALLING. The IRQ handler only
sets a flag and stores `ticks()` in attributes that exist from the start, so
it allocates nothing and is safe as a hard IRQ. `poll()` takes the level once
the line has been quiet for `debounce_ms` (measured on `ticks`, which must
count milliseconds like time.ticks_ms; without it, on the poll times), so a
press has to outlast one poll interval to be seen. Plain mode: `state` is the
debounced level (True = pressed). Toggle mode: each press flips `state`.

Interface shared with `drivers.sim.SimSwitch` (class `Switch`):
    state                    5500 Digital Input State (bool)
    counter                  5501 Digital Input Counter: changes of state to True
    on_time(now_ms)          5852 s since the last change into on; while off,
    off_time(now_ms)         5854   the length of the last such period
    reset_on_time(now_ms), reset_off_time(now_ms)   a write of 0
    reset_counter()
`now_ms` is the caller's monotonic millisecond clock.
"""
from micropython import const

_TICKS_MASK = const(0x3FFFFFFF)     # time.ticks_ms wraps at 2**30 on 32-bit ports


class Switch:
    """A two-state input: state, rising-edge counter, on/off-time accounting."""

    def __init__(self, state=False):
        self.state = state
        self.counter = 0
        self._since = None          # now_ms of the last change into `state` or reset
        self._on_ms = 0             # length of the last completed on period
        self._off_ms = 0            # ... off period

    def _start(self, now_ms):
        if self._since is None:
            self._since = now_ms

    def _set(self, state, now_ms):
        """Move to `state`; True when that is a change."""
        self._start(now_ms)
        if state == self.state:
            return False
        if self.state:
            self._on_ms = now_ms - self._since
        else:
            self._off_ms = now_ms - self._since
        self.state = state
        self._since = now_ms
        if state:
            self.counter += 1
        return True

    def on_time(self, now_ms):
        self._start(now_ms)
        return (now_ms - self._since if self.state else self._on_ms) // 1000

    def off_time(self, now_ms):
        self._start(now_ms)
        return (self._off_ms if self.state else now_ms - self._since) // 1000

    def reset_on_time(self, now_ms):
        if self.state:
            self._since = now_ms
        else:
            self._on_ms = 0

    def reset_off_time(self, now_ms):
        if self.state:
            self._off_ms = 0
        else:
            self._since = now_ms

    def reset_counter(self):
        self.counter = 0


class Button(Switch):
    def __init__(self, pin, debounce_ms=30, active_low=False, toggle=False,
                 ticks=None, trigger=None):
        self._pin = pin
        self._low = active_low
        self._toggle = toggle
        self.debounce_ms = debounce_ms
        self._ticks = ticks
        self._level = self._active()    # debounced line level, True = pressed
        Switch.__init__(self, False if toggle else self._level)
        self._flag = False          # set by the IRQ: the line moved
        self._edge = 0              # ticks() of the latest edge, set by the IRQ
        self._quiet_from = 0        # poll's copy of the edge time
        self._pending = False       # an edge seen, level not yet taken
        if trigger is None:
            trigger = pin.IRQ_RISING | pin.IRQ_FALLING
        pin.irq(self._irq, trigger)

    def _active(self):
        return bool(self._pin.value()) != self._low

    def _irq(self, pin):
        self._flag = True
        if self._ticks is not None:
            self._edge = self._ticks()

    def poll(self, now_ms):
        """Debounce and account; True when `state` changed."""
        self._start(now_ms)
        if self._flag:
            self._flag = False      # cleared before reading _edge: a newer edge re-flags
            self._pending = True
            self._quiet_from = now_ms if self._ticks is None else self._edge
        if not self._pending:
            return False
        if self._ticks is None:
            quiet = now_ms - self._quiet_from
        else:
            quiet = (self._ticks() - self._quiet_from) & _TICKS_MASK
        if quiet < self.debounce_ms:
            return False
        self._pending = False
        level = self._active()
        if level == self._level:
            return False
        self._level = level
        if not self._toggle:
            return self._set(level, now_ms)
        return level and self._set(not self.state, now_ms)

    def deinit(self):
        """Detach the IRQ handler."""
        self._pin.irq(None)
