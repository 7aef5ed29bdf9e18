"""`make bench` in quick mode: it runs end to end on both interpreters, prints every row
and writes sane numbers. Tiny budgets make the figures noise, so nothing here is a
timing assertion -- only that each figure exists and is positive, and that the rows that
claim to be apples-to-apples really produced identical bytes on both sides."""
import json
import subprocess
import sys

from host_tests.cpython.procs import MICROPYTHON, ROOT
from tools.bench import HEAP_ROWS, ROWS


def test_quick_bench_prints_and_writes_every_row(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "tools/bench.py", "--quick", "--json", str(out),
         "--micropython", MICROPYTHON],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    data = json.loads(out.read_text())

    assert [r["id"] for r in data["rows"]] == [r[0] for r in ROWS]
    for row, (_, _, _, peer, tag) in zip(data["rows"], ROWS):
        assert "[%s] %s" % (row["tag"], row["label"]) in text
        assert row["tag"] == tag, row          # "A!" would mean the bytes differed
        assert row["ours_cpython"] > 0 and row["ours_micropython"] > 0
        assert row["mp_over_cpython"] > 0
        if peer is None:
            assert row["peer_cpython"] is None and row["ours_over_peer"] is None
        else:
            assert row["peer"] == peer and row["peer_cpython"] > 0
            assert row["ours_over_peer"] > 0
        if tag == "A":
            assert row["same_bytes"] is True

    heap = data["heap_micropython"]
    for key, label in HEAP_ROWS:
        assert isinstance(heap[key], int) and heap[key] >= 0
        assert label in text
    assert heap["oscore_protect_request"] > 0     # it builds a new outer message

    meta = data["meta"]
    assert meta["quick"] and meta["seconds_total"] > 0
    assert "micropython" in meta["micropython"].lower()
    assert "bench took" in text and "ours/peer" in text
