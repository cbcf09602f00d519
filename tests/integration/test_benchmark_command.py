"""`tripod benchmark`: real runs in fresh processes, medians, peers left out with a note, and result
files that never replace what tripod did not write."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from tripod.benchmark import races, report, rllib_side
from tripod.benchmark.races import RACES, Race, available_peers, run_one, summarize
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


def test_every_race_has_an_rllib_side_with_rllibs_tuned_settings(monkeypatch):
    calls = []
    monkeypatch.setattr(races, "run_one", lambda lib, race, seed, **kw: calls.append((race.name, lib, kw)) or {})
    for race in RACES.values():
        races.run_race(race, [0], ["sb3", "rllib"], rllib_python="/opt/rllib/bin/python")
        assert race.peers == ("sb3", "rllib")
        assert race.algo in rllib_side.TUNED  # the script accepts it and configures RLlib for it
        cmd = races._command("rllib", race, 2, "/opt/rllib/bin/python")
        assert cmd == ["/opt/rllib/bin/python", str(races.RLLIB_SIDE), race.algo, race.env, "--stop-return",
                       str(race.stop_return), "--eval-every", str(race.eval_every), "--max-steps",
                       str(race.max_steps), "--seed", "2"]  # fmt: skip
    assert [(name, lib) for name, lib, _ in calls] == [(n, lib) for n in RACES for lib in ("tripod", "sb3", "rllib")]
    assert all(kw["rllib_python"] == "/opt/rllib/bin/python" for _, _, kw in calls)
    assert races.RLLIB_SIDE.exists()


STUB_SIDE = """import json, sys
argv = sys.argv[1:]
steps = int(argv[argv.index("--eval-every") + 1])
print("RLlib's own chatter")
print(json.dumps({"lib": "rllib", "seed": int(argv[-1]), "env_steps": steps, "eval_return_mean": -150.0,
                  "curve": [[steps, 1.0, -150.0]], "inside_s": 1.0, "argv": argv}))
"""


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_the_rllib_side_joins_the_dqn_and_sac_races(name, tmp_path, monkeypatch):
    stub = tmp_path / "rllib_side.py"
    stub.write_text(STUB_SIDE)
    monkeypatch.setattr(races, "RLLIB_SIDE", stub)
    race = RACES[name]
    row = run_one("rllib", race, seed=1, rllib_python=sys.executable, timeout=60)
    assert row["ok"], row.get("error")
    assert row["argv"][:2] == [race.algo, race.env] and row["argv"][-2:] == ["--seed", "1"]
    assert row["solved"] == (name == "sac") and row["wall_s"] > 0  # -150 clears -200 (Pendulum), not 475
    page = report.race_markdown(race, [row], summarize([row]), [], None)
    assert f"| rllib | 1 | {row['wall_s']:.1f} | {race.eval_every:,} | -150.0 |" in page


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
