"""``import tripod`` and ``import tripod.algorithms`` do not import Ray, nor does building and
training PPO for an iteration with ``num_env_runners=0``: Ray is imported only by
``tripod.distributed`` (its Tune wrapper included), and only when a config asks for it.
Each check runs a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_tripod_and_tripod_algorithms_does_not_import_ray():
    out = run_python(
        """
        import sys
        import tripod
        assert "ray" not in sys.modules, "import tripod imported ray"
        import tripod.algorithms
        from tripod.algorithms import PPO, PPOConfig, PG, PGConfig, DQN, DQNConfig, SAC, SACConfig
        import tripod.algorithms.ppo, tripod.algorithms.scale_out
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
        """
    )
    assert out.strip() == "[]"


def test_training_ppo_without_remote_runners_does_not_import_ray():
    out = run_python(
        """
        import sys
        from tripod.algorithms import PPOConfig
        config = (
            PPOConfig()
            .environment("CartPole-v1")
            .env_runners(num_env_runners=0)
            .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
            .debugging(seed=0)
        )
        algo = config.build_algo()
        result = algo.train()
        algo.stop()
        assert result["training_iteration"] == 1
        print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
        """
    )
    assert out.strip() == "[]"
