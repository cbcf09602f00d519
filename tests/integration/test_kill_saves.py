"""kill -9 at random moments while checkpoints are saved: no completed checkpoint is lost, no temp dir stays."""

from __future__ import annotations

import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tripod.io.checkpoint import load_state, read_metadata, recover_leftovers
from tripod.run.run_dir import CheckpointManager

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from tripod.algorithms.algorithm import Algorithm
    from tripod.algorithms.ppo import PPOConfig
    from tripod.run.run_dir import RunDir

    run = RunDir(sys.argv[1], keep_checkpoints=3)
    run.lock()
    run.checkpoints.recover()
    fixed, saves = Path(sys.argv[2]), int(sys.argv[3])
    latest = run.checkpoints.latest()
    if latest is None:
        algo = (
            PPOConfig().environment("CartPole-v1").env_runners(num_envs_per_env_runner=1)
            .training(train_batch_size_per_learner=64, minibatch_size=64, num_epochs=1)
            .rl_module(model_config={"fcnet_hiddens": [8]}).debugging(seed=0).build_algo()
        )
    else:
        algo = Algorithm.from_checkpoint(latest)
    print("ready", flush=True)
    done = 0
    while not saves or done < saves:
        algo.train()
        print("saved", run.checkpoints.save(algo, algo.iteration).name, flush=True)
        algo.save_to_path(fixed)
        print("fixed", algo.iteration, flush=True)
        done += 1
    algo.stop()
    """
)


def _check_checkpoint(path: Path) -> int:
    """Load every file of an algorithm checkpoint (the parsers, not a full algorithm: fast)."""
    meta = read_metadata(path, expected_kind="algorithm")
    load_state(path, "learner_state")
    load_state(path, "rng_state")
    load_state(path / "module" / "default_policy", "module_state")
    return int(meta["state"]["iteration"])


def _wait_for_ready(proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            assert line, f"the child exited early: {proc.communicate()}"
            if line.strip() == "ready":
                return
    raise AssertionError("the child did not start in time")


def test_kill_9_during_saves_loses_no_completed_checkpoint(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run, fixed = tmp_path / "run", tmp_path / "fixed"
    manager = CheckpointManager(run / "checkpoints")
    rng = random.Random(1234)
    completed: list[str] = []
    fixed_saved = False
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(run), str(fixed), "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_for_ready(proc, time.monotonic() + 30)
            time.sleep(rng.uniform(0.0, 0.6))
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        completed += [line.split()[1] for line in out.splitlines() if line.startswith("saved ")]
        fixed_saved |= any(line.startswith("fixed ") for line in out.splitlines())
        # Every checkpoint listed is complete and loads; the newest completed one is still there.
        listed = manager.list()
        for path in listed:
            _check_checkpoint(path)
        if completed:
            assert listed and listed[-1].name >= completed[-1], (completed[-1], listed)
        if fixed_saved:  # the fixed path, or its backup when killed between the renames, survives
            recover_leftovers(fixed)
            _check_checkpoint(fixed)
    assert len(completed) >= 5  # the children got to save between the kills
    proc = subprocess.run(
        [sys.executable, str(script), str(run), str(fixed), "2"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    leftovers = [
        p.name
        for d in (run / "checkpoints", tmp_path)
        for p in d.iterdir()
        if any(tag in p.name for tag in (".tmp-", ".old-", ".del-"))
    ]
    assert leftovers == []
    assert _check_checkpoint(manager.latest()) == _check_checkpoint(fixed)
