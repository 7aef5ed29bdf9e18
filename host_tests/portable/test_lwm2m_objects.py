"""Application objects (3, 3303, 3342, 3311) through the DM layer with fake
drivers and a virtual clock; runs under pytest and the unix-port runner."""
from coap.message import Message
from coap.numbers import (GET, PUT, POST, DELETE, CONTENT, CHANGED,
                          BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED,
                          CONTENT_FORMAT, ACCEPT, TEXT_PLAIN, LWM2M_TLV)
from lwm2m.dm import DeviceManagement, Model
from lwm2m.formats import tlv
from lwm2m.objects.device import Device, REBOOT, FACTORY_RESET
from lwm2m.objects.temperature import Temperature
from lwm2m.objects.switch import OnOffSwitch
from lwm2m.objects.light import LightControl
from drivers.sim import SimSwitch, SimLight, SimTemperature


class Caller:
    """Permissive caller: a single server with every right."""
    bootstrap = False

    def allowed(self, op, oid, iid):
        return True


class Clock:
    def __init__(self, ms=1000):
        self.ms = ms

    def __call__(self):
        return self.ms


class Counter:
    """on_change stand-in: records (oid, iid, rid)."""

    def __init__(self):
        self.calls = []

    def __call__(self, oid, iid, rid):
        self.calls.append((oid, iid, rid))

    def count(self, rid):
        return len([c for c in self.calls if c[2] == rid])


def node(*objects):
    return DeviceManagement(Model(objects))


def request(dm, code, path, payload=b"", cf=None, accept=None):
    m = Message(code=code, payload=payload)
    m.set_path(path)
    if cf is not None:
        m.add(CONTENT_FORMAT, cf)
    if accept is not None:
        m.add(ACCEPT, accept)
    return dm.handle(m, Caller())


def read_text(dm, path):
    r = request(dm, GET, path, accept=TEXT_PLAIN)
    assert r.code == CONTENT, (path, r.code)
    return bytes(r.payload).decode()


def read_tlv(dm, path):
    """{rid: value} (or {rid: {riid: value}}) of an instance read in TLV."""
    r = request(dm, GET, path, accept=LWM2M_TLV)
    assert r.code == CONTENT, (path, r.code)
    assert r.content_format == LWM2M_TLV
    base = tuple(int(p) for p in path.strip("/").split("/"))
    out = {}
    for p, v in tlv.decode(bytes(r.payload), base, dm.model.type_of):
        if len(p) == 4:
            out.setdefault(p[2], {})[p[3]] = v
        else:
            out[p[2]] = v
    return out


def write_text(dm, path, text, code=PUT):
    return request(dm, code, path, text.encode(), cf=TEXT_PLAIN).code


def write_tlv(dm, path, values, code=POST):
    base = tuple(int(p) for p in path.strip("/").split("/"))
    recs = [(base + (rid,), v) for rid, v in sorted(values.items())]
    data = tlv.encode(recs, base, dm.model.type_of)
    return request(dm, code, path, data, cf=LWM2M_TLV).code


# -- Device (3) ---------------------------------------------------------------

def make_device(clock=None, **kw):
    facts = {"manufacturer": "ACME", "model": "node-1", "serial": "42",
             "firmware": "0.3", "mem_free": lambda: 20 * 1024 + 100}
    facts.update(kw)
    dev = Device(clock or Clock(), **facts)
    return dev, node(dev)


def test_device_identity_text_and_tlv():
    dev, dm = make_device(mem_total=64 * 1024)
    assert read_text(dm, "/3/0/0") == "ACME"
    assert read_text(dm, "/3/0/3") == "0.3"
    assert read_text(dm, "/3/0/16") == "U"
    values = read_tlv(dm, "/3/0")
    assert values[0] == "ACME" and values[1] == "node-1" and values[2] == "42"
    assert values[10] == 20 and values[21] == 64
    assert values[11] == {0: 0}
    assert 4 not in values and 12 not in values     # executables are not read
    assert 13 not in values                         # time unknown: omitted


def test_device_memory_free_computed_on_read():
    free = [50 * 1024]
    dev, dm = make_device(mem_free=lambda: free[0])
    assert read_text(dm, "/3/0/10") == "50"
    free[0] = 7 * 1024 + 1023
    assert read_text(dm, "/3/0/10") == "7"


def test_device_memory_free_default_is_gc_where_available():
    import gc
    dev = Device(Clock())
    present = 10 in dev.present(0)
    assert present == hasattr(gc, "mem_free")
    if present:
        assert dev.read(0, 10) >= 0


def test_device_battery_and_power_sources():
    mv = [3700]
    dev, dm = make_device(battery=lambda: 130,
                          power_sources=((1, lambda: mv[0], None), (5, 5000, 100)))
    assert read_text(dm, "/3/0/9") == "100"         # clamped to the 0..100 range
    values = read_tlv(dm, "/3/0")
    assert values[6] == {0: 1, 1: 5}
    assert values[7] == {0: 3700, 1: 5000}
    assert values[8] == {1: 100}
    mv[0] = 3300
    assert read_text(dm, "/3/0/7/0") == "3300"
    try:
        Device(Clock(), power_sources=(9,))
        assert False, "power source code 9 accepted"
    except ValueError:
        pass


def test_device_absent_optional_resources_are_not_found():
    dev, dm = make_device()
    assert request(dm, GET, "/3/0/9", accept=TEXT_PLAIN).code == NOT_FOUND   # no battery
    assert request(dm, GET, "/3/0/14", accept=TEXT_PLAIN).code == NOT_FOUND
    assert request(dm, POST, "/3/0/5").code == NOT_FOUND    # no factory reset callback


def test_device_read_only_and_undeletable():
    dev, dm = make_device()
    assert write_text(dm, "/3/0/0", "EVIL") == METHOD_NOT_ALLOWED
    assert write_text(dm, "/3/0/16", "UQ") == METHOD_NOT_ALLOWED
    assert request(dm, GET, "/3/0/4").code == METHOD_NOT_ALLOWED      # execute-only
    assert request(dm, POST, "/3/0/0").code == METHOD_NOT_ALLOWED     # not executable
    assert request(dm, DELETE, "/3/0").code == METHOD_NOT_ALLOWED
    assert read_text(dm, "/3/0/0") == "ACME"


def test_device_reboot_is_scheduled_not_run_inline():
    calls = []
    dev, dm = make_device(reboot=lambda: calls.append("reboot"),
                          factory_reset=lambda: calls.append("factory"))
    assert request(dm, POST, "/3/0/4").code == CHANGED
    assert calls == []                              # nothing ran in the handler
    assert dev.pending == REBOOT
    assert dev.run_pending() == REBOOT
    assert calls == ["reboot"] and dev.pending is None
    assert dev.run_pending() is None and calls == ["reboot"]
    assert request(dm, POST, "/3/0/5").code == CHANGED
    assert calls == ["reboot"] and dev.pending == FACTORY_RESET
    dev.run_pending()
    assert calls == ["reboot", "factory"]


def test_device_current_time_unknown_until_written():
    clock = Clock(5000)
    dev, dm = make_device(clock)
    assert dev.time() is None
    assert request(dm, GET, "/3/0/13", accept=TEXT_PLAIN).code == NOT_FOUND
    assert 13 not in read_tlv(dm, "/3/0")
    assert write_text(dm, "/3/0/13", "1700000000") == CHANGED
    assert read_text(dm, "/3/0/13") == "1700000000"
    clock.ms += 999
    assert read_text(dm, "/3/0/13") == "1700000000"
    clock.ms += 1
    assert read_text(dm, "/3/0/13") == "1700000001"
    clock.ms += 3600 * 1000
    assert read_tlv(dm, "/3/0")[13] == 1700003601
    assert write_text(dm, "/3/0/13", "-5") == BAD_REQUEST
    assert read_text(dm, "/3/0/13") == "1700003601"


def test_device_time_from_ntp_notifies_once():
    clock = Clock(0)
    dev, dm = make_device(clock)
    seen = Counter()
    dev.on_change = seen
    dev.set_time(1800000000)
    assert seen.count(13) == 1
    clock.ms = 2500
    assert read_text(dm, "/3/0/13") == "1800000002"


def test_device_replace_without_time_forgets_it():
    dev, dm = make_device()
    write_text(dm, "/3/0/13", "1700000000")
    assert write_tlv(dm, "/3/0", {14: "+01:00"}, code=PUT) == CHANGED
    assert dev.time() is None
    assert request(dm, GET, "/3/0/13", accept=TEXT_PLAIN).code == NOT_FOUND
    assert read_text(dm, "/3/0/14") == "+01:00"
    assert read_text(dm, "/3/0/0") == "ACME"        # read-only ones stay


def test_device_utc_offset_and_timezone_writable():
    dev, dm = make_device(timezone="Europe/Berlin")
    assert read_text(dm, "/3/0/15") == "Europe/Berlin"
    assert write_tlv(dm, "/3/0", {14: "UTC+02:00", 15: "Europe/Paris"}) == CHANGED
    assert read_text(dm, "/3/0/14") == "UTC+02:00"
    assert read_text(dm, "/3/0/15") == "Europe/Paris"


def test_device_error_codes():
    dev, dm = make_device()
    seen = Counter()
    dev.on_change = seen
    assert dev.errors() == []
    dev.add_error(1)
    assert read_tlv(dm, "/3/0")[11] == {0: 1}
    dev.add_error(8)
    dev.add_error(1)                                # already active: no news
    assert read_tlv(dm, "/3/0")[11] == {0: 1, 1: 8}
    assert seen.count(11) == 2
    dev.clear_error(1)
    assert read_tlv(dm, "/3/0")[11] == {1: 8}
    dev.clear_error(8)
    assert read_tlv(dm, "/3/0")[11] == {0: 0}
    dev.add_error(5)
    dev.add_error(7)
    assert request(dm, POST, "/3/0/12").code == CHANGED    # Reset Error Code
    assert read_tlv(dm, "/3/0")[11] == {0: 0} and dev.errors() == []
    assert seen.count(11) == 7
    assert request(dm, POST, "/3/0/12").code == CHANGED
    assert seen.count(11) == 7                      # nothing changed
    try:
        dev.add_error(9)
        assert False, "error code 9 accepted"
    except ValueError:
        pass


# -- Temperature (3303) ---------------------------------------------------------

class FakeSensor:
    """start/ready/read with a conversion time; `values` are returned in turn,
    an Exception in the list is raised instead."""
    MIN_C = -55
    MAX_C = 125

    def __init__(self, values, conversion_ms=100, resolution=None):
        self.values = list(values)
        self.conversion_ms = conversion_ms
        if resolution is not None:
            self.resolution = resolution
        self.t0 = None
        self.starts = 0

    def start(self, now_ms):
        self.t0 = now_ms
        self.starts += 1

    def ready(self, now_ms):
        return self.t0 is not None and now_ms - self.t0 >= self.conversion_ms

    def read(self):
        self.t0 = None
        v = self.values.pop(0)
        if isinstance(v, Exception):
            raise v
        return v


class PlainSensor:
    """The simplest driver: read() only."""

    def __init__(self, value):
        self.value = value

    def read(self):
        return self.value


def test_temperature_sampling_period_and_conversion():
    sensor = FakeSensor([21.0, 22.0, 23.0])
    temp = Temperature(sensor, period_ms=10000)
    dm = node(temp)
    assert request(dm, GET, "/3303/0/5700", accept=TEXT_PLAIN).code == NOT_FOUND
    assert temp.poll(0) == 100                      # started, ready in 100 ms
    assert sensor.starts == 1 and 5700 not in temp.instances[0]
    assert temp.poll(50) == 100
    assert temp.poll(100) == 10000                  # read, next sample due
    assert read_text(dm, "/3303/0/5700") == "21.0"
    temp.poll(5000)
    assert sensor.starts == 1
    temp.poll(10000)
    temp.poll(10100)
    assert read_text(dm, "/3303/0/5700") == "22.0"
    assert sensor.starts == 2


def test_temperature_rounds_to_resolution():
    ds = FakeSensor([21.03, 21.1], conversion_ms=0, resolution=12)   # 1/16 degC
    temp = Temperature(ds)
    temp.poll(0)
    assert temp.read(0, 5700) == 21.0
    temp.poll(10000)
    assert temp.read(0, 5700) == 21.125
    temp.add(PlainSensor(19.987654), iid=1)                           # 0.01 default
    temp.poll(20000)
    assert temp.read(1, 5700) == 19.99
    temp.add(PlainSensor(19.26), resolution=0.5)
    temp.poll(30000)
    assert temp.read(2, 5700) == 19.5


def test_temperature_min_max_and_reset():
    sensor = FakeSensor([20.0, 25.5, 18.25, 22.0], conversion_ms=0)
    temp = Temperature(sensor, period_ms=1000)
    dm = node(temp)
    for t in (0, 1000, 2000):
        temp.poll(t)
    values = read_tlv(dm, "/3303/0")
    assert values[5700] == 18.25 and values[5601] == 18.25 and values[5602] == 25.5
    assert values[5701] == "Cel"
    assert values[5603] == -55.0 and values[5604] == 125.0
    assert request(dm, POST, "/3303/0/5605").code == CHANGED
    values = read_tlv(dm, "/3303/0")
    assert values[5601] == 18.25 and values[5602] == 18.25
    temp.poll(3000)
    assert read_text(dm, "/3303/0/5602") == "22.0"
    assert read_text(dm, "/3303/0/5601") == "18.25"


def test_temperature_driver_error_keeps_last_good_value():
    sensor = FakeSensor([20.5, OSError("crc"), ValueError("bus"), 21.0], conversion_ms=0)
    temp = Temperature(sensor, period_ms=1000)
    seen = Counter()
    temp.on_change = seen
    temp.poll(0)
    temp.poll(1000)
    temp.poll(2000)
    assert temp.read(0, 5700) == 20.5
    assert temp.sensor(0).errors == 2
    assert str(temp.sensor(0).last_error) == "bus"
    assert seen.count(5700) == 1
    temp.poll(3000)
    assert temp.read(0, 5700) == 21.0


def test_temperature_stuck_driver_times_out():
    sensor = FakeSensor([20.0], conversion_ms=100)
    sensor.ready = lambda now_ms: False
    temp = Temperature(sensor, period_ms=1000)
    temp.poll(0)
    temp.poll(999)
    assert temp.sensor(0).errors == 0
    temp.poll(1000)
    assert temp.sensor(0).errors == 1
    temp.poll(1001)
    assert sensor.starts == 2                       # tried again


def test_temperature_observers_only_on_change():
    temp = Temperature(FakeSensor([21.0, 21.0, 21.001, 22.0], conversion_ms=0),
                       period_ms=1000, resolution=0.1)
    seen = Counter()
    temp.on_change = seen
    for t in (0, 1000, 2000):
        temp.poll(t)
    assert seen.count(5700) == 1                    # 21.0 three times (rounded)
    assert seen.count(5601) == 1 and seen.count(5602) == 1
    temp.poll(3000)
    assert seen.count(5700) == 2 and seen.count(5602) == 2 and seen.count(5601) == 1


def test_temperature_writes_and_errors():
    temp = Temperature(SimTemperature(seed=7), app_type="room")
    dm = node(temp)
    temp.poll(0)
    assert read_text(dm, "/3303/0/5750") == "room"
    assert write_text(dm, "/3303/0/5750", "cellar") == CHANGED
    assert read_text(dm, "/3303/0/5750") == "cellar"
    assert write_text(dm, "/3303/0/5700", "99.0") == METHOD_NOT_ALLOWED
    assert write_text(dm, "/3303/0/5701", "K") == METHOD_NOT_ALLOWED
    assert request(dm, POST, "/3303/0/5700").code == METHOD_NOT_ALLOWED
    assert request(dm, GET, "/3303/1/5700", accept=TEXT_PLAIN).code == NOT_FOUND
    assert request(dm, DELETE, "/3303/0").code == METHOD_NOT_ALLOWED
    assert request(dm, POST, "/3303", tlv.encode([((3303, 1, 5750), "x")], (3303,)),
                   cf=LWM2M_TLV).code == METHOD_NOT_ALLOWED
    assert temp.iids() == [0]


def test_temperature_sim_driver_values_in_range():
    temp = Temperature(SimTemperature(seed=3, start_c=21.0))
    for i in range(20):
        temp.poll(i * 10000)
    v = temp.read(0, 5700)
    assert 19.0 <= v <= 23.0
    assert temp.read(0, 5601) <= v <= temp.read(0, 5602)


# -- On/Off Switch (3342) ---------------------------------------------------------

def test_switch_state_counter_and_times():
    sim = SimSwitch()
    sw = OnOffSwitch(sim, app_type="door")
    dm = node(sw)
    sw.poll(0)
    assert read_text(dm, "/3342/0/5500") == "0"
    sim.press()
    sw.poll(1000)                                   # on at 1 s
    assert read_text(dm, "/3342/0/5500") == "1"
    assert read_text(dm, "/3342/0/5501") == "1"
    sw.poll(4500)
    values = read_tlv(dm, "/3342/0")
    assert values[5500] is True and values[5852] == 3 and values[5854] == 1
    assert values[5750] == "door"
    sim.press()
    sw.poll(6000)                                   # off at 6 s after 5 s on
    sim.press()
    sw.poll(8000)                                   # on again after 2 s off
    values = read_tlv(dm, "/3342/0")
    assert values[5501] == 2 and values[5852] == 0 and values[5854] == 2


def test_switch_write_zero_resets_times():
    sim = SimSwitch(state=True)
    clock = Clock(0)
    sw = OnOffSwitch(sim, clock=clock)
    dm = node(sw)
    sw.poll(0)
    sw.poll(7000)
    assert read_text(dm, "/3342/0/5852") == "7"
    clock.ms = 7000
    assert write_text(dm, "/3342/0/5852", "0") == CHANGED
    assert read_text(dm, "/3342/0/5852") == "0"
    sw.poll(9000)
    assert read_text(dm, "/3342/0/5852") == "2"
    assert write_text(dm, "/3342/0/5852", "5") == BAD_REQUEST
    assert write_text(dm, "/3342/0/5854", "3") == BAD_REQUEST
    assert write_text(dm, "/3342/0/5500", "0") == METHOD_NOT_ALLOWED
    assert write_text(dm, "/3342/0/5501", "0") == METHOD_NOT_ALLOWED
    assert read_text(dm, "/3342/0/5852") == "2"


def test_switch_observers_only_on_change():
    sim = SimSwitch()
    sw = OnOffSwitch(sim)
    seen = Counter()
    sw.on_change = seen
    for t in range(0, 900, 100):
        sw.poll(t)
    assert seen.calls == []                         # nothing moved within 1 s
    sim.press()
    sw.poll(1000)
    assert seen.count(5500) == 1 and seen.count(5501) == 1
    sw.poll(1100)
    sw.poll(1200)
    assert seen.count(5500) == 1
    sw.poll(2000)
    assert seen.count(5852) == 1                    # on time ticked to 1 s


def test_switch_with_debounced_button():
    from drivers.button import Button

    class Pin:
        IRQ_RISING = 1
        IRQ_FALLING = 2

        def __init__(self):
            self.level = 0
            self.handler = None

        def value(self):
            return self.level

        def irq(self, handler, trigger=None):
            self.handler = handler

        def edge(self, level):
            self.level = level
            self.handler(self)

    pin = Pin()
    sw = OnOffSwitch(Button(pin, debounce_ms=30))
    sw.poll(0)
    pin.edge(1)
    sw.poll(10)
    assert sw.read(0, 5500) is False                # still bouncing
    sw.poll(50)
    assert sw.read(0, 5500) is True and sw.read(0, 5501) == 1


# -- Light Control (3311) -----------------------------------------------------------

def make_light(**kw):
    clock = Clock(0)
    sim = SimLight(rated_w=10.0)
    lc = LightControl(sim, clock=clock, **kw)
    return clock, sim, lc, node(lc)


def test_light_on_off_drives_driver():
    clock, sim, lc, dm = make_light()
    assert read_text(dm, "/3311/0/5850") == "0"
    assert write_text(dm, "/3311/0/5850", "1") == CHANGED
    assert sim.on is True and sim.log[-1] == (0, True, 100)
    assert read_text(dm, "/3311/0/5850") == "1"
    clock.ms = 500
    assert write_text(dm, "/3311/0/5850", "0") == CHANGED
    assert sim.on is False and sim.log[-1] == (500, False, 100)


def test_light_dimmer_range():
    clock, sim, lc, dm = make_light()
    assert write_text(dm, "/3311/0/5851", "40") == CHANGED
    assert sim.dimmer == 40
    for bad in ("101", "-1", "150"):
        assert write_text(dm, "/3311/0/5851", bad) == BAD_REQUEST
    assert sim.dimmer == 40
    assert read_text(dm, "/3311/0/5851") == "40"
    assert write_text(dm, "/3311/0/5851", "0") == CHANGED
    assert write_text(dm, "/3311/0/5851", "100") == CHANGED
    assert sim.dimmer == 100


def test_light_tlv_partial_update():
    clock, sim, lc, dm = make_light()
    assert write_tlv(dm, "/3311/0", {5850: True, 5851: 25, 5706: "#ff8000"}) == CHANGED
    assert sim.on is True and sim.dimmer == 25
    values = read_tlv(dm, "/3311/0")
    assert values[5850] is True and values[5851] == 25 and values[5706] == "#ff8000"
    assert values[5701] == "Wh"


def test_light_replace_keeps_driver_resources():
    clock, sim, lc, dm = make_light(colour="white", app_type="hall")
    assert write_tlv(dm, "/3311/0", {5850: True}, code=PUT) == CHANGED
    values = read_tlv(dm, "/3311/0")
    assert 5706 not in values and 5750 not in values
    assert values[5851] == 100 and 5852 in values


def test_light_on_time_energy_and_reset():
    clock, sim, lc, dm = make_light(power_factor=0.9)
    write_text(dm, "/3311/0/5850", "1")
    write_text(dm, "/3311/0/5851", "50")
    lc.poll(3600 * 1000)                            # an hour at 5 W
    values = read_tlv(dm, "/3311/0")
    assert values[5852] == 3600
    assert abs(values[5805] - 5.0) < 1e-6
    assert abs(values[5820] - 0.9) < 1e-6
    assert write_text(dm, "/3311/0/5852", "10") == BAD_REQUEST
    clock.ms = 3600 * 1000
    assert write_text(dm, "/3311/0/5852", "0") == CHANGED
    lc.poll(3605 * 1000)
    assert read_text(dm, "/3311/0/5852") == "5"
    assert write_text(dm, "/3311/0/5805", "0") == METHOD_NOT_ALLOWED
    assert write_text(dm, "/3311/0/5820", "1.0") == METHOD_NOT_ALLOWED


def test_light_observers_only_on_change():
    clock, sim, lc, dm = make_light()
    seen = Counter()
    lc.on_change = seen
    lc.poll(0)
    lc.poll(100)
    assert seen.calls == []
    sim.set_on(True, 200)                           # switched locally
    lc.poll(200)
    assert seen.count(5850) == 1
    lc.poll(300)
    assert seen.count(5850) == 1 and seen.count(5852) == 0
    lc.poll(1200)
    assert seen.count(5852) == 1


def test_light_instances_belong_to_hardware():
    clock, sim, lc, dm = make_light()
    assert request(dm, DELETE, "/3311/0").code == METHOD_NOT_ALLOWED
    assert lc.add(SimLight()) == 1
    assert write_text(dm, "/3311/1/5850", "1") == CHANGED
    assert sim.on is False and lc._drivers[1].on is True


def test_light_failed_write_changes_nothing():
    clock, sim, lc, dm = make_light()
    assert write_tlv(dm, "/3311/0", {5850: True, 5851: 150}) == BAD_REQUEST
    assert sim.on is False and sim.dimmer == 100 and sim.log == []
    assert read_text(dm, "/3311/0/5850") == "0"
