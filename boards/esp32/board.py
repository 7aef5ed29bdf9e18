"""Board support: a generic ESP32, ESP32-C3 or ESP32-S3 with Wi-Fi (no PSRAM needed).

    import board
    b = board.setup()                 # reads /config.json and /secrets.py
    while not b.network.poll(b.now_ms()):  # or b.network.connect(b.now_ms, time.sleep_ms)
        ...

The only module besides rp2_pico_w/board.py that imports `machine` and `network`.
Temperature from the chip's own sensor (default), a DS18B20 on 1-Wire or an
SHT3x on I2C; a push button (BOOT is GPIO0 on ESP32, GPIO9 on ESP32-C3); a light
on a PWM pin (GPIO2 on many ESP32 DevKits). Pins come from the config; see
boards/README.md. Watchdog: machine.WDT, armed by `start_watchdog()`.
"""
import machine
import network
from boardkit import load_json, mcu_setup

try:
    import onewire
except ImportError:
    onewire = None

NAME = "esp32"


def _internal():
    import esp32
    from drivers.internal_temp import InternalTemp, fahrenheit
    if hasattr(esp32, "mcu_temperature"):       # ESP32-S2/S3/C3/C6: degC
        return InternalTemp(esp32.mcu_temperature)
    if hasattr(esp32, "raw_temperature"):       # classic ESP32: degF
        return InternalTemp(esp32.raw_temperature, fahrenheit)
    raise ValueError("no internal temperature sensor in this firmware")


def setup(config=None, secrets=None):
    """Board for this ESP32; `config` defaults to /config.json, `secrets` to the
    local secrets module (WIFI_SSID / WIFI_PASSWORD or WIFI_NETWORKS)."""
    if config is None:
        config = load_json("config.json")
    return mcu_setup(NAME, "Espressif", config, machine, network, secrets,
                     onewire=onewire, internal=_internal)
