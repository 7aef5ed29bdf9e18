"""tools/sim/exp_authz.py (issue 7, experiment 3) in a small configuration: a few
seeded authorizations at 0% and 20% loss per 802.15.4 attempt without MAC retries,
on tools/server (Server + Authz /ac + Policy) and the firmware nodes."""
from tools.sim import exp_authz as E
from tools.sim import world

RUNS = 4


def _scenario(**kw):
    return world.load_scenario(E.SCENARIO, experiment={
        "loss": [0.0, 0.2], "mac_retries": [0], "runs": RUNS}, **kw)


def test_authorization_is_deterministic_and_loss_makes_it_slower():
    scn = _scenario()
    a = E.experiment(scn)
    assert a == E.experiment(scn)                       # same seed, same results
    assert E.experiment(_scenario(seed=2)) != a         # the seed matters
    clean, lossy = a[(0, 0.0)], a[(0, 0.2)]
    for r in clean + lossy:
        assert r["error"] is None and r["auth_ms"] is not None, r
        # what the engines' CoAP endpoints sent is what the radio carried
        assert r["datagrams"] == r["radio_sent"] > 0, r
    for r in clean:
        assert r["retransmissions"] == 0 and r["ac_answer"] == "2.01", r
        assert r["ac_ms"] < r["auth_ms"] < 1000, r
    assert world.percentile([r["auth_ms"] for r in lossy], 50) > \
        world.percentile([r["auth_ms"] for r in clean], 50)
    # the staircase: a run that needed CoAP retransmissions waited ACK_TIMEOUT (>= 2 s)
    steps = E.staircase(a)
    assert steps[0] < 1000 and len(steps) > 1
    assert all(v >= steps[0] + 2000 for k, v in steps.items() if k), steps


def test_run_follows_the_contract_and_writes_its_files(tmp_path):
    res = E.run(_scenario(), str(tmp_path))
    assert set(res) == {"name", "title", "table", "published", "notes", "params"}
    assert res["table"]["columns"] == E.COLUMNS
    assert [r[:4] for r in res["table"]["rows"]] == [[0, 0.0, RUNS, RUNS], [0, 0.2, RUNS, RUNS]]
    rows = (tmp_path / "authz.csv").read_text().splitlines()
    assert rows[0] == ",".join(E.CSV) and len(rows) == 2 * RUNS + 1
    assert (tmp_path / "authz.png").read_bytes()[:4] == b"\x89PNG"
    assert "ACK_TIMEOUT" in res["notes"]


def test_experiment_parameters_are_checked():
    import pytest
    with pytest.raises(world.ScenarioError) as e:
        E.run(world.load_scenario(E.SCENARIO, experiment={"loss": [1.5]}))
    assert "experiment.loss" in str(e.value)
