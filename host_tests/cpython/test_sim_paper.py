"""tools/sim/paper.py (make paper) on one small experiment: the files it writes,
the report's sections and the copy for docs/."""
import os

from tools.sim import paper


def test_paper_runs_an_experiment_and_writes_the_report(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    assert paper.main(["--out", str(out), "--docs", str(docs), "--only", "radio",
                       "--workers", "1"]) == 0
    assert sorted(os.listdir(out)) == ["radio.csv", "radio.png", "report.md"]
    assert sorted(os.listdir(docs)) == ["radio.png", "report.md"]
    text = (out / "report.md").read_text()
    assert text == (docs / "report.md").read_text()
    for part in ("## Headline: published vs ours", "## The model", "**Published:**",
                 "![radio](radio.png)", "| hops | mode | loss | delivered |",
                 "**How ours differ, and why:**", "| phy | `{"):
        assert part in text, part


def test_experiments_are_found_in_the_issue_order():
    names = paper.modules()
    assert names[:2] == ["latency", "goodput"] and "radio" in names
    assert names.index("radio") > names.index("goodput")
