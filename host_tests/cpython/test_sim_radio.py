"""tools/sim/exp_radio.py (issue 7, experiment 4) in a small configuration: hops 1
and 3, no loss and 20% loss, a few notifications, both modes."""
from tools.sim import exp_radio as E
from tools.sim import world

N = 5


def _scenario(**kw):
    return world.load_scenario(E.SCENARIO, experiment={
        "hops": [1, 3], "losses": [0.0, 0.2], "notifications": N}, **kw)


def test_radio_cost_grows_with_hops_and_loss_and_c2c_costs_less(tmp_path):
    res = E.run(_scenario(), str(tmp_path))
    cols = res["table"]["columns"]
    rows = dict(((r[0], r[1], r[2]), dict(zip(cols, r))) for r in res["table"]["rows"])
    assert len(rows) == 8 and all(r["delivered"] == N for r in rows.values()), rows
    for mode in E.MODES:
        for loss in (0.0, 0.2):
            one, three = rows[(1, mode, loss)], rows[(3, mode, loss)]
            for k in ("mesh_frames", "tx_frames", "airtime_ms", "energy_mj"):
                assert three[k] > 2 * one[k], (mode, loss, k, one, three)
        for h in (1, 3):
            assert rows[(h, mode, 0.2)]["tx_frames"] > rows[(h, mode, 0.0)]["tx_frames"]
    for h in (1, 3):
        for loss in (0.0, 0.2):
            c, s = rows[(h, "c2c", loss)], rows[(h, "server", loss)]
            assert c["energy_mj"] < s["energy_mj"] and c["backbone"] < s["backbone"]
        # without loss every datagram-hop is one data frame and one ACK
        r = rows[(h, "c2c", 0.0)]
        assert r["mesh_frames"] == r["tx_frames"] == r["acks"] == 2 * h
    assert E.run(_scenario(), None)["table"] == res["table"]
    assert E.run(_scenario(seed=9), None)["table"] != res["table"]
    lines = (tmp_path / "radio.csv").read_text().splitlines()
    assert lines[0] == ",".join(cols) and len(lines) == 9
