"""The ESP32 and Pico W board modules, loaded under CPython with stand-ins for
`machine`, `network`, `onewire`, `esp32` (no hardware, no pins), and the rule that
only boards/<name>/board.py imports machine/network."""
import ast
import importlib.util
import os
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "boards", "common"))

import boardkit  # noqa: E402


class Pin:
    IN, OUT, PULL_UP = 0, 1, 2
    IRQ_RISING, IRQ_FALLING = 1, 2

    def __init__(self, ident, mode=None, pull=None):
        self.ident, self.mode, self.pull = ident, mode, pull
        self.level = 1 if pull == self.PULL_UP else 0

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v

    def irq(self, handler=None, trigger=3):
        self.handler = handler


class PWM:
    def __init__(self, pin):
        self.pin = pin

    def freq(self, hz):
        self.hz = hz

    def duty_u16(self, d=None):
        self.duty = d


class WDT:
    made = []

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.fed = 0
        WDT.made.append(self)

    def feed(self):
        self.fed += 1


class ADC:
    def __init__(self, ch):
        self.ch = ch

    def read_u16(self):
        return 14000            # ~0.705 V on the RP2040 sensor: about 27 degC


class WLAN:
    def __init__(self, iface):
        self.iface = iface
        self.on = False
        self.up = False

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid, key):
        self.up = True

    def disconnect(self):
        self.up = False

    def isconnected(self):
        return self.up

    def status(self):
        return 3 if self.up else 1

    def ifconfig(self):
        return ("10.1.2.3", "255.255.255.0", "10.1.2.1", "10.1.2.1")


def fake_modules(monkeypatch, esp=True):
    machine = types.ModuleType("machine")
    machine.Pin, machine.PWM, machine.WDT, machine.ADC = Pin, PWM, WDT, ADC
    machine.I2C = lambda *a, **k: ("i2c", a, k)
    machine.unique_id = lambda: b"\xde\xad\xbe\xef\x00\x01"
    machine.resets = []
    machine.reset = lambda: machine.resets.append(1)
    network = types.ModuleType("network")
    network.STA_IF = 0
    network.WLAN = WLAN
    network.STAT_WRONG_PASSWORD = -3
    network.STAT_NO_AP_FOUND = -2
    network.STAT_CONNECT_FAIL = -1
    network.countries = []
    network.country = network.countries.append
    onewire = types.ModuleType("onewire")
    onewire.OneWire = lambda pin: ("ow", pin)
    mods = {"machine": machine, "network": network, "onewire": onewire}
    if esp:
        esp32 = types.ModuleType("esp32")
        esp32.raw_temperature = lambda: 122         # classic ESP32: degF
        mods["esp32"] = esp32
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return mods


def load_board(name):
    spec = importlib.util.spec_from_file_location(
        "board_" + name, os.path.join(ROOT, "boards", name, "board.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Secrets:
    WIFI_SSID = "home"
    WIFI_PASSWORD = "pw"


def config_for(name, tmp_path, **over):
    path = os.path.join(ROOT, "boards", name, "config.json")
    config = boardkit.load_json(path)
    config.update({"local_port": 0, "store_dir": str(tmp_path / "state")}, **over)
    return config


def test_esp32_board(monkeypatch, tmp_path):
    mods = fake_modules(monkeypatch)
    board = load_board("esp32")
    b = board.setup(config_for("esp32", tmp_path, wifi={"country": "DE"}), Secrets)
    try:
        assert b.name == "esp32" and b.facts["manufacturer"] == "Espressif"
        assert b.facts["serial"] == "deadbeef0001"
        assert b.endpoint == "mpnode-deadbeef0001"
        assert os.path.isdir(b.store_dir)
        assert mods["network"].countries == ["DE"]
        (temp,) = b.drivers["temperature"]
        assert temp.read() == pytest.approx(50.0)           # 122 degF
        assert b.drivers["switch"]._pin.ident == 0
        assert b.drivers["light"]._pwm.hz == 1000
        assert b.network.poll(0) is False and b.network.poll(1) is True
        assert b.network.address() == "10.1.2.3"
        WDT.made.clear()
        assert b.start_watchdog() is True
        assert WDT.made[0].timeout == 15000
        b.feed()
        assert WDT.made[0].fed == 1
        b.reset()
        assert mods["machine"].resets == [1]
        assert b.warnings == []
    finally:
        b.transport.close()


def test_esp32_c3_internal_sensor_in_celsius(monkeypatch, tmp_path):
    mods = fake_modules(monkeypatch)
    del mods["esp32"].raw_temperature
    mods["esp32"].mcu_temperature = lambda: 41.0
    board = load_board("esp32")
    override = boardkit.load_json(os.path.join(ROOT, "boards", "esp32", "config.esp32c3.json"))
    b = board.setup(boardkit.merge(config_for("esp32", tmp_path), override), Secrets)
    try:
        assert b.drivers["temperature"][0].read() == 41.0
        assert b.drivers["switch"]._pin.ident == 9 and b.drivers["light"]._pwm.pin.ident == 8
    finally:
        b.transport.close()


def test_pico_w_board(monkeypatch, tmp_path):
    fake_modules(monkeypatch, esp=False)
    board = load_board("rp2_pico_w")
    b = board.setup(config_for("rp2_pico_w", tmp_path, watchdog_ms=20000), Secrets)
    try:
        assert b.facts["manufacturer"] == "Raspberry Pi"
        assert 20 < b.drivers["temperature"][0].read() < 35
        assert b.drivers["light"]._pin.ident == "LED"
        WDT.made.clear()
        assert b.start_watchdog()
        assert WDT.made[0].timeout == 8388                  # the RP2040's maximum
    finally:
        b.transport.close()


def test_no_secrets_means_no_network_and_a_warning(monkeypatch, tmp_path):
    fake_modules(monkeypatch)
    monkeypatch.setattr(boardkit, "load_secrets", lambda: None)
    b = load_board("esp32").setup(config_for("esp32", tmp_path))
    try:
        assert b.network is None
        assert "secrets" in b.warnings[0]
    finally:
        b.transport.close()


def test_maintenance_flag_keeps_the_watchdog_off(monkeypatch, tmp_path):
    fake_modules(monkeypatch)
    b = load_board("esp32").setup(config_for("esp32", tmp_path), Secrets)
    try:
        monkeypatch.chdir(tmp_path)
        (tmp_path / boardkit.MAINTENANCE_FLAG).write_text("")
        assert b.start_watchdog() is False
        os.remove(tmp_path / boardkit.MAINTENANCE_FLAG)
        assert b.start_watchdog() is True
    finally:
        b.transport.close()


def _imports(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module.split(".")[0]


def test_only_board_modules_import_machine_or_network():
    offenders = []
    for top in ("lib", "firmware", "boards"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                path = os.path.join(dirpath, name)
                if not name.endswith(".py") or name == "manifest.py":
                    continue
                hits = {"machine", "network"} & set(_imports(path))
                if hits and not (name == "board.py" and top == "boards"):
                    offenders.append((os.path.relpath(path, ROOT), sorted(hits)))
    assert offenders == []
