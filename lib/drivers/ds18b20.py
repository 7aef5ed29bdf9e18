"""DS18B20 1-Wire thermometer, non-blocking (facts from the Maxim datasheet).

    t = DS18B20(ow, rom=None, resolution=12)   # ow: onewire.OneWire(pin), from board.py
    t.start(now_ms)                             # CONVERT T
    if t.ready(now_ms):                         # conversion_ms after start
        celsius = t.read()                      # READ SCRATCHPAD, CRC, -> float degC

`ow` needs the `onewire.OneWire` methods reset() -> presence, writebyte(b),
readbyte() -> int and, when `rom` is given, select_rom(rom); `ow.crc8` is not
used. rom=None talks to the only device on the bus (SKIP ROM); with several
devices give each instance its 8-byte ROM from `scan(ow)`. The sensor must be
powered from VDD: parasite power needs a strong pull-up that `onewire` lacks.

`read()` raises `SensorError` with reason "no-device" (no presence pulse),
"crc" (scratchpad CRC-8 mismatch), "bus" (a frame no DS18B20 sends, e.g. a
line stuck low, which reads as all zeros and passes the CRC) or "power-on":
85.0 degC is the register's reset value, so it is accepted only when the
previous good reading was within 2 degC of it (a real 85 degC is approached
gradually; a sensor that lost power jumps there).
"""
from micropython import const
from drivers import SensorError

FAMILY = const(0x28)            # first ROM byte of a DS18B20
_SKIP_ROM = const(0xCC)
_CONVERT_T = const(0x44)
_READ_SCRATCHPAD = const(0xBE)
_WRITE_SCRATCHPAD = const(0x4E)
_POWER_ON_RAW = const(0x0550)   # +85.0 degC
_NEAR = const(32)               # 2 degC in 1/16 degC


def crc8(data, n=-1):
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected 0x8C, init 0) of the
    first `n` bytes (all by default). Over a frame ending in its CRC it is 0."""
    crc = 0
    for i in range(len(data) if n < 0 else n):
        crc ^= data[i]
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def signed(raw, bits=12):
    """Temperature register (16-bit two's complement) -> signed 1/16 degC, with
    the low bits that are undefined at `bits` (9..12) resolution cleared."""
    raw &= 0xFFFF ^ ((1 << (12 - bits)) - 1)
    return raw - 0x10000 if raw & 0x8000 else raw


def to_celsius(raw, bits=12):
    """Temperature register -> degC (float), masked as in `signed()`."""
    return signed(raw, bits) / 16


def scan(ow):
    """ROM codes (bytes) of the DS18B20s on the bus whose ROM CRC is valid."""
    return [rom for rom in ow.scan() if rom[0] == FAMILY and not crc8(rom)]


class DS18B20:
    MIN_C = -55.0
    MAX_C = 125.0

    def __init__(self, ow, rom=None, resolution=12):
        """resolution: bits (9..12) assumed for `conversion_ms` until a read
        shows the device's own setting; `set_resolution()` changes the device."""
        self.ow = ow
        self.rom = rom
        self.raw = None             # last good temperature register, signed 1/16 degC
        self._buf = bytearray(9)    # scratchpad, reused by every read
        self._t0 = None             # now_ms of the pending CONVERT T
        self._bits(resolution)

    def _bits(self, bits):
        if not 9 <= bits <= 12:
            raise ValueError("resolution")
        self.resolution = bits
        d = 12 - bits               # 750 ms at 12 bits, halved per bit, rounded up
        self.conversion_ms = (750 + (1 << d) - 1) >> d

    def _address(self):
        if not self.ow.reset():
            raise SensorError("no-device")
        if self.rom is None:
            self.ow.writebyte(_SKIP_ROM)
        else:
            self.ow.select_rom(self.rom)

    def start(self, now_ms):
        """Issue CONVERT T; `ready()` turns true `conversion_ms` later."""
        self._address()
        self.ow.writebyte(_CONVERT_T)
        self._t0 = now_ms

    def ready(self, now_ms):
        """True once a conversion started by `start()` has had its time."""
        return self._t0 is not None and now_ms - self._t0 >= self.conversion_ms

    def read_scratchpad(self):
        """The 9 scratchpad bytes (a reused bytearray), CRC checked."""
        self._address()
        self.ow.writebyte(_READ_SCRATCHPAD)
        buf = self._buf
        for i in range(9):
            buf[i] = self.ow.readbyte()
        if crc8(buf, 8) != buf[8]:
            raise SensorError("crc")
        return buf

    def read(self):
        """Read the last conversion -> degC (float); see the module doc for errors."""
        self._t0 = None
        buf = self.read_scratchpad()
        cfg = buf[4]
        raw = buf[0] | buf[1] << 8
        sign = raw >> 11            # bits 15..11 all repeat the sign
        if cfg & 0x9F != 0x1F or (sign and sign != 0x1F):
            raise SensorError("bus")
        self._bits(9 + (cfg >> 5 & 3))
        raw = signed(raw, self.resolution)
        if raw == _POWER_ON_RAW and (self.raw is None or abs(self.raw - raw) > _NEAR):
            raise SensorError("power-on")
        self.raw = raw
        return raw / 16

    def set_resolution(self, bits):
        """Write the configuration register (keeps the TH/TL alarm bytes). It is
        volatile: the device forgets it at power-off unless copied to EEPROM."""
        if not 9 <= bits <= 12:
            raise ValueError("resolution")
        buf = self.read_scratchpad()
        th, tl = buf[2], buf[3]
        self._address()
        ow = self.ow
        ow.writebyte(_WRITE_SCRATCHPAD)
        ow.writebyte(th)
        ow.writebyte(tl)
        ow.writebyte((bits - 9) << 5 | 0x1F)
        self._bits(bits)
