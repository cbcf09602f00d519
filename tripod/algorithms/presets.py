"""Tuned settings per (algorithm, environment), applied by ``tripod train`` unless ``--no-preset``.

A preset is a plain dict of config field values for ``config.update_from_dict``;
command-line ``--num-envs`` and ``--set`` are applied on top of it.
"""

from __future__ import annotations

import copy
from typing import Any

# (algorithm name, gymnasium env id) -> config field values.
_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    # Solves (100-episode training mean >= 475, greedy eval 500) in about 70-80k env steps.
    ("ppo", "CartPole-v1"): {
        "num_envs_per_env_runner": 16,
        "train_batch_size_per_learner": 2048,
        "minibatch_size": 512,
        "num_epochs": 10,
        "lr": 2e-3,
        "gamma": 0.98,
        "lambda_": 0.8,
        "entropy_coeff": 0.0,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    ("ppo", "Pendulum-v1"): {
        "num_envs_per_env_runner": 8,
        "train_batch_size_per_learner": 4096,
        "minibatch_size": 256,
        "num_epochs": 10,
        "lr": 1e-3,
        "gamma": 0.9,
        "lambda_": 0.95,
        "model_config": {"fcnet_hiddens": [64, 64], "free_log_std": True},
    },
    # Multi-agent, one module shared by the three agents (MPE2, `pip install 'tripod-rl[multiagent]'`).
    # Random play returns about -81 (sum over agents); this reaches about -55 in 60k env steps.
    ("ppo", "pettingzoo:mpe2.simple_spread_v3"): {
        "num_envs_per_env_runner": 4,
        "train_batch_size_per_learner": 1000,
        "minibatch_size": 500,
        "num_epochs": 10,
        "lr": 2e-3,
        "gamma": 0.95,
        "lambda_": 0.95,
        "entropy_coeff": 0.01,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    ("ppo", "Acrobot-v1"): {
        "num_envs_per_env_runner": 16,
        "train_batch_size_per_learner": 4096,
        "minibatch_size": 512,
        "num_epochs": 4,
        "lr": 3e-4,
        "gamma": 0.99,
        "lambda_": 0.94,
        "entropy_coeff": 0.0,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # Off-policy presets. DQN CartPole: greedy evaluation reaches 475+ in 15-26k env steps (seeds
    # 0-2; SB3's zoo settings: 50-130k); four envs sample 64 steps each, then 64 updates of 64.
    ("dqn", "CartPole-v1"): {
        "num_envs_per_env_runner": 4,
        "rollout_fragment_length": 64,
        "lr": 2.3e-3,
        "train_batch_size_per_learner": 64,
        "training_intensity": 0.25,
        "n_step": 3,
        "target_network_update_freq": 256,
        "num_steps_sampled_before_learning_starts": 1000,
        "epsilon": [[0, 1.0], [8000, 0.04]],
        "replay_buffer_capacity": 100_000,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # After SB3 rl-zoo's LunarLander settings, with 3-step returns; seed 0: training return -104 at 10k
    # env steps, 115 at 100k (greedy evaluation up to 173); about 150-300k steps to an average of 200.
    ("dqn", "LunarLander-v3"): {
        "num_envs_per_env_runner": 4,
        "rollout_fragment_length": 4,
        "lr": 6.3e-4,
        "train_batch_size_per_learner": 128,
        "training_intensity": 0.25,
        "n_step": 3,
        "target_network_update_freq": 250,
        "num_steps_sampled_before_learning_starts": 5000,
        "epsilon": [[0, 1.0], [12_000, 0.1], [100_000, 0.02]],
        "replay_buffer_capacity": 100_000,
        "model_config": {"fcnet_hiddens": [256, 256]},
    },
    # SAC Pendulum: greedy evaluation reaches -200 in 2-3k env steps (seeds 0-4), as SB3's zoo
    # settings do, with 64-unit networks (16x less compute per update than 256) and 3-step returns.
    ("sac", "Pendulum-v1"): {
        "actor_lr": 2e-3,
        "critic_lr": 2e-3,
        "alpha_lr": 2e-3,
        "n_step": 3,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 100,
        "replay_buffer_capacity": 100_000,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # SB3 rl-zoo's LunarLanderContinuous settings (a few hundred thousand env steps to 200; not
    # verified on this project's 2-core CI machine).
    ("sac", "LunarLanderContinuous-v3"): {
        "actor_lr": 7.3e-4,
        "critic_lr": 7.3e-4,
        "alpha_lr": 7.3e-4,
        "tau": 0.01,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 10_000,
        "replay_buffer_capacity": 1_000_000,
        "model_config": {"fcnet_hiddens": [400, 300]},
    },
    # MuJoCo (`pip install 'tripod-rl[mujoco]'`): the standard SAC settings (Haarnoja et al. 2018,
    # SB3 rl-zoo). Seed 0: greedy return -208 at 10k env steps (random actions until then), -15 at
    # 20k; HalfCheetah needs about 1M env steps for 9-10k, far beyond a CPU test budget.
    ("sac", "HalfCheetah-v5"): {
        "actor_lr": 3e-4,
        "critic_lr": 3e-4,
        "alpha_lr": 3e-4,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 10_000,
        "replay_buffer_capacity": 1_000_000,
        "model_config": {"fcnet_hiddens": [256, 256]},
    },
}


def get_preset(algo_name: str, env_id: Any) -> dict[str, Any] | None:
    """The tuned config values for ``algo_name`` on ``env_id``, or None when there are none.

    Args:
        algo_name: A registered algorithm name (case-insensitive), e.g. ``"ppo"``.
        env_id: A gymnasium env id such as ``"CartPole-v1"``; anything else has no preset.

    Returns:
        A fresh copy (safe to modify) of the preset's field values.
    """
    if not isinstance(env_id, str):
        return None
    preset = _PRESETS.get((algo_name.strip().lower(), env_id))
    return copy.deepcopy(preset) if preset is not None else None


# Where `tripod train ALGO ENV` stops when no --stop-* flag is given: the env's
# "solved" return, with a step budget as a backstop.
_DEFAULT_STOPS: dict[str, dict[str, float]] = {
    "CartPole-v1": {"stop_return": 475.0, "stop_steps": 300_000},
    "Acrobot-v1": {"stop_return": -100.0, "stop_steps": 500_000},
    "Pendulum-v1": {"stop_return": -250.0, "stop_steps": 300_000},
    "LunarLander-v3": {"stop_return": 200.0, "stop_steps": 2_000_000},
    "LunarLanderContinuous-v3": {"stop_return": 200.0, "stop_steps": 1_000_000},
    "pettingzoo:mpe2.simple_spread_v3": {"stop_return": -55.0, "stop_steps": 300_000},
}
FALLBACK_STOP: dict[str, float] = {"stop_steps": 1_000_000}


def default_stop(env_id: Any) -> dict[str, float]:
    """Stop criteria for a run given none: ``{"stop_return": R, "stop_steps": N}`` or a step budget."""
    stops = _DEFAULT_STOPS.get(env_id) if isinstance(env_id, str) else None
    return dict(stops or FALLBACK_STOP)


def list_presets() -> list[tuple[str, str]]:
    """All ``(algorithm, env id)`` pairs that have a preset, sorted."""
    return sorted(_PRESETS)
