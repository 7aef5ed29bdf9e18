"""Fake buses, pins and a clock for the driver tests (both interpreters).

The fakes model the devices from their datasheets and compute their CRCs with
their own code, so a driver test does not check a driver against itself.
"""


class FakeClock:
    """A millisecond clock the test moves; `ticks` stands in for time.ticks_ms."""

    def __init__(self, now=0):
        self.now = now

    def ticks(self):
        return self.now


class FakePin:
    """machine.Pin stand-in: value() reads/writes (writes are logged),
    irq(handler, trigger) stores the handler, drive() moves the line from
    outside and fires the handler on a matching edge."""
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, level=0):
        self.level = level
        self.handler = None
        self.trigger = 0
        self.writes = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        self.writes.append(self.level)

    def irq(self, handler=None, trigger=3):
        self.handler = handler
        self.trigger = trigger

    def drive(self, level):
        level = 1 if level else 0
        if level == self.level:
            return
        self.level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self.handler is not None and self.trigger & edge:
            self.handler(self)


class FakePWM:
    """machine.PWM stand-in: duty_u16() reads/writes, writes logged."""

    def __init__(self):
        self.duty = None
        self.writes = []

    def duty_u16(self, d=None):
        if d is None:
            return self.duty
        assert 0 <= d <= 65535
        self.duty = d
        self.writes.append(d)


class FakeADC:
    def __init__(self, raw=0):
        self.raw = raw

    def read_u16(self):
        return self.raw


def maxim_crc(data):
    """1-Wire CRC, bit by bit as the datasheet's shift register draws it."""
    crc = 0
    for byte in data:
        for i in range(8):
            fb = (crc ^ (byte >> i)) & 1
            crc >>= 1
            if fb:
                crc ^= 0x8C      # x^8 + x^5 + x^4 + 1, reflected
    return crc


def sensirion_crc(data):
    crc = 0xFF
    for byte in data:
        for i in range(7, -1, -1):
            fb = ((crc >> 7) ^ (byte >> i)) & 1
            crc = (crc << 1) & 0xFF
            if fb:
                crc ^= 0x31
    return crc


ROM = bytes([0x28, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6])
ROM = ROM + bytes([maxim_crc(ROM)])


class FakeOneWire:
    """A bus with one DS18B20 on it, answering through the onewire.OneWire
    methods. It starts in the power-on state (85.0 degC, 12 bits); CONVERT T
    loads `next_raw`, with the low bits that are undefined below 12 bits set
    to `junk`. `log` records what the master sent."""
    SKIP_ROM = 0xCC
    MATCH_ROM = 0x55
    SEARCH_ROM = 0xF0

    def __init__(self, rom=ROM, present=True, stuck_low=False):
        self.rom = bytes(rom)
        self.present = present
        self.stuck_low = stuck_low
        self.scratch = bytearray([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
        self.next_raw = 0x0191
        self.junk = 0
        self.corrupt = False        # flip one bit in each scratchpad read
        self.log = []
        self._mode = None
        self._out = []
        self._wr = []

    def set_raw(self, raw):
        self.scratch[0] = raw & 0xFF
        self.scratch[1] = raw >> 8 & 0xFF

    def set_bits(self, bits):
        self.scratch[4] = (bits - 9) << 5 | 0x1F

    def reset(self, required=False):
        self.log.append("reset")
        self._mode = "rom"
        return self.present

    def select_rom(self, rom):
        self.log.append(("rom", bytes(rom)))
        self._mode = "cmd" if bytes(rom) == self.rom else None

    def writebyte(self, b):
        self.log.append(b)
        mode = self._mode
        if mode == "rom" and b == self.SKIP_ROM:
            self._mode = "cmd"
        elif mode == "cmd":
            self._mode = None
            if b == 0x44:
                undefined = (1 << (3 - (self.scratch[4] >> 5 & 3))) - 1
                self.set_raw(self.next_raw & ~undefined | self.junk & undefined)
            elif b == 0xBE:
                frame = bytearray(self.scratch)
                frame.append(maxim_crc(frame))
                if self.corrupt:
                    frame[3] ^= 0x10
                self._out = list(frame)
            elif b == 0x4E:
                self._mode = "write"
                self._wr = []
        elif mode == "write":
            self._wr.append(b)
            if len(self._wr) == 3:
                self.scratch[2] = self._wr[0]
                self.scratch[3] = self._wr[1]
                self.scratch[4] = self._wr[2] & 0x60 | 0x1F
                self._mode = None

    def readbyte(self):
        if self.stuck_low:
            return 0
        return self._out.pop(0) if self._out else 0xFF

    def scan(self):
        return [self.rom] if self.present else []


SHT3X_MEASURE = {b"\x24\x00": 15, b"\x24\x0b": 6, b"\x24\x16": 4}


class FakeI2C:
    """An SHT3x at `addr`: a single-shot command starts a measurement of
    (t_raw, rh_raw); reading before its datasheet duration, with nothing
    measured, or at another address NACKs (OSError, as machine.I2C does)."""

    def __init__(self, clock, addr=0x44, t_raw=0x6666, rh_raw=0x6666):
        self.clock = clock
        self.addr = addr
        self.t_raw = t_raw
        self.rh_raw = rh_raw
        self.corrupt = False
        self.writes = []
        self._done_at = None

    def writeto(self, addr, buf):
        if addr != self.addr:
            raise OSError(19)
        buf = bytes(buf)
        self.writes.append((addr, buf))
        if buf in SHT3X_MEASURE:
            self._done_at = self.clock.now + SHT3X_MEASURE[buf]

    def readfrom_into(self, addr, buf):
        if addr != self.addr or self._done_at is None or self.clock.now < self._done_at:
            raise OSError(19)
        self._done_at = None
        t = bytes([self.t_raw >> 8, self.t_raw & 0xFF])
        rh = bytes([self.rh_raw >> 8, self.rh_raw & 0xFF])
        frame = t + bytes([sensirion_crc(t)]) + rh + bytes([sensirion_crc(rh)])
        for i in range(len(buf)):
            buf[i] = frame[i]
        if self.corrupt:
            buf[4] ^= 0x01
