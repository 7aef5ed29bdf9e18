"""Sensirion SHT3x humidity and temperature sensor on I2C, non-blocking
(facts from the SHT3x-DIS datasheet).

    s = SHT3x(i2c, addr=0x44)     # i2c: machine.I2C / SoftI2C, from board.py
    s.start(now_ms)               # single shot, no clock stretching
    if s.ready(now_ms):           # conversion_ms after start
        celsius = s.read()        # CRC checked; also sets s.humidity (%RH)

`i2c` needs writeto(addr, buf) and readfrom_into(addr, buf). ADDR pin low:
0x44, high: 0x45. `read()` raises `SensorError` with reason "crc", "busy"
(the sensor NACKed the read: measurement not finished) or, from `start()`,
"no-device" (NACK on the command).
"""
from micropython import const
from drivers import SensorError

HIGH = const(0)                 # repeatability
MEDIUM = const(1)
LOW = const(2)
# single shot, clock stretching disabled: command per repeatability
_MEASURE = (b"\x24\x00", b"\x24\x0b", b"\x24\x16")
# datasheet maximum duration (15 / 6 / 4 ms) plus 1 ms for tick granularity
_DURATION_MS = (16, 7, 5)
_SOFT_RESET = b"\x30\xa2"


def crc8(data, start=0, end=-1):
    """Sensirion CRC-8 (poly 0x31, init 0xFF, no reflection) of data[start:end]."""
    crc = 0xFF
    for i in range(start, len(data) if end < 0 else end):
        crc ^= data[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def celsius(raw):
    """Raw 16-bit temperature word -> degC: -45 + 175 * raw / 65535."""
    return -45 + 175 * raw / 65535


def humidity(raw):
    """Raw 16-bit humidity word -> %RH: 100 * raw / 65535."""
    return 100 * raw / 65535


class SHT3x:
    MIN_C = -40.0
    MAX_C = 125.0

    def __init__(self, i2c, addr=0x44, repeatability=HIGH):
        if addr != 0x44 and addr != 0x45:
            raise ValueError("addr")
        self.i2c = i2c
        self.addr = addr
        self._cmd = _MEASURE[repeatability]
        self.conversion_ms = _DURATION_MS[repeatability]
        self.humidity = None        # %RH of the last good read
        self._buf = bytearray(6)    # T msb, lsb, crc, RH msb, lsb, crc; reused
        self._t0 = None

    def _write(self, cmd):
        try:
            self.i2c.writeto(self.addr, cmd)
        except OSError:
            raise SensorError("no-device")

    def start(self, now_ms):
        """Send the single-shot measurement command."""
        self._write(self._cmd)
        self._t0 = now_ms

    def ready(self, now_ms):
        return self._t0 is not None and now_ms - self._t0 >= self.conversion_ms

    def read(self):
        """Fetch the measurement -> degC (float); `humidity` gets %RH."""
        self._t0 = None
        buf = self._buf
        try:
            self.i2c.readfrom_into(self.addr, buf)
        except OSError:
            raise SensorError("busy")
        if crc8(buf, 0, 2) != buf[2] or crc8(buf, 3, 5) != buf[5]:
            raise SensorError("crc")
        self.humidity = humidity(buf[3] << 8 | buf[4])
        return celsius(buf[0] << 8 | buf[1])

    def soft_reset(self):
        """Soft reset (0x30A2); the sensor needs ~1.5 ms before the next command."""
        self._write(_SOFT_RESET)
        self._t0 = None
