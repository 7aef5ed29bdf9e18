"""tools/sim/exp_goodput.py (issue 7, experiment 2) in a small configuration: two
intervals, 3 s of updates, both modes, tools/server as the server."""
from tools.sim import exp_goodput as E
from tools.sim import world


def _scenario(**kw):
    return world.load_scenario(E.SCENARIO, experiment={
        "intervals_ms": [300, 20], "duration_ms": 3000, "drain_ms": 1000}, **kw)


def test_server_centric_delivery_falls_at_short_intervals_more_than_c2c(tmp_path):
    res = E.run(_scenario(), str(tmp_path))
    rows = dict(((r[0], r[1]), r) for r in res["table"]["rows"])
    assert set(rows) == {(300, "c2c"), (300, "server"), (20, "c2c"), (20, "server")}
    assert rows[(300, "c2c")][2] == 10 and rows[(20, "c2c")][2] == 150    # updates made
    for mode in E.MODES:
        assert rows[(300, mode)][4] == 1.0, rows                  # all delivered
    c2c, srv = rows[(20, "c2c")], rows[(20, "server")]
    assert srv[4] < 0.8 * c2c[4], rows                         # delivery rate
    assert c2c[5] > 2 * srv[5], rows                           # goodput
    assert srv[6] > c2c[6], rows                               # median latency
    assert E.run(_scenario(), None)["table"] == res["table"]   # same seed, same result
    lines = (tmp_path / "goodput.csv").read_text().splitlines()
    assert lines[0].startswith("interval_ms,mode,updates,delivered,delivery_rate")
    assert len(lines) == 5 and (tmp_path / "goodput.png").stat().st_size > 1000


def test_each_update_is_identified_and_timed():
    made, got = E.run_one(_scenario(), 300, "c2c")
    assert made == 10 and sorted(got) == list(range(1, 11))
    assert all(0 < ms < 50 for ms in got.values()), got


def test_bad_experiment_parameters_are_scenario_errors():
    import pytest
    with pytest.raises(world.ScenarioError, match="intervals_ms"):
        E.run(world.load_scenario(E.SCENARIO, experiment={"intervals_ms": [1]}))
    with pytest.raises(world.ScenarioError, match="shorter than an interval"):
        E.run(world.load_scenario(E.SCENARIO, experiment={"duration_ms": 100}))
