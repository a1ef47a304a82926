"""edgeden_lab.ideas: tabling equal-budget comparisons from run logs (fake runs, no training)."""
from __future__ import annotations

import json
from pathlib import Path

from edgeden_lab import ideas


def _fake_run(root: Path, name: str, steps: int, psnr: dict[str, float], cpu: float) -> None:
    d = root / name
    d.mkdir(parents=True)
    events = [{"event": "start", "step": 0}, {"step": steps // 2, "loss": 0.1},
              {"step": steps, "loss": 0.05, "cpu_hours_this_run": cpu,
               **{f"val_psnr@{k}": v for k, v in psnr.items()}}]
    (d / "log.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    (d / "recipe.json").write_text(json.dumps({"optim": {"steps": steps}}))


def test_tables_finished_arms_and_keeps_earlier_rows(tmp_path):
    runs = tmp_path / "runs"
    _fake_run(runs, "idea-esl-tsdn", 100, {"0.001": 40.0, "0.004": 36.0}, 0.2)
    _fake_run(runs, "idea-scratch-tsdn", 200, {"0.001": 39.0, "0.004": 36.5}, 0.25)
    _fake_run(runs, "idea-plain-fanet", 300, {"0.001": 38.0}, 0.1)  # its comparisons' other arms are missing
    fresh = ideas.collect(runs)
    assert [r["idea"] for r in fresh] == ["Expand-Shrink Learning"]
    esl = fresh[0]["arms"]["ESL: expanded net, 5 CSL + 2 LSL steps, each retrained"]
    assert esl["mean_psnr"] == 38.0 and esl["steps"] == 100 and esl["cpu_hours"] == 0.2

    # an earlier row whose runs are gone survives a regeneration; a fresh one replaces its old self
    old = json.loads(json.dumps([{**fresh[0], "arms": {k: {**a, "mean_psnr": 1.0} for k, a in fresh[0]["arms"].items()}},
                                 {"idea": "Cascade training", "paper": "p", "domain": "srgb", "levels": [25.0],
                                  "arms": {"a": {"runs": ["x"], "steps": 1, "cpu_hours": 0.1, "params_each": 3,
                                                 "val_psnr": {"25.0": 30.0}, "mean_psnr": 30.0}}}]))
    path = tmp_path / "ideas.json"
    path.write_text(json.dumps(old))
    rows = ideas.merge(ideas.load_rows(path), fresh)
    assert [r["idea"] for r in rows] == ["Expand-Shrink Learning", "Cascade training"]
    assert rows[0]["arms"][next(iter(rows[0]["arms"]))]["mean_psnr"] == 38.0
    assert rows[1]["arms"]["a"]["val_psnr"] == {25.0: 30.0}
    md = ideas.markdown(rows)
    assert "| **38.25** |" not in md and "36.50" in md and "30.00" in md


def test_unfinished_run_is_not_tabled(tmp_path):
    runs = tmp_path / "runs"
    _fake_run(runs, "idea-esl-tsdn", 100, {"0.001": 40.0}, 0.2)
    _fake_run(runs, "idea-scratch-tsdn", 200, {"0.001": 39.0}, 0.25)
    rec = runs / "idea-scratch-tsdn" / "recipe.json"
    rec.write_text(json.dumps({"optim": {"steps": 400}}))  # logged 200 of 400 steps
    assert ideas.collect(runs) == []
