"""Board support without hardware, under CPython and the unix port: the unix board,
boardkit's config helpers, drivers built from a config on a fake `machine`, and
the Wi-Fi bring-up (retry, back-off, network rotation, link loss) on a fake WLAN."""
import sys

from host_tests.support.check import ROOT, raises
from host_tests.support.fake_hw import FakePin, FakePWM

for _p in (ROOT + "/boards/unix", ROOT + "/boards/common"):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import boardkit  # noqa: E402
from boardkit import WifiLink, make_drivers, merge, wifi_networks  # noqa: E402

STATE = ROOT + "/build/test-boards"


def _unix(config=None):
    import board
    cfg = {"store_dir": STATE}
    cfg.update(config or {})
    return board.setup(cfg)


def test_unix_board_defaults():
    b = _unix()
    try:
        assert b.name == "unix"
        host, port = b.transport.local_address()
        assert host == "127.0.0.1" and port > 0
        assert b.endpoint == "mpnode-unix-1"
        assert b.store_dir == STATE + "/mpnode-unix-1"
        assert boardkit.exists(b.store_dir)
        assert b.network is None
        temps = b.drivers["temperature"]
        assert len(temps) == 1
        temps[0].start(0)
        assert temps[0].ready(0) and 20.8 <= temps[0].read() <= 21.2
        assert b.drivers["switch"].poll(0) is False
        b.drivers["light"].set_on(True, 0)
        assert b.drivers["light"].log == [(0, True, 100)]
        t1 = b.now_ms()
        assert isinstance(t1, int) and b.now_ms() >= t1
        f = b.facts
        assert f["serial"] == "unix-1" and f["name"] == "unix"
        assert f["micropython"].lower().startswith(sys.implementation.name + " ")
        info = b.device_info()
        assert info["serial"] == "unix-1" and info["reboot"] == b.reset
        assert info["firmware"].endswith(" / " + f["micropython"])
        assert b.start_watchdog() is False      # no watchdog on the unix port
        b.feed()
        with raises(SystemExit):
            b.reset()
    finally:
        b.transport.close()


def test_unix_board_config_overrides_defaults():
    b = _unix({"serial": "n7", "light": {"kind": "none"},
               "temperature": [{"kind": "sim", "seed": 5}, {"kind": "sim", "seed": 6}]})
    try:
        assert b.endpoint == "mpnode-n7"
        assert b.drivers["light"] is None
        assert len(b.drivers["temperature"]) == 2
        assert b.config["server_uri"] == "coap://127.0.0.1:5683"    # default kept
    finally:
        b.transport.close()


def test_unix_board_bad_driver_names_the_entry():
    with raises(ValueError) as e:
        _unix({"temperature": [{"kind": "thermistor"}]})
    assert "temperature[0] thermistor" in str(e.value)


def test_merge_is_deep_and_leaves_inputs_alone():
    base = {"a": 1, "wifi": {"timeout_ms": 1, "backoff_ms": 2}}
    out = merge(base, {"wifi": {"timeout_ms": 9}, "b": [1]})
    assert out == {"a": 1, "b": [1], "wifi": {"timeout_ms": 9, "backoff_ms": 2}}
    assert base["wifi"]["timeout_ms"] == 1


def test_makedirs_nested_and_existing():
    path = STATE + "/x/y/z"
    assert boardkit.makedirs(path) == path
    assert boardkit.exists(path)
    boardkit.makedirs(path)                 # again: no error


def test_load_json_missing_is_empty():
    assert boardkit.load_json(STATE + "/no-such.json") == {}


class _Secrets:
    pass


def test_wifi_networks_from_secrets():
    s = _Secrets()
    assert wifi_networks(None) == [] and wifi_networks(s) == []
    s.WIFI_SSID = "home"
    s.WIFI_PASSWORD = "pw"
    assert wifi_networks(s) == [("home", "pw")]
    s.WIFI_NETWORKS = [("a", "1"), ("b", "2")]
    assert wifi_networks(s) == [("a", "1"), ("b", "2")]


# -- drivers on a fake machine ---------------------------------------------------
class _Pin(FakePin):
    IN = 0
    OUT = 1
    PULL_UP = 2

    def __init__(self, ident, mode=None, pull=None):
        FakePin.__init__(self, 1 if pull == self.PULL_UP else 0)
        self.ident = ident
        self.mode = mode
        self.pull = pull


class _PWM(FakePWM):
    def __init__(self, pin):
        FakePWM.__init__(self)
        self.pin = pin
        self.hz = None

    def freq(self, hz):
        self.hz = hz


class _I2C:
    def __init__(self, ident, scl=None, sda=None, freq=None):
        self.args = (ident, scl.ident, sda.ident, freq)


class _Machine:
    Pin = _Pin
    PWM = _PWM
    I2C = _I2C


class _OneWire:
    def __init__(self, pin):
        self.pin = pin


class _OneWireModule:
    OneWire = _OneWire


class _Internal:
    def __init__(self):
        self.offset_c = 0.0


def test_make_drivers_on_a_fake_machine():
    config = {
        "temperature": [{"kind": "internal", "offset_c": -1.5},
                        {"kind": "ds18b20", "pin": 4, "resolution": 10,
                         "rom": "28a1b2c3d4e5f6ab"},
                        {"kind": "sht3x", "i2c": 1, "scl": 22, "sda": 21, "addr": 0x45}],
        "switch": {"kind": "button", "pin": 0, "active_low": True, "debounce_ms": 20},
        "light": {"kind": "pwm", "pin": 2, "freq": 500, "rated_w": 3.0},
    }
    d = make_drivers(config, _Machine, _OneWireModule, _Internal, ticks=None)
    internal, ds, sht = d["temperature"]
    assert internal.offset_c == -1.5
    assert ds.ow.pin.ident == 4 and ds.resolution == 10
    assert ds.rom == bytes([0x28, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0xAB])
    assert sht.addr == 0x45 and sht.i2c.args == (1, 22, 21, 100000)
    button = d["switch"]
    assert button._pin.ident == 0 and button._pin.pull == _Pin.PULL_UP
    assert button.debounce_ms == 20 and button._pin.handler is not None
    light = d["light"]
    assert light._pwm.hz == 500 and light._pwm.pin.mode == _Pin.OUT
    light.set_on(True, 0)
    assert light._pwm.duty == 65535


def test_make_drivers_plain_pin_light_and_nothing_else():
    d = make_drivers({"light": {"kind": "pin", "pin": "LED", "active_low": True}}, _Machine)
    assert d["temperature"] == [] and d["switch"] is None
    d["light"].set_on(True, 0)
    assert d["light"]._pin.ident == "LED" and d["light"]._pin.level == 0   # active low


def test_make_drivers_internal_without_sensor_is_an_error():
    with raises(ValueError) as e:
        make_drivers({"temperature": [{"kind": "internal"}]}, _Machine)
    assert "temperature[0] internal" in str(e.value)
    with raises(ValueError) as e:
        make_drivers({"switch": {"kind": "button"}}, _Machine)     # no pin given
    assert "switch button" in str(e.value)


# -- Wi-Fi bring-up on a fake WLAN -------------------------------------------------
CONNECTING = 1
GOT_IP = 3
WRONG_PASSWORD = -3
FAILURES = {WRONG_PASSWORD: "wrong password"}


class FakeWLAN:
    """network.WLAN stand-in: `plan` is what each connect() leads to:
    "up" (connected at once), "wrong" (status WRONG_PASSWORD) or "hang"."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.on = False
        self.up = False
        self.st = 0
        self.connects = []
        self.disconnects = 0

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid, key):
        assert self.on
        self.connects.append((ssid, key))
        what = self.plan.pop(0) if self.plan else "hang"
        self.up = what == "up"
        self.st = GOT_IP if self.up else WRONG_PASSWORD if what == "wrong" else CONNECTING

    def disconnect(self):
        self.disconnects += 1
        self.up = False
        self.st = 0

    def isconnected(self):
        return self.up

    def status(self):
        return self.st

    def ifconfig(self):
        return ("10.0.0.7", "255.255.255.0", "10.0.0.1", "10.0.0.1")


def test_wifi_up_at_first_try():
    w = FakeWLAN(["up"])
    link = WifiLink(w, [("home", "pw")], FAILURES)
    assert link.poll(0) is False            # starts the attempt
    assert w.connects == [("home", "pw")] and w.on
    assert link.poll(10) is True and link.state == "up"
    assert link.address() == "10.0.0.7"


def test_wifi_wrong_password_backs_off_doubling_and_rotates_networks():
    w = FakeWLAN(["wrong", "wrong", "up"])
    link = WifiLink(w, [("a", "1"), ("b", "2")], FAILURES, backoff_ms=1000)
    link.poll(0)
    assert link.poll(5) is False
    assert link.state == "backoff" and link.last_error == "wrong password"
    assert link.next_poll_ms(5) == 1000
    link.poll(500)                              # still backing off: no new attempt
    assert len(w.connects) == 1
    link.poll(1005)                             # second attempt, next network
    assert w.connects[-1] == ("b", "2")
    link.poll(1010)
    assert link.state == "backoff" and link.next_poll_ms(1010) == 2000   # doubled
    link.poll(3010)
    assert w.connects[-1] == ("a", "1")
    assert link.poll(3020) is True and link.attempts == 0 and link.total_attempts == 3


def test_wifi_attempt_times_out_and_backoff_is_capped():
    w = FakeWLAN([])                             # every attempt hangs
    link = WifiLink(w, [("a", "1")], FAILURES, timeout_ms=100, backoff_ms=1000,
                    max_backoff_ms=3000)
    now = 0
    waits = []
    for _ in range(4):
        link.poll(now)                           # start
        link.poll(now + 100)                     # times out
        assert link.last_error == "timeout"
        waits.append(link.next_poll_ms(now + 100))
        now += 100 + waits[-1]
    assert waits == [1000, 2000, 3000, 3000]
    assert w.disconnects == 4


def test_wifi_link_lost_is_brought_up_again():
    w = FakeWLAN(["up", "up"])
    link = WifiLink(w, [("a", "1")], FAILURES)
    link.poll(0)
    assert link.poll(1)
    w.up = False                                 # the AP went away
    assert link.poll(2) is False and link.last_error == "link lost"
    assert len(w.connects) == 2
    assert link.poll(3) is True


def test_wifi_connect_blocks_on_a_fake_clock():
    w = FakeWLAN(["wrong", "up"])
    link = WifiLink(w, [("a", "1")], FAILURES, backoff_ms=500)
    clock = [0]
    fed = []

    def now():
        return clock[0]

    def sleep(ms):
        assert 0 <= ms <= 250
        clock[0] += max(ms, 1)

    assert link.connect(now, sleep, timeout_ms=5000, feed=lambda: fed.append(1)) is True
    assert 750 <= clock[0] <= 1250 and fed


def test_wifi_connect_gives_up_at_its_timeout():
    link = WifiLink(FakeWLAN([]), [("a", "1")], FAILURES, timeout_ms=100)
    clock = [0]

    def sleep(ms):
        clock[0] += max(ms, 1)
    assert link.connect(lambda: clock[0], sleep, timeout_ms=2000) is False
    assert 2000 <= clock[0] <= 2250


def test_wifi_needs_credentials():
    with raises(ValueError):
        WifiLink(FakeWLAN([]), [])
