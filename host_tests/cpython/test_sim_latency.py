"""tools/sim/exp_latency.py (issue 7, experiment 1) in a tiny configuration:
hops 1 and 3, a few notifications per run, both modes."""
from tools.sim import exp_latency as E

HOPS = (1, 3)
N = 5


def _median(values):
    return E.percentile(values, 50)


def test_latency_is_deterministic_grows_with_hops_and_c2c_is_faster(tmp_path):
    a = E.experiment(HOPS, seed=1, notifications=N, out=str(tmp_path))
    b = E.experiment(HOPS, seed=1, notifications=N)
    assert a == b                                   # same seed, same results
    for key, lat in a.items():
        assert len(lat) == N and None not in lat, (key, lat)
    for mode in E.MODES:
        assert _median(a[(3, mode)]) > _median(a[(1, mode)]), a
        assert min(a[(3, mode)]) > max(a[(1, mode)]), a
    for h in HOPS:
        assert _median(a[(h, "c2c")]) < _median(a[(h, "server")]), a
    # the server-centric path crosses the backbone twice
    assert min(a[(1, "server")]) > 2 * E.BACKBONE_MS
    rows = (tmp_path / "latency_seed1_h3_c2c.csv").read_text().splitlines()
    assert rows[0] == "hops,mode,seq,latency_ms" and len(rows) == N + 1
    assert rows[1].startswith("3,c2c,0,")
    table = E.table(a)
    assert "median_ms" in table and len(table.splitlines()) == 1 + len(a)


def test_percentile_nearest_rank():
    assert E.percentile([5, 1, 3, 2, 4], 50) == 3
    assert E.percentile(list(range(1, 21)), 95) == 19
    assert E.percentile([None, 7], 95) == 7
    assert E.percentile([None], 50) is None
