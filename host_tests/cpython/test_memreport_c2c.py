"""tools/memreport_c2c.py: the scenarios run on the unix port and leave one
node behind (a peer account in "account" mode, and a live observation too
in "peer" mode), and the report computes its percentages from both parts."""
import os

import pytest

from host_tests.cpython.procs import MICROPYTHON, ROOT
from tools import memreport_c2c as m

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")


def scenario(mode, keep):
    import json
    import subprocess
    p = subprocess.run([MICROPYTHON, "tools/memreport_c2c.py", "--scenario", mode, keep],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    line = [x for x in p.stdout.splitlines() if x.startswith("MEMREPORT_C2C ")]
    assert p.returncode == 0 and line, p.stdout + p.stderr
    return json.loads(line[0][14:])


def test_a_peer_account_and_a_live_observation_cost_heap():
    plain, account, peer = [scenario(mode, "switch") for mode in ("plain", "account", "peer")]
    heap = {("plain", "switch"): plain, ("account", "switch"): account,
            ("peer", "switch"): peer}
    assert m.check(heap) == []
    assert account["peers"] == [1, 1] and not account["peer_observations"]
    assert peer["peers"] == [1, 1] and peer["live"] and peer["peer_observations"] == 1
    assert 0 < plain["state"] < account["state"] < peer["state"] < 4 * plain["state"]
    assert plain["start"] < plain["node_code"] < plain["c2c_code"] <= plain["base"]


def test_figures_and_report():
    heap = {}
    for i, mode in enumerate(m.MODES):
        for keep in ("switch", "light"):
            heap[(mode, keep)] = {"start": 100, "node_code": 1100, "c2c_code": 1300,
                                  "state": 1000 + 100 * i}
    sizes = {"lib/coap/endpoint.py": 900, "lib/lwm2m/c2c.py": 60, "lib/lwm2m/peers.py": 30,
             "lib/lwm2m/requester.py": 90, "lib/cbor.py": 100, "firmware/apps.py": 7}
    f = m.figures(heap, sizes)
    assert f["mpy_rest"] == 1000 and f["mpy_c2c"] == 90 and f["mpy_authz"] == 90
    assert f["flash_c2c_pct"] == 9.0 and f["flash_authz_pct"] == 18.0
    assert f["state_pct_peer_light"] == 30.0 and f["heap_code_c2c"] == 200
    lines = []
    m.report(f, lines.append)
    assert any("+12.9%" in x for x in lines) and any("+30.0%" in x for x in lines)
