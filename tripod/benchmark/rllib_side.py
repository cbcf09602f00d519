"""RLlib's side of the PPO race, run as a script by an interpreter that has ``ray[rllib]``.

Standalone on purpose (it imports nothing of tripod): ``tripod benchmark --rllib-python PY`` runs
``PY rllib_side.py ppo CartPole-v1 --stop-return R --eval-every N --max-steps M --seed S``.
RLlib trains with the settings of its tuned CartPole example (``rllib/examples/algorithms/ppo/
cartpole_ppo.py`` in the ray repository): 16 envs, lr 3e-4, 6 epochs, vf_loss_coeff 0.01, one
linear 32-unit layer shared by policy and value; sampling and learning in this process, one
torch thread. Every ``--eval-every`` env steps 10 greedy episodes (``explore=False``). Prints
one JSON line like :mod:`tripod.benchmark.sides`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

T0 = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=["ppo"])
    parser.add_argument("env")
    parser.add_argument("--stop-return", type=float, required=True)
    parser.add_argument("--eval-every", type=int, required=True)
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    config = (
        PPOConfig().environment(a.env)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=16)
        .learners(num_learners=0)
        .training(lr=3e-4, num_epochs=6, vf_loss_coeff=0.01)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32], fcnet_activation="linear", vf_share_layers=True))
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
