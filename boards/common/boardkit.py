"""What every board module shares, with no `machine` and no `network` in it.

Owns: the `Board` record that `boards/<name>/board.py:setup(config)` returns,
reading and merging the node's JSON config, the board facts that come from the
interpreter (MicroPython version, heap size), the maintenance flag that keeps
the watchdog off while a deploy runs, `WifiLink` (a non-blocking Wi-Fi
bring-up with retry and back-off driven by the caller's clock), building the
drivers a config names (`make_drivers`) and the common set-up of a Wi-Fi MCU
board (`mcu_setup`). `machine`, `network` and `onewire` are passed in by
board.py, the only module that imports them.

Runs on every board, on the unix port and under CPython (host tests), so it
imports only `gc`, `sys`, `json` and lwm2m.store's `exists` and `makedirs`
(the state directory, made private under CPython) at load time. Deployed as
`/lib/boardkit.mpy`; frozen by `boards/<name>/manifest.py`.

    board = setup(config)            # in boards/<name>/board.py
    board.transport                  # transport.udp.UdpTransport, bound
    board.store_dir                  # directory for persisted state
    board.drivers                    # {"temperature": [...], "switch": obj|None,
                                     #  "light": obj|None}
    board.facts                      # name, manufacturer, model, serial,
                                     # micropython, mem_total
    board.device_info()              # kwargs for lwm2m.objects.device.Device
    board.now_ms()                   # monotonic ms, never wraps
    board.network                    # WifiLink or None (no bring-up needed)
    board.start_watchdog() / feed()  # no-ops where the port has no WDT
    board.reset()                    # machine.reset() on a board
"""
import gc
import sys

try:
    import json
except ImportError:  # pragma: no cover - very old ports
    import ujson as json
from lwm2m.store import exists, makedirs

MAINTENANCE_FLAG = ".maintenance"   # tools/deploy.py creates it, removes it at the end
FIRMWARE = "lwm2m-node 0.1"


def load_json(path):
    """The JSON object in `path`, or {} when the file does not exist."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return {}


def merge(base, over):
    """A new dict: `base` updated by `over`, nested dicts merged key by key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def version_text():
    """MicroPython (or CPython) version as "1.24.1" from sys.implementation."""
    v = sys.implementation.version
    text = "%d.%d.%d" % (v[0], v[1], v[2])
    if len(v) > 3 and v[3] and v[3] != "final":     # MicroPython: "preview"; CPython: "final"
        text += "-" + str(v[3])
    return text


def heap_total():
    """GC heap size in bytes (mem_free + mem_alloc), or None under CPython."""
    free = getattr(gc, "mem_free", None)
    if free is None:
        return None
    gc.collect()
    return free() + gc.mem_alloc()


_NAMES = {"micropython": "MicroPython", "cpython": "CPython"}


def base_facts(name, manufacturer, model, serial):
    return {
        "name": name,
        "manufacturer": manufacturer,
        "model": model,
        "serial": serial,
        "micropython": _NAMES.get(sys.implementation.name, sys.implementation.name)
        + " " + version_text(),
        "mem_total": heap_total(),
    }


class Board:
    """What `setup()` hands to the firmware. Attributes are plain; see the module doc."""

    def __init__(self, name, config, transport, store_dir, drivers, facts, now_ms,
                 network=None, reset=None, watchdog=None):
        self.name = name
        self.config = config
        self.transport = transport
        self.store_dir = store_dir
        self.drivers = drivers
        self.facts = facts
        self.now_ms = now_ms
        self.network = network
        self.warnings = []          # set-up problems worth a log line
        self.endpoint = config.get("endpoint_prefix", "node-") + facts["serial"]
        self._reset = reset
        self._make_wdt = watchdog   # callable(timeout_ms) -> object with feed(), or None
        self._wdt = None

    def device_info(self):
        """Keyword arguments for the Device object (3): identity, memory, reboot."""
        f = self.facts
        return {"manufacturer": f["manufacturer"], "model": f["model"],
                "serial": f["serial"], "firmware": FIRMWARE + " / " + f["micropython"],
                "mem_total": f["mem_total"], "reboot": self.reset}

    def start_watchdog(self, timeout_ms=None):
        """Arm the hardware watchdog (config "watchdog_ms"; 0 = off). It cannot be
        stopped once armed. Not armed while the maintenance flag file exists (a
        deploy is running). True when armed."""
        if self._wdt is not None:
            return True
        ms = self.config.get("watchdog_ms", 0) if timeout_ms is None else timeout_ms
        if not ms or self._make_wdt is None or exists(MAINTENANCE_FLAG):
            return False
        self._wdt = self._make_wdt(ms)
        return True

    def feed(self):
        """Feed the watchdog, if armed. Call from the main loop, not from a timer."""
        if self._wdt is not None:
            self._wdt.feed()

    def reset(self):
        """Restart the node (machine.reset() on a board)."""
        if self._reset is None:
            raise SystemExit(75)
        self._reset()


# -- Wi-Fi ------------------------------------------------------------------
DOWN = "down"
CONNECTING = "connecting"
BACKOFF = "backoff"
UP = "up"


class WifiLink:
    """Station-mode bring-up with retry, non-blocking: call `poll(now_ms)` from the
    main loop (or `connect()` to block). `wlan` needs active(bool), connect(ssid,
    key), disconnect(), isconnected(), status() (network.WLAN(network.STA_IF)).

    networks:   [(ssid, key), ...], tried in turn, one per attempt.
    failures:   {status code: reason} for the codes that end an attempt at once
                (wrong password, no AP, connect failed; from network.STAT_*).
    timeout_ms: an attempt that is neither up nor failed by then is abandoned.
    Back-off after the n-th failed attempt: min(backoff_ms * 2**(n-1), max_backoff_ms).
    A link that drops is brought up again from `poll()`.
    """

    def __init__(self, wlan, networks, failures=None, timeout_ms=15000,
                 backoff_ms=1000, max_backoff_ms=60000):
        if not networks:
            raise ValueError("no Wi-Fi credentials (secrets.py)")
        self.wlan = wlan
        self.networks = list(networks)
        self.failures = failures or {}
        self.timeout_ms = timeout_ms
        self.backoff_ms = backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.state = DOWN
        self.attempts = 0           # failed attempts since the link was last up
        self.total_attempts = 0
        self.last_error = None      # reason of the last failed attempt
        self.ssid = None            # network of the current / last attempt
        self._t = 0                 # start of the attempt, or end of the back-off
        self._next = 0              # index into networks

    def _start(self, now_ms):
        self.ssid, key = self.networks[self._next % len(self.networks)]
        self._next += 1
        self.total_attempts += 1
        self.wlan.active(True)
        try:
            self.wlan.connect(self.ssid, key)
        except OSError as e:
            self._fail(now_ms, "connect: %s" % e)
            return
        self.state = CONNECTING
        self._t = now_ms

    def _fail(self, now_ms, reason):
        self.attempts += 1
        self.last_error = reason
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        wait = self.backoff_ms << min(self.attempts - 1, 16)
        self.state = BACKOFF
        self._t = now_ms + min(wait, self.max_backoff_ms)

    def poll(self, now_ms):
        """Advance the bring-up; True while the link is up."""
        if self.wlan.isconnected():
            if self.state != UP:
                self.state = UP
                self.attempts = 0
            return True
        if self.state == UP:            # the link dropped
            self.state = DOWN
            self.last_error = "link lost"
        if self.state == DOWN or (self.state == BACKOFF and now_ms >= self._t):
            self._start(now_ms)
        elif self.state == CONNECTING:
            reason = self.failures.get(self.wlan.status())
            if reason is not None:
                self._fail(now_ms, reason)
            elif now_ms - self._t >= self.timeout_ms:
                self._fail(now_ms, "timeout")
        return False

    def next_poll_ms(self, now_ms):
        """When `poll()` next has something to do (for a scheduler): ms from now."""
        if self.state == BACKOFF:
            return max(0, self._t - now_ms)
        return 250 if self.state == CONNECTING else 1000

    def connect(self, now_ms, sleep_ms, timeout_ms=60000, feed=None):
        """Block until up or `timeout_ms` passed; True when up. `now_ms()` and
        `sleep_ms(ms)` are the board's clock and sleep; `feed()` is called each round."""
        end = now_ms() + timeout_ms
        while not self.poll(now_ms()):
            if feed is not None:
                feed()
            now = now_ms()
            if now >= end:
                return False
            sleep_ms(min(self.next_poll_ms(now), 250, end - now))
        return True

    def address(self):
        """The station's IPv4 address, or None while down."""
        if not self.wlan.isconnected():
            return None
        try:
            return self.wlan.ifconfig()[0]
        except (AttributeError, OSError):
            return None


def wifi_networks(secrets):
    """[(ssid, key)] from a secrets module: WIFI_NETWORKS, else WIFI_SSID/WIFI_PASSWORD."""
    if secrets is None:
        return []
    nets = getattr(secrets, "WIFI_NETWORKS", None)
    if nets:
        return [(n[0], n[1]) for n in nets]
    ssid = getattr(secrets, "WIFI_SSID", None)
    return [(ssid, getattr(secrets, "WIFI_PASSWORD", ""))] if ssid else []


def load_secrets():
    """The local, never committed `secrets` module, or None when there is none."""
    try:
        import secrets
    except ImportError:
        return None
    # CPython has a stdlib module of that name; only ours has Wi-Fi settings.
    if not (hasattr(secrets, "WIFI_SSID") or hasattr(secrets, "WIFI_NETWORKS")):
        return None
    return secrets


def wifi_failures(network):
    """{status code: reason} for the network.STAT_* codes this port defines that
    end a connection attempt at once."""
    out = {}
    for name, reason in (("STAT_WRONG_PASSWORD", "wrong password"),
                         ("STAT_NO_AP_FOUND", "no access point found"),
                         ("STAT_CONNECT_FAIL", "connection failed"),
                         ("STAT_ASSOC_FAIL", "association failed"),
                         ("STAT_HANDSHAKE_TIMEOUT", "handshake timeout"),
                         ("STAT_BEACON_TIMEOUT", "beacon timeout")):
        code = getattr(network, name, None)
        if code is not None:
            out[code] = reason
    return out


# -- drivers from the config -------------------------------------------------
# The machine-dependent objects (Pin, PWM, I2C, OneWire) are built from the
# `machine` and `onewire` modules that board.py passes in; this module never
# imports them. Driver modules are imported only when the config names them.

def _kind(spec):
    return (spec or {}).get("kind") or "none"


def _pin_in(machine, spec):
    Pin = machine.Pin
    pull = Pin.PULL_UP if spec.get("pull_up", True) else None
    return Pin(spec["pin"], Pin.IN, pull)


def _temperature(spec, i, machine, onewire, internal):
    kind = _kind(spec)
    if kind == "sim":
        from drivers.sim import SimTemperature
        return SimTemperature(seed=spec.get("seed", i + 1), start_c=spec.get("start_c", 21.0),
                              step_c=spec.get("step_c", 0.1),
                              conversion_ms=spec.get("conversion_ms", 0))
    if kind == "internal":
        if internal is None:
            raise ValueError("this board has no internal sensor")
        drv = internal()
        drv.offset_c = spec.get("offset_c", 0.0)
        return drv
    if kind == "ds18b20":
        if onewire is None:
            raise ValueError("no onewire module in this firmware")
        from drivers.ds18b20 import DS18B20
        rom = spec.get("rom")
        if rom:
            import binascii
            rom = binascii.unhexlify(rom)
        return DS18B20(onewire.OneWire(machine.Pin(spec["pin"])), rom or None,
                       spec.get("resolution", 12))
    if kind == "sht3x":
        from drivers.sht3x import SHT3x
        i2c = machine.I2C(spec.get("i2c", 0), scl=machine.Pin(spec["scl"]),
                          sda=machine.Pin(spec["sda"]), freq=spec.get("freq", 100000))
        return SHT3x(i2c, spec.get("addr", 0x44))
    raise ValueError("unknown kind")


def _switch(spec, machine, ticks):
    kind = _kind(spec)
    if kind == "none":
        return None
    if kind == "sim":
        from drivers.sim import SimSwitch
        return SimSwitch(period_ms=spec.get("period_ms", 0))
    if kind == "button":
        from drivers.button import Button
        return Button(_pin_in(machine, spec), debounce_ms=spec.get("debounce_ms", 30),
                      active_low=spec.get("active_low", True),
                      toggle=spec.get("toggle", False), ticks=ticks)
    raise ValueError("unknown kind")


def _light(spec, machine):
    kind = _kind(spec)
    if kind == "none":
        return None
    rated_w = spec.get("rated_w", 0.0)
    if kind == "sim":
        from drivers.sim import SimLight
        return SimLight(rated_w=rated_w)
    from drivers.light import Light
    pin = machine.Pin(spec["pin"], machine.Pin.OUT)
    low = spec.get("active_low", False)
    if kind == "pin":
        return Light(pin=pin, rated_w=rated_w, active_low=low)
    if kind == "pwm":
        pwm = machine.PWM(pin)
        pwm.freq(spec.get("freq", 1000))
        return Light(pwm=pwm, rated_w=rated_w, active_low=low)
    raise ValueError("unknown kind")


def make_drivers(config, machine=None, onewire=None, internal=None, ticks=None):
    """{"temperature": [drivers], "switch": driver|None, "light": driver|None} from
    the config's "temperature" (a list), "switch" and "light" entries, each
    {"kind": ..., ...}; see boards/README.md. ValueError names the bad entry."""
    temps = []
    for i, spec in enumerate(config.get("temperature") or ()):
        try:
            temps.append(_temperature(spec, i, machine, onewire, internal))
        except (ValueError, KeyError, TypeError, ImportError) as e:
            raise ValueError("temperature[%d] %s: %r" % (i, _kind(spec), e))
    out = {"temperature": temps}
    for key in ("switch", "light"):
        spec = config.get(key)
        try:
            out[key] = (_switch(spec, machine, ticks) if key == "switch"
                        else _light(spec, machine))
        except (ValueError, KeyError, TypeError, ImportError) as e:
            raise ValueError("%s %s: %r" % (key, _kind(spec), e))
    return out


def mcu_setup(name, manufacturer, config, machine, network, secrets=None,
              onewire=None, internal=None, wdt_max_ms=None):
    """The common set-up of a Wi-Fi MCU board (ESP32, Pico W); board.py passes its
    modules in. Activates the station interface (the link comes up through
    `board.network.poll()` or `.connect()`), binds the UDP transport, makes the
    store directory and the drivers."""
    import binascii
    import time
    from transport.udp import UdpTransport
    from transport.runner import now_ms
    serial = binascii.hexlify(machine.unique_id()).decode()
    model = getattr(sys.implementation, "_machine", name)
    facts = base_facts(name, manufacturer, model, serial)
    wifi = config.get("wifi") or {}
    if wifi.get("country") and hasattr(network, "country"):
        network.country(wifi["country"])
    if wifi.get("hostname") and hasattr(network, "hostname"):
        network.hostname(wifi["hostname"])
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    nets = wifi_networks(secrets if secrets is not None else load_secrets())
    link = None
    if nets:
        link = WifiLink(wlan, nets, wifi_failures(network),
                        timeout_ms=wifi.get("timeout_ms", 15000),
                        backoff_ms=wifi.get("backoff_ms", 1000),
                        max_backoff_ms=wifi.get("max_backoff_ms", 60000))
    transport = UdpTransport(("0.0.0.0", config.get("local_port", 5683)))
    store_dir = makedirs(config.get("store_dir", "/state"))
    drivers = make_drivers(config, machine, onewire, internal, getattr(time, "ticks_ms", None))

    def wdt(ms):
        return machine.WDT(timeout=min(ms, wdt_max_ms) if wdt_max_ms else ms)

    board = Board(name, config, transport, store_dir, drivers, facts, now_ms,
                  network=link, reset=machine.reset, watchdog=wdt)
    if link is None:
        board.warnings.append("no Wi-Fi credentials: copy boards/secrets.example.py "
                              "to secrets.py on the board (tools/deploy.py does)")
    return board
