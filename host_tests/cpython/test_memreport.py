"""tools/memreport.py: the scenario runs on the unix port and reports
(one virtual minute here), and every lib/ module falls in a layer."""
import os

import pytest

from host_tests.cpython.procs import MICROPYTHON, ROOT
from tools import memreport

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")


def test_scenario_reports_a_registered_node():
    h = memreport.run_scenario(ROOT, MICROPYTHON, 1)
    assert h["registrations"] == 1 and h["errors"] == 0
    assert h["notifications_temperature"] >= 20 and h["reads"] == 12
    assert h["start"] < h["code"] < h["harness"] < h["registered"] <= h["peak_live"]
    assert h["peak_live"] <= h["peak_alloc"] <= h["heap_total"]
    assert any(line.startswith("GC: total:") for line in h["mem_info"])
    lines = []
    memreport.report(h, {"coap": (8, 20000)}, lines.append)
    assert any("peak live heap" in line for line in lines)


def test_every_source_has_a_layer():
    for rel in memreport.sources(ROOT):
        assert memreport.layer_of(rel) is not None, rel
    assert memreport.layer_of("lib/lwm2m/formats/tlv.py") == "lwm2m formats"
    assert memreport.layer_of("lib/lwm2m/engine.py") == "lwm2m core"
    assert memreport.layer_of("lib/cbor.py") == "cbor"
