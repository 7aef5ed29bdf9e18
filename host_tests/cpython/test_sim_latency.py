"""tools/sim/exp_latency.py (issue 7, experiment 1) in a small configuration:
hops 1 and 3, a few notifications per run, both modes, tools/server as the server."""
from tools.sim import exp_latency as E
from tools.sim import world

N = 5


def _scenario(**kw):
    return world.load_scenario(E.SCENARIO, experiment={"hops": [1, 3], "notifications": N},
                               **kw)


def test_latency_is_deterministic_grows_with_hops_and_c2c_is_faster(tmp_path):
    scn = _scenario()
    a = dict(((h, m), E.run_one(scn, h, m)) for h in (1, 3) for m in E.MODES)
    assert a == dict(((h, m), E.run_one(scn, h, m)) for h in (1, 3) for m in E.MODES)
    for key, lat in a.items():
        assert len(lat) == N and None not in lat, (key, lat)
    for mode in E.MODES:
        assert min(a[(3, mode)]) > max(a[(1, mode)]), a
    for h in (1, 3):
        assert max(a[(h, "c2c")]) < min(a[(h, "server")]), a
    # the server-centric path crosses the backbone twice
    assert min(a[(1, "server")]) > 2 * scn["backbone"]["delay_ms"]
    # another seed draws other CSMA/CA back-offs
    assert E.run_one(_scenario(seed=2), 3, "c2c") != a[(3, "c2c")]


def test_run_follows_the_contract_and_writes_its_files(tmp_path):
    res = E.run(_scenario(), str(tmp_path))
    assert set(res) == {"name", "title", "table", "published", "notes", "params"}
    assert res["table"]["columns"] == ["hops", "mode", "n", "lost", "median_ms", "p95_ms"]
    assert [r[:4] for r in res["table"]["rows"]] == [
        [1, "c2c", N, 0], [1, "server", N, 0], [3, "c2c", N, 0], [3, "server", N, 0]]
    rows = (tmp_path / "latency.csv").read_text().splitlines()
    assert rows[0] == "hops,mode,seq,latency_ms" and len(rows) == 4 * N + 1
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_percentile_nearest_rank():
    assert world.percentile([5, 1, 3, 2, 4], 50) == 3
    assert world.percentile(list(range(1, 21)), 95) == 19
    assert world.percentile([None, 7], 95) == 7
    assert world.percentile([None], 50) is None
