"""Tuned settings per (algorithm, environment), applied by ``tripod train`` unless ``--no-preset``.

A preset is a plain dict of config field values for ``config.update_from_dict``;
command-line ``--num-envs`` and ``--set`` are applied on top of it.
"""

from __future__ import annotations

import copy
from typing import Any

# Atari (`pip install 'tripod-rl[atari]'`): gymnasium's AtariPreprocessing (84x84 grayscale, 4 frames
# skipped, up to 30 no-op starts), 4 stacked frames, rewards clipped to their sign, the Nature CNN,
# and the usual PPO Atari settings (8 envs x 128 steps, 4 epochs of 256, clip 0.1). Both games need
# millions of env steps: docs/results.md has Breakout's curve as far as this 2-core machine got.
_PPO_ATARI: dict[str, Any] = {
    "env_config": {"atari_preprocessing": True},
    "env_to_module_connector": [{"type": "FrameStackingEnvToModule", "num_frames": 4}],
    "clip_rewards": True,
    "num_envs_per_env_runner": 8,
    "train_batch_size_per_learner": 1024,
    "minibatch_size": 256,
    "num_epochs": 4,
    "lr": 2.5e-4,
    "gamma": 0.99,
    "lambda_": 0.95,
    "clip_param": 0.1,
    "entropy_coeff": 0.01,
    "vf_loss_coeff": 0.5,
    "grad_clip": 0.5,
    "model_config": {"fcnet_hiddens": [512], "fcnet_activation": "relu", "vf_share_layers": True},
}

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
    # Box2D (`pip install 'tripod-rl[box2d]'`). After SB3 rl-zoo's gamma 0.999, lambda 0.98 and entropy
    # 0.01, with 8192-step iterations of 10 epochs of 512-row minibatches (about 7k env steps/s on
    # one core). Greedy evaluation reached 200 at 557k, 197k and 164k env steps (seeds 0-2, evaluated
    # every 32k); the training return (exploring, 100 episodes) was still 55-93 then, so the greedy
    # policy is evaluated every 4 iterations (32k env steps).
    ("ppo", "LunarLander-v3"): {
        "num_envs_per_env_runner": 16,
        "train_batch_size_per_learner": 8192,
        "minibatch_size": 512,
        "num_epochs": 10,
        "lr": 1e-3,
        "gamma": 0.999,
        "lambda_": 0.98,
        "entropy_coeff": 0.01,
        "evaluation_interval": 4,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # Off-policy presets. DQN CartPole: four envs sample 64 steps each, then 64 updates of 64.
    # With a constant lr 2.3e-3 the greedy policy swung between 500 and 90-250 from 30k steps on
    # and collapsed (seeds 0-2, greedy evaluation every 5k: 14 of 24 evaluations after the first 500
    # stayed >= 475 on seed 1, the training return never reached 475 on seed 2). Decaying lr to 1e-4
    # by 50k steps keeps it: 37 of 39 evaluations >= 475 from the first solve (~41k) to 100k steps.
    # Unseen seeds 100-104: solved by greedy evaluation at 31-92k env steps (docs/results.md).
    # The training return (epsilon 0.04, 100-episode window) lags the greedy policy by 30-40k steps,
    # so the greedy policy is evaluated every 10 iterations (~10k env steps) to stop when solved.
    # Left: past ~130k steps Q can still drift above 1/(1-gamma) = 100 and diverge (seed 1). Target
    # updates every 1,024 env steps held seeds 0-2 to 250k (Q settles at ~100) but solve at 120-140k;
    # for training well past solving: --set target_network_update_freq=1024 (docs/results.md).
    ("dqn", "CartPole-v1"): {
        "num_envs_per_env_runner": 4,
        "rollout_fragment_length": 64,
        "lr": [[0, 2.3e-3], [50_000, 1e-4]],
        "evaluation_interval": 10,
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
    # Seed 0, greedy evaluation every 25k env steps: 167 at 50k, 212 at 100k (87 s on one core), while
    # the training return was 163; so the greedy policy is evaluated every 25 iterations (~25k).
    ("dqn", "LunarLander-v3"): {
        "evaluation_interval": 25,
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
    # The training return (100 episodes of 200 steps) lags far behind: without periodic evaluation
    # `tripod train` stopped at 15-21k env steps (42-66 s, seeds 0-2); evaluating every iteration
    # (1000 env steps; 10 greedy episodes cost about a tenth of an iteration) stops at 2-3k.
    ("sac", "Pendulum-v1"): {
        "evaluation_interval": 1,
        "actor_lr": 2e-3,
        "critic_lr": 2e-3,
        "alpha_lr": 2e-3,
        "n_step": 3,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 100,
        "replay_buffer_capacity": 100_000,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # After SB3 rl-zoo's LunarLanderContinuous settings (lr 7.3e-4, tau 0.01, batch 256), with 64x64
    # networks (rl-zoo: 400x300, about 30x the compute per update) and 3-step returns. Tuning seed 0:
    # greedy evaluation 243 at 90k env steps (436 s on one core; 128x128 reached 200 at 60k but its
    # final evaluation gave 180 +- 117). Unseen seeds 100-104: solved by greedy evaluation at 40-100k
    # env steps, 4-8 minutes each on one core (docs/results.md). The training return lags the
    # greedy policy, so the greedy policy is evaluated every 10 iterations (10k env steps).
    ("sac", "LunarLanderContinuous-v3"): {
        "evaluation_interval": 10,
        "actor_lr": 7.3e-4,
        "critic_lr": 7.3e-4,
        "alpha_lr": 7.3e-4,
        "tau": 0.01,
        "n_step": 3,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 5_000,
        "replay_buffer_capacity": 1_000_000,
        "model_config": {"fcnet_hiddens": [64, 64]},
    },
    # MuJoCo (`pip install 'tripod-rl[mujoco]'`): the standard SAC settings (Haarnoja et al. 2018,
    # SB3 rl-zoo). Unseen seeds 100-102: greedy returns 3,495 / 3,745 / 4,107 after 60k env steps
    # (random actions for the first 10k; docs/results.md); about 1M env steps reach 9-10k.
    ("sac", "HalfCheetah-v5"): {
        "actor_lr": 3e-4,
        "critic_lr": 3e-4,
        "alpha_lr": 3e-4,
        "train_batch_size_per_learner": 256,
        "num_steps_sampled_before_learning_starts": 10_000,
        "replay_buffer_capacity": 1_000_000,
        "model_config": {"fcnet_hiddens": [256, 256]},
    },
    # MuJoCo PPO (`pip install 'tripod-rl[mujoco]'`): SB3 rl-zoo's settings (one env, 512-step batches,
    # ReLU 256x256 actor and critic, log std starting at -2) with observation and reward normalisation
    # by connectors (SB3: VecNormalize). HalfCheetah seed 0: greedy return 4,521 at 200k env steps
    # (SB3 with the same settings in the same run: 4,240); Hopper: docs/results.md.
    ("ppo", "HalfCheetah-v5"): {
        "env_to_module_connector": [{"type": "MeanStdFilter"}, {"type": "NormalizeRewards", "gamma": 0.98}],
        "num_envs_per_env_runner": 1,
        "train_batch_size_per_learner": 512,
        "minibatch_size": 64,
        "num_epochs": 20,
        "lr": 2.0633e-05,
        "gamma": 0.98,
        "lambda_": 0.92,
        "clip_param": 0.1,
        "entropy_coeff": 0.000401762,
        "vf_loss_coeff": 0.58096,
        "grad_clip": 0.8,
        "model_config": {
            "fcnet_hiddens": [256, 256], "fcnet_activation": "relu", "free_log_std": True, "log_std_init": -2.0,
        },
    },
    ("ppo", "Hopper-v5"): {
        "env_to_module_connector": [{"type": "MeanStdFilter"}, {"type": "NormalizeRewards", "gamma": 0.999}],
        "num_envs_per_env_runner": 1,
        "train_batch_size_per_learner": 512,
        "minibatch_size": 32,
        "num_epochs": 5,
        "lr": 9.80828e-05,
        "gamma": 0.999,
        "lambda_": 0.99,
        "clip_param": 0.2,
        "entropy_coeff": 0.00229519,
        "vf_loss_coeff": 0.835671,
        "grad_clip": 0.7,
        "model_config": {
            "fcnet_hiddens": [256, 256], "fcnet_activation": "relu", "free_log_std": True, "log_std_init": -2.0,
        },
    },
    # Pixels (`pip install 'tripod-rl[minatar]'`): 10x10x4 frames, one 3x3 conv of 16 filters, 128 units
    # shared by policy and value. Seed 0: training return 4.5 at 75k env steps, 5.5 at 150k and
    # 300k (greedy 5.8; random play 0.4), about 2.7k env steps/s on one core.
    ("ppo", "MinAtar/Breakout-v1"): {
        "num_envs_per_env_runner": 8,
        "train_batch_size_per_learner": 1024,
        "minibatch_size": 256,
        "num_epochs": 4,
        "lr": 1e-3,
        "gamma": 0.99,
        "lambda_": 0.95,
        "entropy_coeff": 0.01,
        "grad_clip": 0.5,
        "model_config": {
            "conv_filters": [[16, 3, 1, "same"]], "conv_activation": "relu",
            "fcnet_hiddens": [128], "fcnet_activation": "relu", "vf_share_layers": True,
        },
    },
    ("ppo", "ALE/Pong-v5"): _PPO_ATARI,
    ("ppo", "ALE/Breakout-v5"): _PPO_ATARI,
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
    "MinAtar/Breakout-v1": {"stop_steps": 2_000_000},
    "ALE/Pong-v5": {"stop_return": 18.0, "stop_steps": 10_000_000},
    "ALE/Breakout-v5": {"stop_steps": 10_000_000},
}
FALLBACK_STOP: dict[str, float] = {"stop_steps": 1_000_000}


def default_stop(env_id: Any) -> dict[str, float]:
    """Stop criteria for a run given none: ``{"stop_return": R, "stop_steps": N}`` or a step budget."""
    stops = _DEFAULT_STOPS.get(env_id) if isinstance(env_id, str) else None
    return dict(stops or FALLBACK_STOP)


def list_presets() -> list[tuple[str, str]]:
    """All ``(algorithm, env id)`` pairs that have a preset, sorted."""
    return sorted(_PRESETS)
