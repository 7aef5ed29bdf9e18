"""Hardware drivers: sensors and actuators behind small, bus-agnostic classes.

Each driver takes the bus or pin objects it talks to (`onewire.OneWire`,
`machine.I2C`, `machine.Pin`, `machine.PWM`, an ADC read callable) and never
imports `machine`; `boards/<name>/board.py` builds those objects. `drivers.sim`
holds machine-free stand-ins with the same interfaces for the unix board.

Temperature sources share one non-blocking interface:
    start(now_ms)  begin a measurement
    ready(now_ms)  True once `read()` may be called
    read()         -> degrees Celsius (float), or raises `SensorError`
so the 3303 object does not care which sensor it wraps.

Only `SensorError` lives here, so importing a driver pulls in nothing else.
"""


class SensorError(Exception):
    """A reading that must not be reported. `args[0]` is the reason:
    "crc", "power-on", "no-device", "bus" (implausible frame), "busy"."""
