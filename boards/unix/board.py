"""Board support: the MicroPython unix port (and CPython, for host tests).

    import board
    b = board.setup({"serial": "n2", "bind": ["127.0.0.1", 0]})

Simulated devices from `drivers.sim` (a drifting temperature, a switch toggled on
a schedule or by `press()`, a light that logs what it was told), a UDP transport
on loopback, state under `state/<endpoint>/`. No network bring-up, no watchdog;
`reset()` raises SystemExit(75) so a wrapper script can restart the node.

The defaults are `config.json` beside this file; `setup(config)` merges the
given dict over them. Needs `lib/` and `boards/common/` on sys.path.
"""
import sys
from boardkit import Board, base_facts, load_json, merge, make_drivers, makedirs
from transport.udp import UdpTransport
from transport.runner import now_ms

NAME = "unix"


def _here():
    f = globals().get("__file__") or ""
    return f.rsplit("/", 1)[0] if "/" in f else "."


def defaults():
    """The default config (config.json beside this module; {} when frozen)."""
    return load_json(_here() + "/config.json")


def setup(config=None):
    """Board for a unix-port (or CPython) node; `config` overrides the defaults."""
    config = merge(defaults(), config or {})
    serial = str(config.get("serial", "unix-1"))
    facts = base_facts(NAME, sys.implementation.name, sys.platform + " port", serial)
    bind = config.get("bind") or ["127.0.0.1", 0]
    transport = UdpTransport((bind[0], bind[1]))
    try:
        drivers = make_drivers(config)
        endpoint = config.get("endpoint_prefix", "node-") + serial
        store_dir = makedirs(config.get("store_dir", "state") + "/" + endpoint)
    except Exception:
        transport.close()
        raise
    return Board(NAME, config, transport, store_dir, drivers, facts, now_ms)
