"""tools/budget_paths.py on the unix port: the report's structure, the paths
that are allocation-free stay so under micropython.heap_lock(), and the
others stay within 25 % of the bytes per operation measured when the
ceilings were set (a regression fails here; an improvement should lower
MEASURED)."""
import json
import os
import subprocess

import pytest

from host_tests.cpython.procs import MICROPYTHON, ROOT

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")

# Allocation-free under heap_lock(): must stay so.
ALLOC_FREE = ("coap.encode_into",)

# Bytes per operation on the 64-bit unix port (32-byte GC blocks) when these
# ceilings were set; the ceiling is 125 % of it.
MEASURED = {
    "coap.decode": 1088,
    "oscore.protect_notification": 704,
    "oscore.unprotect_request": 1760,
    "notify.plain": 2899.2,
    "notify.oscore": 3603.2,
    "read.plain.text": 3633.6,
    "read.plain.senml-cbor": 3689.6,
    "read.oscore.text": 5681.6,
    "read.oscore.senml-cbor": 5801.6,
    "node.step.idle": 704,
}
MARGIN = 1.25


@pytest.fixture(scope="module")
def report():
    p = subprocess.run([MICROPYTHON, "tools/budget_paths.py", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [line for line in p.stdout.splitlines() if line.startswith("BUDGET_PATHS ")]
    assert len(lines) == 1 and p.stdout.splitlines()[-1] == lines[0]
    return p.stdout, json.loads(lines[0][len("BUDGET_PATHS "):])


def test_report_structure(report):
    text, data = report
    assert text.splitlines()[0].split()[:2] == ["path", "bytes/op"]
    assert data["interpreter"] == "micropython" and data["reps"] >= 1
    assert data["gc_block_bytes"] in (16, 32)
    names = [p["name"] for p in data["paths"]]
    assert sorted(names) == sorted(ALLOC_FREE + tuple(MEASURED))
    for p in data["paths"]:
        assert p["check"] == "ok", p
        assert isinstance(p["alloc_free"], bool)
        assert isinstance(p["bytes_per_op"], (int, float)) and p["bytes_per_op"] >= 0
        assert p["what"] and p["name"] in text
        for label, per_op, calls in p["steps"]:
            assert isinstance(label, str) and per_op >= 0 and calls > 0
        if p["alloc_free"]:
            assert p["first_alloc"] is None and p["bytes_per_op"] == 0
        else:
            assert isinstance(p["first_alloc"], str) and p["first_alloc"]
    # the breakdown names the layers a served OSCORE read goes through
    oscore_read = [p for p in data["paths"] if p["name"] == "read.oscore.text"][0]
    labels = [s[0] for s in oscore_read["steps"]]
    for step in ("coap.decode", "oscore.unprotect_request", "dm.read", "text.encode",
                 "oscore.protect_response", "endpoint.transmit"):
        assert step in labels, labels


def test_allocation_free_paths_stay_so(report):
    _, data = report
    by_name = dict((p["name"], p) for p in data["paths"])
    for name in ALLOC_FREE:
        p = by_name[name]
        assert p["alloc_free"] and p["bytes_per_op"] == 0, p


def test_bytes_per_operation_within_ceilings(report):
    _, data = report
    if data["gc_block_bytes"] != 32:
        pytest.skip("ceilings are for the 64-bit unix port (32-byte GC blocks)")
    over = []
    for p in data["paths"]:
        ceiling = MEASURED.get(p["name"])
        if ceiling is not None and p["bytes_per_op"] > ceiling * MARGIN:
            over.append("%s: %s B/op > %d (125 %% of %s)" % (
                p["name"], p["bytes_per_op"], ceiling * MARGIN, ceiling))
    assert not over, "\n".join(over)
