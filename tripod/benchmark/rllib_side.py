"""RLlib's side of a race, run as a script by an interpreter that has ``ray[rllib]``.

Standalone on purpose (it imports nothing of tripod): ``tripod benchmark --rllib-python PY`` runs
``PY rllib_side.py ALGO ENV --stop-return R --eval-every N --max-steps M --seed S``. RLlib's new API
stack (``build_algo``) trains with the settings of its own tuned example for the race's task, from
the ray repository:

- ``ppo`` (CartPole-v1), ``rllib/examples/algorithms/ppo/cartpole_ppo.py``: 16 envs, lr 3e-4,
  6 epochs, vf_loss_coeff 0.01, one linear 32-unit layer shared by policy and value.
- ``dqn`` (CartPole-v1), ``rllib/examples/algorithms/dqn/cartpole_dqn.py`` (also
  ``rllib/tuned_examples/dqn/cartpole_dqn.py``): lr 5e-4, train batch 32, prioritized replay
  (capacity 50,000, alpha 0.6, beta 0.4), n-step drawn from 2..5, double Q, dueling, epsilon
  1.0 -> 0.02 over 10,000 env steps; a 256-unit tanh layer and a 256-unit head, zero biases.
- ``sac`` (Pendulum-v1), ``rllib/examples/algorithms/sac/pendulum_sac.py`` (also
  ``rllib/tuned_examples/sac/pendulum_sac.py``): initial alpha 1.001, actor lr 2e-4, critic lr
  8e-4, alpha lr 9e-4, target entropy "auto", n-step 2..5, tau 0.005, train batch 256, target
  update every step, prioritized replay (capacity 100,000, alpha 1.0, beta 0.0), learning from
  256 env steps on; 256x256 ReLU layers (Xavier-uniform), heads without hidden layers
  (orthogonal, gain 0.01).

The examples' scaling by the number of learners is 1 here: sampling and learning run in this
process (no env-runner or learner actors), one torch thread. Every ``--eval-every`` env steps
10 greedy episodes (``explore=False``). Prints one JSON line like :mod:`tripod.benchmark.sides`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

T0 = time.perf_counter()


def _ppo(env: str):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (
        PPOConfig().environment(env)
        .env_runners(num_envs_per_env_runner=16)
        .training(lr=3e-4, num_epochs=6, vf_loss_coeff=0.01)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32], fcnet_activation="linear", vf_share_layers=True))
    )  # fmt: skip


def _dqn(env: str):
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (
        DQNConfig().environment(env)
        .training(lr=5e-4, train_batch_size_per_learner=32,
                  replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 50_000,
                                        "alpha": 0.6, "beta": 0.4},
                  n_step=(2, 5), double_q=True, dueling=True, epsilon=[(0, 1.0), (10_000, 0.02)])
        .rl_module(model_config=DefaultModelConfig(
            fcnet_hiddens=[256], fcnet_activation="tanh", fcnet_bias_initializer="zeros_",
            head_fcnet_hiddens=[256], head_fcnet_bias_initializer="zeros_"))
    )  # fmt: skip


def _sac(env: str):
    from ray.rllib.algorithms.sac import SACConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from torch import nn

    return (
        SACConfig().environment(env)
        .training(initial_alpha=1.001, actor_lr=2e-4, critic_lr=8e-4, alpha_lr=9e-4, lr=None,
                  target_entropy="auto", n_step=(2, 5), tau=0.005, train_batch_size_per_learner=256,
                  target_network_update_freq=1,
                  replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 100_000,
                                        "alpha": 1.0, "beta": 0.0},
                  num_steps_sampled_before_learning_starts=256)
        .rl_module(model_config=DefaultModelConfig(
            fcnet_hiddens=[256, 256], fcnet_activation="relu", fcnet_kernel_initializer=nn.init.xavier_uniform_,
            head_fcnet_hiddens=[], head_fcnet_activation=None, head_fcnet_kernel_initializer="orthogonal_",
            head_fcnet_kernel_initializer_kwargs={"gain": 0.01}))
        .reporting(metrics_num_episodes_for_smoothing=5)
    )  # fmt: skip


#: RLlib's tuned settings per algorithm (each a function of the env id returning an algorithm config).
TUNED = {"ppo": _ppo, "dqn": _dqn, "sac": _sac}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=sorted(TUNED))
    parser.add_argument("env")
    parser.add_argument("--stop-return", type=float, required=True)
    parser.add_argument("--eval-every", type=int, required=True)
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    config = (
        TUNED[a.algo](a.env)
        .env_runners(num_env_runners=0)
        .learners(num_learners=0)
        .evaluation(evaluation_num_env_runners=0, evaluation_duration=10, evaluation_duration_unit="episodes",
                    evaluation_config={"explore": False})
        .debugging(seed=a.seed)
    )  # fmt: skip
    algo = config.build_algo()
    curve, next_eval, last, steps = [], a.eval_every, None, 0
    while steps < a.max_steps:
        steps = int(algo.train()["env_runners"].get("num_env_steps_sampled_lifetime", 0))
        if steps >= next_eval:
            next_eval += a.eval_every
            last = float(algo.evaluate()["env_runners"]["episode_return_mean"])
            curve.append([steps, time.perf_counter() - T0, last])
            if last >= a.stop_return:
                break
    algo.stop()
    ray.shutdown()
    print(json.dumps({"lib": "rllib", "seed": a.seed, "env_steps": steps, "eval_return_mean": last,
                      "curve": curve, "inside_s": time.perf_counter() - T0}))  # fmt: skip


if __name__ == "__main__":
    main()
