"""Learner updates per second of SAC (and DQN), tripod vs Stable-Baselines3, same network and batch.

For DQN tripod runs without double Q-learning and dueling heads, like SB3's DQN.

Each measurement runs in a fresh process with ``torch.set_num_threads(1)``: fill a replay
buffer with 2000 Pendulum-v1 (CartPole-v1 for DQN) steps, then time blocks of gradient
updates, each on a new batch sampled from the buffer (sampling, losses, backward, optimizer
steps and target updates included). The libraries alternate, ``--repeats`` times each; the
figure is the median over processes of each process's best block (updates/s), so other
processes sharing the CPU distort it as little as possible.

    python benchmarks/offpolicy_update_speed.py [--hidden 256 64] [--batch 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def tripod_worker(algo: str, hidden: int, batch: int, updates: int) -> float:
    from tripod.algorithms.registry import get_config_class
    from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID

    env = "Pendulum-v1" if algo == "sac" else "CartPole-v1"
    config = get_config_class(algo)().environment(env).debugging(seed=0)
    config.training(
        train_batch_size_per_learner=batch,
        num_steps_sampled_before_learning_starts=2000,
        replay_buffer_capacity=100_000,
    ).reporting(min_sample_timesteps_per_iteration=2000)
    config.rl_module(model_config={"fcnet_hiddens": [hidden, hidden]})
    if algo == "dqn":  # SB3's DQN: one Q head, max over the target network's Q values
        config.training(double_q=False, dueling=False)
    algo_ = config.build_algo()
    algo_.train()  # 2000 steps; learning starts at the end
    learner, buffer = algo_.learner_group, algo_.replay_buffer

    def run(n: int) -> None:
        for _ in range(n):
            learner.update_from_replay(
                {DEFAULT_MODULE_ID: buffer.sample(batch)}, num_env_steps_sampled_lifetime=2000
            )

    return _best_rate(run, updates)


def sb3_worker(algo: str, hidden: int, batch: int, updates: int) -> float:
    from stable_baselines3 import DQN, SAC

    if algo == "sac":
        model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=2000, batch_size=batch, seed=0,
                    policy_kwargs={"net_arch": [hidden, hidden]})  # fmt: skip
    else:
        model = DQN("MlpPolicy", "CartPole-v1", learning_starts=2000, batch_size=batch, seed=0,
                    policy_kwargs={"net_arch": [hidden, hidden]})  # fmt: skip
    model.learn(2000)

    def run(n: int) -> None:
        model.train(gradient_steps=n, batch_size=batch)

    return _best_rate(run, updates)


def _best_rate(run, updates: int, blocks: int = 5) -> float:
    run(max(20, updates // 10))  # warm-up
    per_block = max(1, updates // blocks)
    best = 0.0
    for _ in range(blocks):
        t0 = time.perf_counter()
        run(per_block)
        best = max(best, per_block / (time.perf_counter() - t0))
    return best


def measure(lib: str, algo: str, hidden: int, batch: int, updates: int) -> float:
    cmd = [sys.executable, __file__, "--worker", lib, "--algo", algo, "--hidden", str(hidden),
           "--batch", str(batch), "--updates", str(updates)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["updates_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="sac", choices=["sac", "dqn"])
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 64])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--updates", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", choices=["tripod", "sb3"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        import torch

        torch.set_num_threads(1)
        worker = tripod_worker if a.worker == "tripod" else sb3_worker
        print(json.dumps({"updates_per_s": worker(a.algo, a.hidden[0], a.batch, a.updates)}))
        return
    print(
        f"{a.algo.upper()} learner updates/s, batch {a.batch}, 1 torch thread (median of {a.repeats} processes)"
    )
    for hidden in a.hidden:
        rates = {"tripod": [], "sb3": []}
        for _ in range(a.repeats):
            for lib in rates:
                rates[lib].append(measure(lib, a.algo, hidden, a.batch, a.updates))
        t, s = statistics.median(rates["tripod"]), statistics.median(rates["sb3"])
        print(f"  [{hidden}, {hidden}]: tripod {t:7.1f}   sb3 {s:7.1f}   ratio {t / s:.2f}x", flush=True)


if __name__ == "__main__":
    main()
