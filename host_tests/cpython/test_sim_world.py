"""tools/sim/world.py: scenario files (clear one-line errors), the topologies,
and the simulator's message counts against what the engines themselves sent."""
import json
import subprocess
import sys

import pytest

from tools.sim import world as W
from host_tests.cpython.procs import ROOT


def test_scenario_files_load_and_document_every_key():
    import glob
    files = glob.glob(W.SCENARIOS + "/*.json")
    assert files
    for path in files:
        scn = W.load_scenario(path)
        with open(path) as f:
            doc = json.load(f)["doc"]
        for key in scn:
            assert key in doc, (path, key)


@pytest.mark.parametrize("text, words", [
    ('{"seed": 1,', "not JSON"),
    ('[1]', "not a JSON object"),
    ('{"topolgy": {}}', "unknown key 'topolgy'"),
    ('{"topology": {"hopz": 2}}', "topology: unknown key 'hopz'"),
    ('{"phy": {"loss": 1.5}}', "phy.loss = 1.5 is out of 0..1"),
    ('{"mode": "p2p"}', "mode = 'p2p' is not one of c2c, server"),
    ('{"seed": "one"}', "seed = 'one' is not an integer"),
    ('{"topology": {"kind": "tree", "nodes": 4, "pairs": 3}}', "needs 6 nodes"),
])
def test_malformed_scenario_is_one_clear_line(tmp_path, text, words):
    p = tmp_path / "s.json"
    p.write_text(text)
    with pytest.raises(W.ScenarioError) as e:
        W.load_scenario(str(p))
    msg = str(e.value)
    assert words in msg and msg.startswith("s.json") and "\n" not in msg


def test_cli_reports_a_malformed_scenario_in_one_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"backbone": {"delay_ms": -1}}')
    r = subprocess.run([sys.executable, "-m", "tools.sim.exp_latency", "--scenario", str(p)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: bad.json: backbone.delay_ms = -1 is out of 0..10000"]


def test_overrides_merge_key_by_key():
    scn = W.load_scenario(None, topology={"hops": 4}, experiment={"x": 1})
    assert scn["topology"]["hops"] == 4 and scn["topology"]["kind"] == "branches"
    assert scn["experiment"] == {"x": 1}


def test_tree_is_seeded_and_bounded():
    a = W.tree(W.Rng(3), 60, 3, 4)
    assert a == W.tree(W.Rng(3), 60, 3, 4) != W.tree(W.Rng(4), 60, 3, 4)
    kids = {}
    for n, p in a.items():
        kids[p] = kids.get(p, 0) + 1
    assert max(kids.values()) <= 3
    with pytest.raises(W.ScenarioError):
        W.tree(W.Rng(3), 100, 2, 3)             # 2 + 4 + 8 nodes at most


@pytest.mark.parametrize("mode", ["c2c", "server"])
def test_radio_counts_match_what_the_engines_sent(mode):
    scn = W.load_scenario(None, mode=mode, seed=4, warmup_ms=120000, topology={
        "kind": "tree", "nodes": 12, "pairs": 3, "max_children": 2},
        phy={"loss": 0.1})
    with W.World(scn) as w:
        w.settle()
        for _ in range(3):
            for h in w.hosts:
                w.press(h)
            w.run_for(1500)
        sent = w.datagrams()
        assert sent == w.radio_sent()
        assert sum(sent.values()) == w.radio.total.sent
        assert all(v > 0 for v in sent.values())
        assert all(len(w.deliveries[q]) >= 3 for q in w.requesters), w.deliveries
        # one 802.15.4 datagram per mesh hop of every datagram; retries only with loss
        assert w.phy.transmissions > w.phy.frames >= w.phy.datagrams > 0
        assert w.radio.total.frames > w.radio.total.sent


def _tree_run(seed):
    scn = W.load_scenario(None, seed=seed, warmup_ms=120000, topology={
        "kind": "tree", "nodes": 10, "pairs": 2}, phy={"loss": 0.2})
    with W.World(scn) as w:
        w.settle()
        for _ in range(4):
            for h in w.hosts:
                w.press(h)
            w.run_for(700)
        return (w.parent, w.hosts, w.deliveries, w.datagrams(), w.phy.counters(),
                w.radio.total.as_dict())


def test_same_seed_same_world_other_seed_other_world():
    a = _tree_run(5)
    assert a == _tree_run(5)
    assert a != _tree_run(6)


def test_frames_per_host_add_up_to_the_radio_total():
    scn = W.load_scenario(None, topology={"hops": 3})
    with W.World(scn) as w:
        w.settle()
        w.press("switch")
        w.run_for(1000)
        f = w.frames()
        assert sum(f.values()) == w.radio.total.frames
        assert f["s1"] > 0 and f["l2"] > 0 and w.hops("light") == w.hops("switch") == 3
