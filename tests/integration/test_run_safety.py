"""The CLI and train_run never delete what tripod did not write, lock run directories and survive failed saves."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.cli import main
from tripod.io.checkpoint import CheckpointSaveError
from tripod.run.run_dir import RunDir, RunDirError, RunLockedError
from tripod.run.train_run import GracefulInterrupt, StopCriteria, train_run

TINY = ["--num-envs", "1", "--set", "train_batch_size_per_learner=64", "--set", "minibatch_size=64",
        "--set", "num_epochs=1", "--set", 'model_config={"fcnet_hiddens": [8]}', "--no-preset",
        "--eval-episodes", "0", "--quiet"]  # fmt: skip


def tiny_algo():
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=64, minibatch_size=64, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .debugging(seed=0)
    )
    return config.build_algo()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("safety") / "run"
    algo = tiny_algo()
    try:
        train_run(algo, RunDir(path), StopCriteria(iterations=1), checkpoint_every=1, eval_episodes=0)
    finally:
        algo.stop()
    return path


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def user_error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tripod: error: ") and err.count("\n") == 1, err
    return err


# ----------------------------------------------------------------------------- export
def test_export_refuses_a_directory_of_user_files(run, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.csv").write_text("precious")
    for extra in ([], ["--overwrite"]):
        err = user_error(capsys, "export", run, "--out", out, *extra)
        assert f"{out} is not empty and is not a tripod checkpoint; refusing to replace it" in err
    assert (out / "data.csv").read_text() == "precious" and os.listdir(out) == ["data.csv"]
    assert os.listdir(tmp_path) == ["out"]


def test_export_refuses_the_run_and_anything_inside_or_around_it(run, capsys):
    before = snapshot(run)
    for out in (run, run / "checkpoints", run / "checkpoints" / "iter_000001", run / "exported", run.parent):
        err = user_error(capsys, "export", run, "--out", out)
        assert "itself, inside it or contains it; export to a directory outside" in err
    err = user_error(capsys, "export", run / "checkpoints" / "iter_000001", "--out", run)
    assert "inside it or contains it" in err
    assert snapshot(run) == before


def test_export_to_the_current_directory_is_refused_without_leftovers(run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    err = user_error(capsys, "export", run, "--out", ".")
    assert "is the current directory or contains it" in err
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_export_replaces_a_previous_export_only_with_overwrite(run, tmp_path, capsys):
    out = tmp_path / "policy"
    assert main(["export", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    err = user_error(capsys, "export", run, "--out", out)
    assert "already holds a tripod 'rl_module' checkpoint; pass --overwrite to replace it" in err
    assert main(["export", str(run), "--out", str(out), "--overwrite"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["policy"]


def test_export_under_a_file_is_a_one_line_error(run, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    err = user_error(capsys, "export", run, "--out", tmp_path / "file" / "policy")
    assert re.search(r"cannot write checkpoint .*file/policy: .*file is a file, not a directory", err)


# ----------------------------------------------------------------------------- run directory lock
def test_a_second_run_into_a_locked_directory_fails_at_once(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    holder = RunDir(copy)
    holder.lock()  # as a running `tripod train` does
    try:
        before = snapshot(copy)
        for argv in (["ppo", "CartPole-v1", "--out", copy], ["--resume", copy]):
            err = user_error(capsys, "train", *argv, *TINY)
            assert f"{copy} is in use by another tripod run (pid {os.getpid()}); wait for it" in err
        assert snapshot(copy) == before
        with pytest.raises(RunLockedError, match="is in use by another tripod run"):
            RunDir(copy).lock()
    finally:
        holder.unlock()
    RunDir(copy).lock()  # free again once the holder is done (a killed holder frees it too: flock)


def test_a_new_run_refuses_a_directory_of_other_files(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "paper.pdf").write_text("x")
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", tmp_path / "mine", *TINY)
    assert "holds files that are not a tripod run (paper.pdf, ...); a new run needs a new or empty" in err
    with pytest.raises(RunDirError, match="holds files that are not a tripod run"):
        train_run(object(), RunDir(tmp_path / "mine"), StopCriteria(iterations=1))
    assert os.listdir(tmp_path / "mine") == ["paper.pdf"]


def test_an_unusable_out_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", tmp_path / "file", *TINY)
    assert "exists and is not a directory; choose another run directory" in err
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", tmp_path / "file" / "run", *TINY)
    assert re.search(r"cannot create run directory .*file/run: Not a directory", err)


# ----------------------------------------------------------------------------- failed saves
def _read_only(src, dst):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(src))


def test_a_failed_save_stops_the_cli_run_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "rename", _read_only)
    out = tmp_path / "run"
    err = user_error(capsys, "train", "ppo", "CartPole-v1", "--out", out, "--stop-iters", 2, *TINY)
    assert re.search(
        r"cannot write checkpoint .*checkpoints/iter_000002: Read-only file system.*\. Training stopped at "
        r"iteration 2; no checkpoint was written\.",
        err,
    )
    assert not [p for p in (out / "checkpoints").iterdir()]  # no temp dir left behind


def test_train_run_raises_checkpoint_save_error_and_keeps_the_algorithm(tmp_path, monkeypatch):
    algo = tiny_algo()
    try:
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "checkpoints").write_text("a file where the directory goes")
        run = RunDir(tmp_path / "run")
        with pytest.raises(
            CheckpointSaveError,
            match=r"cannot write checkpoint .*iter_000001: it is a file, not a directory \(.*checkpoints\)",
        ):
            train_run(algo, run, StopCriteria(iterations=3), checkpoint_every=1, eval_episodes=0)
        assert algo.iteration == 1 and not run.locked
        assert '"stopped_by": "error"' in (tmp_path / "run" / "result.json").read_text()
        saved = algo.save_to_path(tmp_path / "elsewhere")  # the trained state is still in memory
        assert PPOConfig.algo_class.from_checkpoint(saved).iteration == 1
    finally:
        algo.stop()


def test_ctrl_c_while_saving_lets_the_save_finish():
    before = signal.getsignal(signal.SIGINT)
    with GracefulInterrupt() as interrupt:
        assert not interrupt.requested
        signal.raise_signal(signal.SIGINT)  # first Ctrl-C: stop after this iteration
        assert interrupt.requested
        with interrupt.saving():
            signal.raise_signal(signal.SIGINT)  # a second one during the save does not abandon it
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # outside a save, the second one stops at once
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back
