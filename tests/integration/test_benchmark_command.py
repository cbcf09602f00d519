"""`tripod benchmark`: real runs in fresh processes, medians, peers left out with a note, and result
files that never replace what tripod did not write."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from tripod.benchmark import report
from tripod.benchmark.races import Race, available_peers, run_one, summarize
from tripod.benchmark.sampling import sampling_race
from tripod.cli import main


def test_a_tripod_run_is_a_whole_process_with_its_evaluation_curve():
    race = Race("t", "ppo", "CartPole-v1", stop_return=1e9, eval_every=2048, max_steps=4096, peers=())
    row = run_one("tripod", race, seed=0, timeout=600)
    assert row["ok"], row.get("error")
    assert 4096 <= row["env_steps"] < 4096 + 2048 and not row["solved"]
    steps = [p[0] for p in row["curve"]]  # evaluated once past 2048 env steps, again past 4096
    assert len(steps) == 2 and 2048 <= steps[0] < 4096 <= steps[1] == row["env_steps"]
    assert row["wall_s"] > row["curve"][-1][1] > 0  # the process took longer than its own clock saw


def test_summary_takes_medians_of_finished_runs_and_counts_solved():
    rows = [
        {"lib": "tripod", "seed": 0, "ok": True, "wall_s": 4.0, "env_steps": 70_000, "solved": True},
        {"lib": "tripod", "seed": 1, "ok": True, "wall_s": 6.0, "env_steps": 80_000, "solved": True},
        {"lib": "tripod", "seed": 2, "ok": True, "wall_s": 5.0, "env_steps": 90_000, "solved": False},
        {"lib": "sb3", "seed": 0, "ok": True, "wall_s": 15.0, "env_steps": 30_000, "solved": True},
        {"lib": "sb3", "seed": 1, "ok": False, "error": "boom"},
    ]
    s = summarize(rows)
    assert s["tripod"]["median_wall_s"] == 5.0 and s["tripod"]["median_env_steps"] == 80_000
    assert (s["tripod"]["solved"], s["tripod"]["runs"]) == (2, 3)
    assert s["sb3"]["median_wall_s"] == 15.0 and (s["sb3"]["solved"], s["sb3"]["runs"]) == (1, 2)
    assert s["sb3"]["tripod_speedup"] == 3.0 and s["tripod"]["tripod_speedup"] == 1.0
    failed_only = summarize([{"lib": "tripod", "seed": 0, "ok": False, "error": "x"}])
    assert math.isnan(failed_only["tripod"]["median_wall_s"])


def test_missing_peers_are_left_out_with_the_fix(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "stable_baselines3" else real(name))
    peers, notes = available_peers(["sb3", "rllib", "cleanrl"], None)
    assert peers == []
    assert "pip install 'tripod-rl[benchmarks]'" in notes[0]
    assert "--rllib-python" in notes[1] and "unknown peer 'cleanrl'" in notes[2]
    fake_python = tmp_path / "python"
    fake_python.write_text("")
    assert available_peers(["rllib"], str(fake_python)) == (["rllib"], [])


def test_result_files_replace_only_what_tripod_benchmark_wrote(tmp_path):
    mine = report.write_result(tmp_path, "ppo", report.MARKER + "\nfirst\n", lambda p: Path(p).write_bytes(b"png"))
    assert [p.name for p in mine] == ["ppo.md", "ppo.png"]
    report.write_result(tmp_path, "ppo", report.MARKER + "\nsecond\n")
    assert "second" in (tmp_path / "ppo.md").read_text()
    (tmp_path / "dqn.md").write_text("my own notes\n")
    with pytest.raises(FileExistsError, match="not written by `tripod benchmark`"):
        report.write_result(tmp_path, "dqn", report.MARKER + "\n")
    assert (tmp_path / "dqn.md").read_text() == "my own notes\n"
    (tmp_path / "sac.png").write_bytes(b"someone's picture")
    with pytest.raises(FileExistsError):
        report.write_result(tmp_path, "sac", report.MARKER + "\n", lambda p: Path(p).write_bytes(b"x"))
    assert (tmp_path / "sac.png").read_bytes() == b"someone's picture" and not (tmp_path / "sac.md").exists()


def test_sampling_race_alone_measures_tripod():
    (row,) = sampling_race(rounds=1, with_sb3=False, env_counts=(1,))
    assert row["num_envs"] == 1 and row["sb3"] is None
    assert row["tripod"] > 500 and row["tripod_vf"] > 500  # env steps/s; thousands on any machine


def test_cli_races_tripod_alone_and_writes_the_page(tmp_path, capsys):
    assert main(["benchmark", "ppo", "--seeds", "1", "--against", "", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "ppo.md").read_text()
    assert page.startswith(report.MARKER)
    assert "| tripod | 0 |" in page and "| yes |" in page  # the preset solves CartPole
    assert (tmp_path / "ppo.png").stat().st_size > 1000
    (tmp_path / "dqn.md").write_text("mine")
    assert main(["benchmark", "dqn", "--seeds", "1", "--against", "", "--out", str(tmp_path)]) == 2  # refused at once
    assert "was not written by `tripod benchmark`" in capsys.readouterr().err
    assert (tmp_path / "dqn.md").read_text() == "mine"
