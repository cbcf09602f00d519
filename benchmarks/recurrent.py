"""The cost of memory: recurrent PPO against a same-sized MLP on the memory task, one process.

``MemoryCueEnv(delay=5)`` (tripod.envs), 8 sub-envs, torch.set_num_threads(1). Both modules
are tripod's default PPO module: the MLP has ``fcnet_hiddens=[64, 64]``; the LSTM has
``fcnet_hiddens=[64]`` and an LSTM of 64 cells (``max_seq_len=20``; actor and critic each
with their own LSTM, the default ``vf_share_layers=False``). Figures, best of ``--rounds``:

* sampling: env steps/s of ``SingleAgentEnvRunner.sample()`` (inference-only module; the
  LSTM's runner also advances the critic's LSTM state on every step);
* update: env steps/s of one PPO update (``train_batch_size=2048``, minibatches of 512,
  ``num_epochs=4``), including the recurrent batch's sequence cutting and its value pass.
  Episodes last 7 steps, so ``max_seq_len=20`` trains mostly on zero padding; ``lstm-8``
  (``max_seq_len=8``) shows the same module with sequences that fit the episodes.

    python benchmarks/recurrent.py [--rounds 3]
"""

import argparse
import time

import torch

from tripod.algorithms.ppo import PPOConfig
from tripod.envs.memory import MemoryCueEnv

BATCH = 2048
MODELS = {
    "mlp": {"fcnet_hiddens": [64, 64]},
    "lstm": {"fcnet_hiddens": [64], "use_lstm": True, "lstm_cell_size": 64, "max_seq_len": 20},
    "lstm-8": {"fcnet_hiddens": [64], "use_lstm": True, "lstm_cell_size": 64, "max_seq_len": 8},
}


def build(model_config):
    config = (
        PPOConfig()
        .environment(MemoryCueEnv, env_config={"delay": 5})
        .env_runners(num_envs_per_env_runner=8)
        .training(train_batch_size_per_learner=BATCH, minibatch_size=512, num_epochs=4)
        .rl_module(model_config=model_config)
        .debugging(seed=0)
    )
    return config.build_algo()


def measure(algo, rounds):
    runner = algo.env_runner_group.local_env_runner
    runner.sample(num_timesteps=BATCH)  # warm up
    sample_best, update_best = 0.0, 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        batch = runner.sample(num_timesteps=BATCH)
        t1 = time.perf_counter()
        algo.learner_group.update({"default_policy": batch})
        t2 = time.perf_counter()
        sample_best = max(sample_best, BATCH / (t1 - t0))
        update_best = max(update_best, BATCH / (t2 - t1))
    return sample_best, update_best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = {}
    for name, model_config in MODELS.items():
        algo = build(model_config)
        try:
            figures[name] = measure(algo, args.rounds)
        finally:
            algo.stop()
    print(f"{'module':<8}{'sampling steps/s':>18}{'update steps/s':>16}{'vs MLP':>16}")
    ms, mu = figures["mlp"]
    for name, (sample, update) in figures.items():
        print(f"{name:<8}{sample:>18,.0f}{update:>16,.0f}{sample / ms:>8.2f}x {update / mu:>5.2f}x")


if __name__ == "__main__":
    main()
