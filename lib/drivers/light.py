"""Light output for the IPSO Light Control object (3311).

    light = Light(pin=relay, pwm=machine.PWM(led_pin, freq=1000), rated_w=5.0)
    light.set_on(True, now_ms)          # 5850 On/Off
    light.set_dimmer(40, now_ms)        # 5851 Dimmer, integer 0..100 %
    light.on_time(now_ms)               # 5852 s spent on, cumulative
    light.reset_on_time(now_ms)         #   a write of 0
    light.energy_wh(now_ms)             # 5805 Cumulative active power, Wh
    light.power_w()                     # present draw estimate, W

`pin` (value(0/1): a relay or plain LED) and `pwm` (duty_u16(0..65535):
`machine.PWM`) are both optional; give either or both. The pin follows
On/Off; the PWM duty is dimmer * 65535 / 100 (rounded) while on, 0 while
off. active_low inverts both. Power is estimated: rated_w scaled by the
dimmer when a PWM dims the light, rated_w when only a pin switches it.
`now_ms` is the caller's monotonic millisecond clock; nothing here reads one.
"""
_MS_PER_H = 3600000


class Light:
    def __init__(self, pin=None, pwm=None, rated_w=0.0, active_low=False):
        self._pin = pin
        self._pwm = pwm
        self.rated_w = rated_w
        self._low = active_low
        self.on = False
        self.dimmer = 100
        self._on_ms = 0
        self._wh = 0.0
        self._mark = None           # now_ms up to which time is accounted
        self._apply()

    def duty_u16(self):
        """The PWM duty for the present state: 0..65535 (before active_low)."""
        return (self.dimmer * 65535 + 50) // 100 if self.on else 0

    def power_w(self):
        if not self.on:
            return 0.0
        return self.rated_w * self.dimmer / 100 if self._pwm is not None else self.rated_w

    def _apply(self):
        if self._pin is not None:
            self._pin.value(1 if self.on != self._low else 0)
        if self._pwm is not None:
            d = self.duty_u16()
            self._pwm.duty_u16(65535 - d if self._low else d)

    def _account(self, now_ms):
        if self._mark is not None and self.on:
            dt = now_ms - self._mark
            self._on_ms += dt
            self._wh += self.power_w() * dt / _MS_PER_H
        self._mark = now_ms

    def set_on(self, on, now_ms):
        self._account(now_ms)
        self.on = bool(on)
        self._apply()

    def set_dimmer(self, percent, now_ms):
        """percent: integer 0..100; ValueError otherwise (state unchanged)."""
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError("dimmer")
        self._account(now_ms)
        self.dimmer = percent
        self._apply()

    def on_time(self, now_ms):
        self._account(now_ms)
        return self._on_ms // 1000

    def reset_on_time(self, now_ms):
        self._account(now_ms)
        self._on_ms = 0

    def energy_wh(self, now_ms):
        self._account(now_ms)
        return self._wh

    def reset_energy(self, now_ms):
        self._account(now_ms)
        self._wh = 0.0
