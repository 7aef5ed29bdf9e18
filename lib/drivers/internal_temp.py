"""The MCU's own temperature sensor, where the port offers one.

    InternalTemp(adc.read_u16, rp2040)            # RP2040: machine.ADC(4)
    InternalTemp(esp32.mcu_temperature)           # ESP32-S2/S3/C3: already degC
    InternalTemp(esp32.raw_temperature, fahrenheit)   # classic ESP32: degF

`read()` calls `read_raw()` and maps the result through `convert` (identity
by default) to degC. It has the `start`/`ready`/`read` interface of the other
temperature drivers; a read is immediate. Accuracy is a few degrees: it
shows the die, not the room.
"""


def rp2040(raw_u16):
    """RP2040 ADC channel 4 reading (0..65535 for 0..3.3 V) -> degC
    (datasheet: 27 - (V - 0.706) / 0.001721)."""
    return 27 - (raw_u16 * 3.3 / 65535 - 0.706) / 0.001721


def fahrenheit(f):
    """degF -> degC."""
    return (f - 32) * 5 / 9


class InternalTemp:
    MIN_C = -40.0
    MAX_C = 125.0

    def __init__(self, read_raw, convert=None, offset_c=0.0):
        """offset_c: calibration added to every reading."""
        self._read = read_raw
        self._convert = convert
        self.offset_c = offset_c

    def start(self, now_ms):
        pass

    def ready(self, now_ms):
        return True

    def read(self):
        v = self._read()
        if self._convert is not None:
            v = self._convert(v)
        return v + self.offset_c
