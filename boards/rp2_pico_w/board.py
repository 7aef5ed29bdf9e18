"""Board support: Raspberry Pi Pico W (RP2040 + CYW43439 Wi-Fi).

    import board
    b = board.setup()                 # reads /config.json and /secrets.py
    b.network.connect(b.now_ms, time.sleep_ms)

With rp2_pico_w's sibling esp32/board.py, the only module that imports `machine`
and `network`. Temperature from the RP2040's sensor on ADC channel 4 (default),
a DS18B20 on 1-Wire or an SHT3x on I2C0 (GP4 SDA, GP5 SCL); a push button to GND
on GP14; the on-board LED ("LED", driven through the Wi-Fi chip: on/off only, no
PWM) or a PWM pin. Watchdog: machine.WDT, at most 8388 ms on the RP2040.
"""
import machine
import network
from boardkit import load_json, mcu_setup

try:
    import onewire
except ImportError:
    onewire = None

NAME = "rp2_pico_w"
WDT_MAX_MS = 8388


def _internal():
    from drivers.internal_temp import InternalTemp, rp2040
    return InternalTemp(machine.ADC(4).read_u16, rp2040)


def setup(config=None, secrets=None):
    """Board for this Pico W; `config` defaults to /config.json, `secrets` to the
    local secrets module (WIFI_SSID / WIFI_PASSWORD or WIFI_NETWORKS)."""
    if config is None:
        config = load_json("config.json")
    return mcu_setup(NAME, "Raspberry Pi", config, machine, network, secrets,
                     onewire=onewire, internal=_internal, wdt_max_ms=WDT_MAX_MS)
