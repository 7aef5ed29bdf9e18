"""lib/drivers against datasheet values and fake buses/pins (host_tests/support/fake_hw.py)."""
import sys
from host_tests.support.check import raises
from host_tests.support.fake_hw import (
    FakeClock, FakePin, FakePWM, FakeADC, FakeOneWire, FakeI2C, ROM, maxim_crc, sensirion_crc)
from drivers import SensorError
from drivers import ds18b20, sht3x
from drivers.ds18b20 import DS18B20
from drivers.sht3x import SHT3x
from drivers.internal_temp import InternalTemp, rp2040, fahrenheit
from drivers.button import Button
from drivers.light import Light
from drivers.sim import Rng, SimTemperature, SimSwitch, SimLight

# DS18B20 datasheet, "Temperature/Data Relationship" table
DS_TABLE = ((125.0, 0x07D0), (25.0625, 0x0191), (10.125, 0x00A2), (0.5, 0x0008), (0.0, 0x0000),
            (-0.5, 0xFFF8), (-10.125, 0xFF5E), (-25.0625, 0xFE6F), (-55.0, 0xFC90))


def reason(fn, *args):
    with raises(SensorError) as e:
        fn(*args)
    return e.value.args[0]


# ---- DS18B20 ----

def test_ds18b20_crc8_maxim_app_note_example():
    # Maxim AN27: family 02h, serial 00000001B81Ch -> CRC A2h
    rom = bytes([0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00])
    assert ds18b20.crc8(rom) == 0xA2 == maxim_crc(rom)
    assert ds18b20.crc8(rom + b"\xa2") == 0
    assert ds18b20.crc8(rom + b"\xa3") != 0


def test_ds18b20_datasheet_table_conversion():
    for celsius, raw in DS_TABLE:
        assert ds18b20.to_celsius(raw) == celsius, (hex(raw), celsius)


def test_ds18b20_datasheet_table_through_the_bus():
    ow = FakeOneWire()
    t = DS18B20(ow)
    for celsius, raw in DS_TABLE:
        ow.next_raw = raw
        t.start(0)
        assert t.read() == celsius, (hex(raw), celsius)
        assert t.raw == int(celsius * 16)


def test_ds18b20_resolution_masks_undefined_bits():
    assert ds18b20.to_celsius(0x00A2, 9) == 10.0       # 10.125 truncated to 0.5 degC steps
    assert ds18b20.to_celsius(0xFF5E, 9) == -10.5      # two's complement floors
    assert ds18b20.to_celsius(0x0191, 11) == 25.0
    assert ds18b20.to_celsius(0x0192, 10) == 25.0
    ow = FakeOneWire()
    ow.set_bits(9)
    ow.junk = 0x7                                       # device leaves garbage in bits 2..0
    ow.next_raw = 0x0191
    t = DS18B20(ow)
    t.start(0)
    assert ow.scratch[0] & 7 == 7
    assert t.read() == 25.0
    assert t.resolution == 9 and t.conversion_ms == 94


def test_ds18b20_conversion_time_per_resolution():
    ow = FakeOneWire()
    expect = {9: 94, 10: 188, 11: 375, 12: 750}         # 93.75 / 187.5 / 375 / 750 ms, rounded up
    for bits in (9, 10, 11, 12):
        t = DS18B20(ow, resolution=bits)
        assert t.conversion_ms == expect[bits]
        assert not t.ready(0)
        t.start(1000)
        assert not t.ready(1000 + expect[bits] - 1)
        assert t.ready(1000 + expect[bits])
    with raises(ValueError):
        DS18B20(ow, resolution=13)


def test_ds18b20_start_and_read_commands_skip_rom_and_match_rom():
    ow = FakeOneWire()
    DS18B20(ow).start(0)
    assert ow.log == ["reset", 0xCC, 0x44]
    ow.log = []
    t = DS18B20(ow, rom=ROM)
    t.start(0)
    assert ow.log == ["reset", ("rom", ROM), 0x44]
    ow.log = []
    assert t.read() == 25.0625
    assert ow.log == ["reset", ("rom", ROM), 0xBE]


def test_ds18b20_scan_keeps_valid_ds18b20_roms():
    ow = FakeOneWire()
    assert ds18b20.scan(ow) == [ROM]
    ow.rom = ROM[:7] + bytes([ROM[7] ^ 1])
    assert ds18b20.scan(ow) == []


def test_ds18b20_crc_failure_is_reported():
    ow = FakeOneWire()
    t = DS18B20(ow)
    t.start(0)
    ow.corrupt = True
    assert reason(t.read) == "crc"
    assert t.raw is None
    ow.corrupt = False
    assert t.read() == 25.0625


def test_ds18b20_power_on_value_is_rejected():
    ow = FakeOneWire()                                  # never converted: register holds 85.0
    t = DS18B20(ow)
    assert reason(t.read) == "power-on"
    ow.next_raw = 0x0191
    t.start(0)
    assert t.read() == 25.0625
    ow.set_raw(0x0550)                                  # sensor lost power and came back
    assert reason(t.read) == "power-on"
    ow.next_raw = 0x0548                                # 84.5, then a real 85.0
    t.start(0)
    assert t.read() == 84.5
    ow.next_raw = 0x0550
    t.start(0)
    assert t.read() == 85.0


def test_ds18b20_missing_device_and_stuck_bus():
    assert reason(DS18B20(FakeOneWire(present=False)).start, 0) == "no-device"
    assert reason(DS18B20(FakeOneWire(present=False)).read) == "no-device"
    stuck = FakeOneWire(stuck_low=True)                 # all zeros pass the CRC
    assert ds18b20.crc8(bytes(9)) == 0
    assert reason(DS18B20(stuck).read) == "bus"


def test_ds18b20_set_resolution_writes_config_keeping_alarms():
    ow = FakeOneWire()
    t = DS18B20(ow)
    t.set_resolution(10)
    assert ow.log[-5:] == [0xCC, 0x4E, 0x4B, 0x46, 0x3F]
    assert ow.scratch[4] == 0x3F and t.conversion_ms == 188
    ow.next_raw = 0x0191
    t.start(0)
    assert t.read() == 25.0
    with raises(ValueError):
        t.set_resolution(8)


# ---- SHT3x ----

def test_sht3x_crc_datasheet_example():
    assert sht3x.crc8(b"\xbe\xef") == 0x92 == sensirion_crc(b"\xbe\xef")
    assert sht3x.crc8(b"\x00\xbe\xef\x00", 1, 3) == 0x92
    assert sht3x.crc8(b"\xbe\xee") != 0x92


def test_sht3x_conversions():
    assert sht3x.celsius(0) == -45.0
    assert abs(sht3x.celsius(0x6666) - 25.0) < 1e-9
    assert sht3x.celsius(0xFFFF) == 130.0
    assert sht3x.humidity(0) == 0.0
    assert abs(sht3x.humidity(0x6666) - 40.0) < 1e-9
    assert sht3x.humidity(0xFFFF) == 100.0


def test_sht3x_single_shot_measurement():
    clock = FakeClock(1000)
    i2c = FakeI2C(clock, t_raw=0xFFFF, rh_raw=0)
    s = SHT3x(i2c)
    assert not s.ready(1000)
    s.start(1000)
    assert i2c.writes == [(0x44, b"\x24\x00")]
    assert not s.ready(1015) and s.ready(1016)
    clock.now = 1016
    assert s.read() == 130.0 and s.humidity == 0.0
    assert not s.ready(1016)
    i2c.t_raw = i2c.rh_raw = 0x6666
    s.start(2000)
    clock.now = 2016
    assert abs(s.read() - 25.0) < 1e-9 and abs(s.humidity - 40.0) < 1e-9


def test_sht3x_errors():
    clock = FakeClock()
    i2c = FakeI2C(clock)
    s = SHT3x(i2c)
    assert reason(s.read) == "busy"                     # nothing measured
    s.start(0)
    clock.now = 10
    assert reason(s.read) == "busy"                     # too early: NACK
    s.start(0)
    clock.now = 30
    i2c.corrupt = True
    assert reason(s.read) == "crc"
    assert s.humidity is None
    assert reason(SHT3x(FakeI2C(clock, addr=0x45)).start, 0) == "no-device"
    with raises(ValueError):
        SHT3x(i2c, addr=0x46)


def test_sht3x_address_and_repeatability():
    clock = FakeClock()
    i2c = FakeI2C(clock, addr=0x45)
    s = SHT3x(i2c, addr=0x45, repeatability=sht3x.LOW)
    s.start(0)
    assert i2c.writes == [(0x45, b"\x24\x16")] and s.conversion_ms == 5
    clock.now = 5
    assert abs(s.read() - 25.0) < 1e-9
    s.soft_reset()
    assert i2c.writes[-1] == (0x45, b"\x30\xa2")


# ---- internal temperature ----

def test_internal_temp_rp2040_formula():
    assert abs(rp2040(14021) - 27.0) < 0.05               # 0.706 V
    assert abs(rp2040(14944) - 0.0) < 0.05                # 0.7525 V
    assert abs(rp2040(0) - 437.227) < 0.01                # 27 + 0.706 / 0.001721: the slope
    assert abs(rp2040(65535) + 1480.263) < 0.01           # 3.3 V full scale
    assert rp2040(10000) > rp2040(14000)                # falling voltage: rising temperature
    adc = FakeADC(14944)
    t = InternalTemp(adc.read_u16, rp2040)
    t.start(0)
    assert t.ready(0) and abs(t.read()) < 0.05


def test_internal_temp_esp32_callables():
    assert fahrenheit(212) == 100.0 and fahrenheit(32) == 0.0
    assert InternalTemp(lambda: 122, fahrenheit).read() == 50.0
    assert InternalTemp(lambda: 41.5).read() == 41.5
    assert InternalTemp(lambda: 40, offset_c=-2.5).read() == 37.5


# ---- button ----

def _button(level=0, **kw):
    clock = FakeClock()
    pin = FakePin(level)
    b = Button(pin, ticks=clock.ticks, **kw)
    return clock, pin, b


def _run(clock, pin, b, events, until, step=5):
    """Drive pin edges at given times while polling every `step` ms; return change times."""
    changes = []
    events = list(events)
    while clock.now <= until:
        while events and events[0][0] <= clock.now:
            pin.drive(events.pop(0)[1])
        if b.poll(clock.now):
            changes.append(clock.now)
        clock.now += 1 if events and events[0][0] < clock.now + step else step
    return changes


def test_button_bounces_within_debounce_make_one_edge():
    clock, pin, b = _button()
    assert pin.trigger == FakePin.IRQ_RISING | FakePin.IRQ_FALLING
    assert not b.state and b.counter == 0
    press = ((0, 1), (3, 0), (7, 1), (12, 0), (15, 1))          # bouncing, settles pressed at 15
    changes = _run(clock, pin, b, press, 100)
    assert changes == [45], changes                              # 30 ms quiet after the last bounce
    assert b.state and b.counter == 1
    release = ((200, 0), (202, 1), (209, 0))
    assert _run(clock, pin, b, release, 300) == [239]
    assert not b.state and b.counter == 1
    assert _run(clock, pin, b, ((400, 1),), 500) == [430]
    assert b.counter == 2
    b.reset_counter()
    assert b.counter == 0


def test_button_glitch_shorter_than_debounce_is_ignored():
    clock, pin, b = _button()
    assert _run(clock, pin, b, ((0, 1), (10, 0)), 200) == []
    assert not b.state and b.counter == 0


def test_button_debounce_ms_is_configurable_and_works_without_ticks():
    clock, pin, b = _button(debounce_ms=100)
    assert _run(clock, pin, b, ((0, 1), (50, 0), (60, 1)), 300) == [160]
    pin = FakePin()
    b = Button(pin)                                      # no ticks: quiet time measured between polls
    pin.drive(1)
    assert not b.poll(0) and not b.poll(29)
    assert b.poll(30) and b.state


def test_button_active_low_and_explicit_trigger():
    clock, pin, b = _button(level=1, active_low=True, trigger=FakePin.IRQ_FALLING)
    assert pin.trigger == FakePin.IRQ_FALLING
    assert not b.state
    assert _run(clock, pin, b, ((10, 0),), 100) == [40]
    assert b.state and b.counter == 1


def test_button_toggle_mode():
    clock, pin, b = _button(toggle=True)
    seq = ((0, 1), (100, 0), (200, 1), (300, 0), (400, 1), (500, 0))
    assert _run(clock, pin, b, seq, 600) == [30, 230, 430]
    assert b.state and b.counter == 2


def test_button_on_off_time_accounting():
    clock, pin, b = _button()
    b.poll(0)
    _run(clock, pin, b, ((1000, 1),), 1100)               # on from 1030
    assert b.on_time(11030) == 10
    assert b.off_time(11030) == 1                         # the off period lasted 1030 ms
    clock.now = 21000
    _run(clock, pin, b, ((21000, 0),), 21100)             # off from 21030
    assert b.on_time(26030) == 20 and b.off_time(26030) == 5
    b.reset_off_time(26030)
    assert b.off_time(27030) == 1
    b.reset_on_time(27030)
    assert b.on_time(27030) == 0 and b.off_time(30030) == 4


def test_button_deinit_detaches_irq():
    clock, pin, b = _button()
    assert pin.handler is not None
    b.deinit()
    assert pin.handler is None


if sys.implementation.name == "micropython":
    import micropython

    def test_button_irq_handler_allocates_nothing():
        clock, pin, b = _button()
        handler = pin.handler
        clock.now = 12345
        micropython.heap_lock()
        try:
            handler(pin)
            handler(pin)
        finally:
            micropython.heap_unlock()
        assert b._flag and b._edge == 12345


# ---- light ----

def test_light_pwm_duty_mapping():
    pwm = FakePWM()
    light = Light(pwm=pwm)
    assert pwm.duty == 0 and not light.on and light.dimmer == 100
    light.set_on(True, 0)
    assert pwm.duty == 65535
    light.set_dimmer(0, 0)
    assert pwm.duty == 0
    light.set_dimmer(50, 0)
    assert pwm.duty == 32768
    light.set_dimmer(1, 0)
    assert pwm.duty == 655
    light.set_on(False, 0)
    assert pwm.duty == 0 and light.dimmer == 1
    inv = FakePWM()
    light = Light(pwm=inv, active_low=True)
    assert inv.duty == 65535
    light.set_on(True, 0)
    assert inv.duty == 0


def test_light_relay_pin_and_bad_dimmer():
    pin = FakePin(1)
    light = Light(pin=pin)
    assert pin.writes == [0]                              # driven off at start
    light.set_on(True, 0)
    light.set_on(False, 0)
    assert pin.writes == [0, 1, 0]
    low = FakePin(0)
    light = Light(pin=low, active_low=True)
    light.set_on(True, 0)
    assert low.writes == [1, 0]
    for bad in (-1, 101, 50.5):
        with raises(ValueError):
            light.set_dimmer(bad, 0)
    assert light.dimmer == 100


def test_light_on_time_accumulates_and_resets():
    light = Light(pwm=FakePWM())
    assert light.on_time(5000) == 0
    light.set_on(True, 10000)
    light.set_on(False, 100000)
    light.set_on(True, 110000)
    assert light.on_time(140000) == 120
    light.reset_on_time(140000)
    assert light.on_time(145999) == 5
    light.set_on(False, 150000)
    assert light.on_time(900000) == 10


def test_light_energy_follows_dimmer_and_rated_power():
    hour = 3600000
    light = Light(pwm=FakePWM(), rated_w=10.0)
    light.set_dimmer(50, 0)
    light.set_on(True, 0)
    assert light.power_w() == 5.0
    assert abs(light.energy_wh(hour) - 5.0) < 1e-9
    light.set_dimmer(100, hour)
    light.set_on(False, hour + hour // 2)
    assert abs(light.energy_wh(5 * hour) - 10.0) < 1e-9
    light.reset_energy(5 * hour)
    assert light.energy_wh(6 * hour) == 0.0
    relay = Light(pin=FakePin(), rated_w=10.0)           # no PWM: the dimmer does not dim
    relay.set_dimmer(50, 0)
    relay.set_on(True, 0)
    assert abs(relay.energy_wh(hour) - 10.0) < 1e-9


# ---- simulated devices ----

def _walk(seed, n=50):
    t = SimTemperature(seed=seed)
    out = []
    for i in range(n):
        t.start(i * 1000)
        assert t.ready(i * 1000)
        out.append(t.read())
    return out


def test_sim_rng_is_xorshift32():
    r = Rng(1)
    assert [r.next() for _ in range(3)] == [270369, 67634689, 2647435461]
    assert Rng(0).next() == Rng(1).next()


def test_sim_temperature_deterministic_per_seed():
    a = _walk(7)
    assert a == _walk(7)
    assert a != _walk(8)
    assert len(set(a)) > 10
    assert all(abs(x - y) <= 0.1 + 1e-9 for x, y in zip(a, a[1:]))
    assert all(-10.0 <= x <= 40.0 for x in _walk(3, 2000))
    assert _walk(7, 3) == [20.9, 20.87, 20.96]             # same on both interpreters


def test_sim_temperature_reflects_at_bounds():
    t = SimTemperature(seed=5, start_c=0.0, step_c=1.0, min_c=0.0, max_c=0.5)
    for i in range(500):
        t.start(i)
        assert 0.0 <= t.read() <= 0.5


def test_sim_switch_schedule_and_press():
    s = SimSwitch(period_ms=1000)
    assert not s.poll(0) and not s.poll(999)
    assert s.poll(1000) and s.state and s.counter == 1
    assert not s.poll(1500)
    assert s.poll(2000) and not s.state
    assert s.poll(5500) and s.state and not s.poll(5600)   # late poll: one toggle, no burst
    assert s.poll(6500)
    m = SimSwitch()
    assert not m.poll(0)
    m.press()
    m.press()
    assert m.poll(10) and m.state
    assert m.poll(20) and not m.state
    assert not m.poll(30000)
    assert m.counter == 1 and m.on_time(30000) == 0 and m.off_time(30000) == 29


def test_sim_light_records_state():
    light = SimLight(rated_w=4.0, log_size=3)
    light.set_on(True, 0)
    light.set_dimmer(25, 1000)
    assert light.log == [(0, True, 100), (1000, True, 25)]
    light.set_on(False, 3600000 + 1000)
    light.set_on(True, 3600000 + 2000)
    assert light.log == [(1000, True, 25), (3601000, False, 25), (3602000, True, 25)]
    assert abs(light.energy_wh(3602000) - (4.0 * 1000 + 1.0 * 3600000) / 3600000) < 1e-9
