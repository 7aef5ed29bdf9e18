"""tools/budget.py (make budget): the node process on the pipe (unix port
and the 32-bit tools/mp32), the scenario's checks, the flash accounting and
the budget comparison."""
import os
import tempfile

import pytest

from host_tests.cpython.procs import MICROPYTHON
from tools import budget
from tools.budget_wire import MP32, NodeProcess, ScenarioFailed
from tools.sim.radio import Radio

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON),
                                reason="no unix-port MicroPython")


@pytest.fixture(scope="module")
def sizes():
    yield budget.compile_tree()
    budget.remove_tree()


def _mp32_or_skip():
    why = budget.mp32_ready()
    if why is not None:
        pytest.skip("tools/mp32: " + why)


def test_the_scenario_passes_with_room_and_reports_ordered_figures(sizes):
    f = budget.measure_heap(MICROPYTHON, quick=True)
    assert f["registrations"] == 1 and not f["errors"]
    assert f["reads"] >= 240 and f["notifications"] >= 600
    assert len(f["followed"]) == budget.PEERS and min(f["followed"]) >= 10
    assert f["start"] < f["code"] < f["boot"] < f["registered"] < f["phase1"]
    assert f["phase1"] < f["phase2"] < f["phase3"] < f["phase4"] <= f["peak"]
    h = budget.heap_figures(dict(f, smallest=f["phase4"] + 50000))
    assert h["per_observation"] > 0 and h["per_peer"] > 0
    assert h["frozen_estimate"] == f["phase4"] + 50000 - (f["code"] - f["start"])
    lines = []
    budget.report(h, f, {b: budget.flash_figures(b, sizes) for b in budget.BOARDS},
                  {b: budget.load_budget(b) for b in budget.BOARDS}, lines.append)
    assert any("per further C2C peer" in ln for ln in lines)


def test_a_heap_too_small_fails_with_the_memory_error(sizes):
    with pytest.raises(ScenarioFailed, match="MemoryError"):
        budget.scenario(MICROPYTHON, 160 * 1024, tempfile.mkdtemp(prefix="budget-test-"))


def test_a_node_that_raises_is_reported_with_its_error(sizes):
    proc = NodeProcess(MICROPYTHON, 1 << 20, budget.BUILD, Radio(log=False), ("node", 5683))
    try:
        with pytest.raises(ScenarioFailed, match="AttributeError"):
            proc.step(5)                    # stepped before it was built
    finally:
        proc.close()


def test_flash_counts_every_file_a_board_manifest_freezes(sizes):
    for board in ("esp32", "rp2_pico_w", "unix"):
        files = budget.board_files(board)
        assert "lib/coap/message.py" in files and "boards/%s/board.py" % board in files
        fl = budget.flash_figures(board, sizes)
        assert sum(fl["layers"].values()) == sum(sizes[f] for f in files)
        assert fl["total"] > sum(fl["layers"].values())     # + main.py and config.json
    assert "lib/drivers/sim.py" in budget.board_files("unix")
    assert "lib/drivers/sim.py" not in budget.board_files("esp32")


def test_over_budget_names_each_figure_over_its_budget():
    b = {"flash_layers": {"coap": 100, "lwm2m": 100}, "flash_bytes": 300,
         "heap_fs_bytes": 1000, "heap_bytes": 500, "per_peer_bytes": 50,
         "per_observation_bytes": 10}
    fl = {"layers": {"coap": 100, "lwm2m": 101, "cbor": 1}, "total": 301}
    heap = {"smallest": 1000, "frozen_estimate": 501, "per_peer": 50, "per_observation": 11}
    lines = budget.over_budget("x", b, fl, heap)
    assert len(lines) == 5, lines
    for word in ("lwm2m layer 101", "cbor layer", "flash 301", "frozen_estimate 501",
                 "per_observation 11"):
        assert any(word in ln for ln in lines), (word, lines)
    assert budget.over_budget("x", b, {"layers": {"coap": 1}, "total": 1}, None) == []


def test_the_paths_report_names_allocating_and_allocation_free_paths():
    paths = {p["name"]: p for p in budget.measure_paths(MICROPYTHON)}
    assert paths["coap.encode_into"]["alloc_free"] is True
    assert paths["read.oscore.text"]["bytes_per_op"] > paths["coap.decode"]["bytes_per_op"] > 0
    lines = []
    budget.report_paths(paths.values(), lines.append)
    assert len(lines) == 1 + len(paths)


def test_bad_arguments_get_the_usage_line():
    with pytest.raises(SystemExit, match="usage: python tools/budget.py"):
        budget.parse_args(["--heap", "3"])
    assert budget.parse_args(["--no-mp32", "--quick"]) == {"json": None, "quick": True,
                                                           "mp32": False}


def test_the_same_scenario_runs_on_the_32_bit_micropython(sizes):
    _mp32_or_skip()
    f = budget.measure_heap(MP32, quick=True)
    assert f["registrations"] == 1 and not f["errors"]
    assert f["reads"] >= 240 and f["notifications"] >= 600
    assert len(f["followed"]) == budget.PEERS and min(f["followed"]) >= 10
    assert f["start"] < f["code"] < f["boot"] < f["registered"] < f["phase1"]
    assert f["phase1"] < f["phase2"] < f["phase3"] < f["phase4"] <= f["peak"]
    # collected before every frame: the high-water mark is the live heap plus
    # one frame's garbage, not the whole heap as on the unix port
    assert f["peak"] < f["phase4"] + 96 * 1024
    h = budget.heap_figures(dict(f, smallest=f["peak"] + 8192))
    assert 0 < h["per_observation"] < 1024 and 0 < h["per_peer"] < 3328
    lines = []
    budget.report(h, f, {}, {b: budget.load_budget(b) for b in budget.BOARDS}, lines.append,
                  heap32=h, raw32=f)
    row = [ln for ln in lines if "per further C2C peer" in ln][0]
    assert row.count("KiB") == 5                 # unix, its budget, 32-bit, ESP32, Pico W


def test_a_32_bit_heap_too_small_fails_with_the_memory_error(sizes):
    _mp32_or_skip()
    with pytest.raises(ScenarioFailed, match="MemoryError"):
        budget.scenario(MP32, 160 * 1024, tempfile.mkdtemp(prefix="budget-test-"))


def test_the_32_bit_boards_are_checked_on_the_32_bit_figures_but_heap_fs():
    b = {"flash_layers": {}, "flash_bytes": 10, "heap_fs_bytes": 1000, "heap_bytes": 500,
         "per_peer_bytes": 50, "per_observation_bytes": 10}
    fl = {"layers": {}, "total": 1}
    heap = {"smallest": 2000, "frozen_estimate": 501, "per_peer": 51, "per_observation": 11}
    lines = budget.over_budget("esp32", b, fl, heap)
    assert len(lines) == 3 and not any("heap_fs_bytes" in ln for ln in lines), lines
    assert len(budget.over_budget("unix", b, fl, heap)) == 4


def test_without_node_the_report_says_the_32_bit_figures_are_missing():
    h = {k: 1024 for _, k, _ in budget.HEAP_ROWS}
    raw = {"reads": 1, "notifications": 1, "followed": [1, 1, 1]}
    lines = []
    budget.report(h, raw, {}, {b: budget.load_budget(b) for b in budget.BOARDS}, lines.append,
                  heap32="node and npm are not both on PATH")
    assert any("32-bit: NOT MEASURED (node and npm" in ln for ln in lines)
