"""Scaling out with remote env runners on Ray: tripod vs RLlib 2.60, one run (issue 11 "Speed").

Four parts, each printed as a Markdown table with the ratio tripod/RLlib:

* ``sampling``: env steps/s of sampling alone (no learning) with 0, 1 and 2 remote
  runners, on CartPole-v1 (4 sub-envs per runner) and on a "slow CartPole" whose
  ``step`` busy-waits 1 ms (2 sub-envs per runner). Both libraries build a PPO algorithm
  with the same settings (64x64 tanh MLP, separate value network, ``"sync"`` vector env,
  0.5 CPU per runner, one torch thread in the driver) and sample ``num_timesteps`` steps
  per call as their PPO does: tripod ``algo.env_runner_group.sample(num_timesteps=T)``;
  RLlib ``synchronous_parallel_sample(worker_set=algo.env_runner_group, max_env_steps=T)``
  (what RLlib's PPO ``training_step`` calls: ``foreach_env_runner(lambda r: r.sample())``;
  RLlib's group has no ``sample()``), with ``train_batch_size_per_learner=T`` so that its
  "auto" rollout fragment makes one round of T steps. Figure: median over the timed calls
  of (env steps counted by the library / seconds). Targets: on the slow env, 2 runners
  >= 1.7x one runner; tripod above RLlib at every runner count.
* ``ppo``: PPO CartPole-v1 until the training return (mean of the last 100 episodes)
  reaches 475, 2 remote runners. Timed in the process from the config build to the
  target, after the imports, Ray's start included (``ray.init`` with the arguments of the
  one tripod makes itself, on both sides); the whole-process wall time (imports,
  shutdown) is beside it. Each library keeps its own defaults otherwise (tripod's
  ``vectorize_mode="auto"`` picks gymnasium's vectorised CartPole for 8 sub-envs, RLlib
  steps its sub-envs in ``"sync"`` mode; torch threads). tripod: its CartPole preset
  (``get_preset("ppo", "CartPole-v1")``), the 16 sub-envs spread over the 2 runners.
  RLlib: the settings of RLlib's own tuned example
  ``rllib/examples/algorithms/ppo/cartpole_ppo.py`` of the ray repository (formerly
  ``rllib/tuned_examples/ppo/cartpole_ppo.py``; neither file ships in the 2.60 wheel):
  lr 3e-4, 6 epochs, vf_loss_coeff 0.01, one linear layer of 32 shared with the value
  function, 16 sub-envs per runner, everything else RLlib's PPO defaults (train batch
  4000, minibatch 128); with 2 runners instead of its 4, and ``num_learners=0`` instead of
  1 (a learner actor does not fit beside the driver and 2 runners on 2 CPUs).
* ``startup``: in a fresh process, ``ray.init`` alone and ``ray.init`` -> first batch
  sampled by 2 remote runners (CartPole, 4 sub-envs each), what a user waits; both sides
  call ``ray.init`` with the arguments of tripod's own (``start_local_ray``).
* ``costs`` (tripod only, for docs/scaling.md's model): a remote runner's cost per env
  step (CartPole, K = 1, 4, 16 sub-envs, timed inside the runner); one weight broadcast
  (``sync_weights`` of the 64x64 PPO module's inference-only weights, the policy network:
  ``ray.put`` + N ``set_state`` calls; timed with a no-op call to every runner after it,
  whose own round trip is subtracted) with N = 1, 2 runners; the per-batch overhead of
  ``sample()`` (returning and merging the runners' batches): ``sample()``'s wall time
  minus the slowest runner's own sampling time, for one vector step per runner and for
  2048 steps.

Every measurement runs in a fresh process per seed (``--side``), the libraries
alternating; tables give medians over ``--seeds``. The RLlib side runs in a separate
interpreter with ``torch==2.13.0`` and ``ray[rllib]==2.60.0`` (``--rllib-python``,
default ``/tmp/rllibvenv/bin/python``; without it the tables hold tripod only)::

    python3 -m venv /tmp/rllibvenv && /tmp/rllibvenv/bin/pip install torch==2.13.0 \\
        && /tmp/rllibvenv/bin/pip install "ray[rllib]==2.60.0"
    .venv/bin/python benchmarks/scaling.py [--seeds 3] [--quick] [--only sampling|ppo|startup|costs]

Run it on a quiet machine: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

T0 = time.perf_counter()  # process start, for the startup part's import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

PARTS = ("sampling", "ppo", "startup", "costs")
SLOW = "slow_cartpole"
#: (env, sub-envs per runner, env steps per timed sample() call: full, --quick)
SAMPLING_CASES = (("CartPole-v1", 4, 4000, 800), (SLOW, 2, 1000, 200))
RUNNER_COUNTS = (0, 1, 2)
#: The sampling part's network, both libraries: 64x64 tanh, value function on its own layers.
MODEL_64 = {"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh", "vf_share_layers": False}
#: RLlib's tuned PPO CartPole example (see the module docstring).
RLLIB_TUNED_TRAINING = {"lr": 0.0003, "num_epochs": 6, "vf_loss_coeff": 0.01}
RLLIB_TUNED_MODEL = {"fcnet_hiddens": [32], "fcnet_activation": "linear", "vf_share_layers": True}
RLLIB_TUNED_ENVS_PER_RUNNER = 16


# ------------------------------------------------------------------------------ the slow env
def _busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def make_slow_cartpole(config=None):
    """CartPole-v1 whose ``step`` busy-waits 1 ms (a CPU-bound env; sleeping would free the core).

    Built by a function so that the gymnasium class is only imported where the env is made;
    defined in ``__main__``, so Ray sends it to the runners by value.
    """
    import gymnasium as gym

    class SlowCartPole(gym.Wrapper):
        def step(self, action):
            _busy_wait(0.001)
            return self.env.step(action)

    return SlowCartPole(gym.make("CartPole-v1"))


def _median(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else float("nan")


# ------------------------------------------------------------------------------ tripod side
def _tripod_env(env: str):
    if env == SLOW:
        from tripod.env import register_env

        register_env(SLOW, make_slow_cartpole)
    return env


def tripod_sampling_algo(env: str, runners: int, k: int, batch: int, seed: int):
    from tripod.algorithms.ppo import PPOConfig

    config = (
        PPOConfig()
        .environment(_tripod_env(env))
        .env_runners(
            num_env_runners=runners,
            num_envs_per_env_runner=k,
            num_cpus_per_env_runner=0.5,
            vectorize_mode="sync",
        )
        .training(train_batch_size_per_learner=batch, minibatch_size=min(128, batch))
        .rl_module(model_config=dict(MODEL_64))
        .debugging(seed=seed)
    )
    return config.build_algo()


def tripod_sample(algo, steps: int) -> tuple[float, int]:
    """(seconds, env steps) of one ``sample(num_timesteps=steps)`` of the algorithm's group."""
    group = algo.env_runner_group
    t0 = time.perf_counter()
    group.sample(num_timesteps=steps)
    seconds = time.perf_counter() - t0
    return seconds, int(group.get_metrics()["num_env_steps_sampled"])


def _timed_sample(runner, num_timesteps: int) -> tuple[float, int]:
    """Inside a runner: (seconds, env steps) of its own ``sample_batches``."""
    t0 = time.perf_counter()
    runner.sample_batches(num_timesteps=num_timesteps)
    seconds = time.perf_counter() - t0
    return seconds, int(runner.get_metrics()["num_env_steps_sampled"])


def _noop(runner) -> None:
    return None


def _ray_init_kwargs() -> dict:
    """The arguments of the ``ray.init`` tripod makes itself (``tripod.distributed.cluster.start_local_ray``),
    used on both sides, plus ``address="local"``: always a fresh local Ray, even when a cluster started
    with ``ray start`` runs on this machine (a plain ``ray.init()`` would join it, and refuse ``num_cpus``).
    """
    import logging

    return {
        "address": "local",
        "num_cpus": os.cpu_count(),
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }


def tripod_sampling(seed: int, quick: bool, reps: int) -> dict:
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(**_ray_init_kwargs())
    out = {}
    for env, k, steps, quick_steps in SAMPLING_CASES:
        steps = quick_steps if quick else steps
        for runners in RUNNER_COUNTS:
            algo = tripod_sampling_algo(env, runners, k, steps, seed)
            try:
                tripod_sample(algo, steps)  # warm-up: first reset, first forward
                rates = [s / t for t, s in (tripod_sample(algo, steps) for _ in range(reps))]
            finally:
                algo.stop()
            out[f"{env}|{k}|{runners}"] = statistics.median(rates)
    ray.shutdown()
    return out


def tripod_ppo(seed: int, stop_return: float, max_steps: int) -> dict:
    import ray

    import tripod.distributed  # noqa: F401  (imports are not timed, on either side)
    from tripod.algorithms.ppo import PPOConfig
    from tripod.algorithms.presets import get_preset

    t_config = time.perf_counter()
    ray.init(**_ray_init_kwargs())  # what the algorithm would start itself (tripod's own ray.init arguments)
    preset = dict(get_preset("ppo", "CartPole-v1"))
    preset["num_envs_per_env_runner"] //= 2  # the preset's 16 sub-envs over 2 runners
    config = PPOConfig().environment("CartPole-v1").debugging(seed=seed)
    config.update_from_dict(preset)
    config.env_runners(num_env_runners=2, num_cpus_per_env_runner=0.5)
    algo = config.build_algo()
    t_built = time.perf_counter()
    ret, iterations = float("nan"), 0
    while algo.num_env_steps_sampled_lifetime < max_steps:
        ret = algo.train()["env_runners"]["episode_return_mean"]
        iterations += 1
        if ret >= stop_return:
            break
    t_end = time.perf_counter()
    steps = algo.num_env_steps_sampled_lifetime
    algo.stop()
    ray.shutdown()
    return _race_result(t_config, t_built, t_end, steps, iterations, ret, stop_return)


def _race_result(
    t_config: float, t_built: float, t_end: float, steps: int, iterations: int, ret: float, stop_return: float
) -> dict:
    """One PPO race's figures, the same for both libraries."""
    return {
        "to_target_s": t_end - t_config,
        "build_s": t_built - t_config,
        "env_steps": steps,
        "iterations": iterations,
        "return": ret,
        "reached": bool(ret >= stop_return),
    }


def tripod_startup(seed: int) -> dict:
    import ray

    from tripod.algorithms.ppo import PPOConfig

    t_imported = time.perf_counter()
    ray.init(**_ray_init_kwargs())
    t_ray = time.perf_counter()
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=2, num_envs_per_env_runner=4, num_cpus_per_env_runner=0.5)
        .rl_module(model_config=dict(MODEL_64))
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    t_built = time.perf_counter()
    algo.env_runner_group.sample(num_timesteps=256)
    t_batch = time.perf_counter()
    algo.stop()
    ray.shutdown()
    return {
        "imports_s": t_imported - T0,
        "ray_init_s": t_ray - t_imported,
        "to_runners_up_s": t_built - t_imported,
        "to_first_batch_s": t_batch - t_imported,
    }


def _nbytes(obj) -> int:
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_nbytes(v) for v in obj)
    if hasattr(obj, "element_size"):  # a torch tensor
        return obj.numel() * obj.element_size()
    return int(getattr(obj, "nbytes", 0))


def tripod_costs(seed: int, quick: bool, reps: int) -> dict:
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(**_ray_init_kwargs())
    out: dict = {"per_step_us": {}, "broadcast": {}, "overhead": {}}
    steps = 800 if quick else 8000
    for k in (1, 4, 16):  # a runner's own cost per env step, timed inside the runner
        algo = tripod_sampling_algo("CartPole-v1", 1, k, steps, seed)
        try:
            group, fn = algo.env_runner_group, functools.partial(_timed_sample, num_timesteps=steps)
            group.foreach_env_runner(fn)
            per_step = [t / s * 1e6 for t, s in (group.foreach_env_runner(fn)[0] for _ in range(reps))]
        finally:
            algo.stop()
        out["per_step_us"][k] = statistics.median(per_step)
    k = 4
    for n in (1, 2):
        algo = tripod_sampling_algo("CartPole-v1", n, k, 2048, seed)
        try:
            group = algo.env_runner_group
            state = {"rl_module": algo.learner_group.get_weights()}
            group.foreach_env_runner(_noop)
            noop = _median([_time(lambda g=group: g.foreach_env_runner(_noop)) for _ in range(reps * 5)])
            put = _median([_time(lambda s=state: ray.put(s)) for _ in range(reps * 5)])

            def broadcast(g=group, s=state):
                g.sync_weights(s)
                g.foreach_env_runner(_noop)  # actor calls run in order: returns once set_state has run

            broadcast()
            sync = _median([_time(broadcast) for _ in range(reps * 5)]) - noop
            out["broadcast"][n] = {"bytes": _nbytes(state), "put_ms": put * 1e3, "sync_ms": sync * 1e3,
                                   "noop_ms": noop * 1e3}  # fmt: skip
            for total in (n * k, 2048):  # one vector step per runner; a PPO-sized batch
                per_runner = math.ceil(total / n)
                fn = functools.partial(_timed_sample, num_timesteps=per_runner)
                tripod_sample(algo, total)
                walls, owns = [], []
                for _ in range(reps * 3):
                    walls.append(tripod_sample(algo, total)[0])
                    owns.append(max(t for t, _ in group.foreach_env_runner(fn)))
                out["overhead"][f"{n}|{total}"] = {
                    "sample_ms": _median(walls) * 1e3,
                    "own_ms": _median(owns) * 1e3,
                    "overhead_ms": (_median(walls) - _median(owns)) * 1e3,
                }
        finally:
            algo.stop()
    ray.shutdown()
    return out


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------ RLlib side
def _rllib_env(env: str):
    if env == SLOW:
        from ray.tune.registry import register_env

        register_env(SLOW, make_slow_cartpole)
    return env


def rllib_sampling_algo(env: str, runners: int, k: int, batch: int, seed: int):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    config = (
        PPOConfig()
        .environment(_rllib_env(env))
        .env_runners(
            num_env_runners=runners,
            num_envs_per_env_runner=k,
            num_cpus_per_env_runner=0.5,
            gym_env_vectorize_mode="sync",
        )
        .training(train_batch_size_per_learner=batch, minibatch_size=min(128, batch))
        .rl_module(model_config=DefaultModelConfig(**MODEL_64))
        .debugging(seed=seed)
    )
    return config.build_algo()


def rllib_sample(algo, steps: int) -> tuple[float, int]:
    """(seconds, env steps) of one round of sampling as RLlib's PPO samples."""
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    t0 = time.perf_counter()
    episodes = synchronous_parallel_sample(
        worker_set=algo.env_runner_group, max_env_steps=steps, _uses_new_env_runners=True
    )
    seconds = time.perf_counter() - t0
    return seconds, sum(e.env_steps() for e in episodes)


def rllib_sampling(seed: int, quick: bool, reps: int) -> dict:
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(**_ray_init_kwargs())
    out = {}
    for env, k, steps, quick_steps in SAMPLING_CASES:
        steps = quick_steps if quick else steps
        for runners in RUNNER_COUNTS:
            algo = rllib_sampling_algo(env, runners, k, steps, seed)
            try:
                rllib_sample(algo, steps)
                rates = [s / t for t, s in (rllib_sample(algo, steps) for _ in range(reps))]
            finally:
                algo.stop()
            out[f"{env}|{k}|{runners}"] = statistics.median(rates)
    ray.shutdown()
    return out


def rllib_ppo(seed: int, stop_return: float, max_steps: int) -> dict:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    t_config = time.perf_counter()
    ray.init(**_ray_init_kwargs())
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(
            num_env_runners=2,
            num_envs_per_env_runner=RLLIB_TUNED_ENVS_PER_RUNNER,
            num_cpus_per_env_runner=0.5,
        )
        .learners(num_learners=0)
        .training(**RLLIB_TUNED_TRAINING)
        .rl_module(model_config=DefaultModelConfig(**RLLIB_TUNED_MODEL))
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    t_built = time.perf_counter()
    ret, iterations, steps = float("nan"), 0, 0
    while steps < max_steps:
        runners = algo.train()["env_runners"]
        ret = float(runners.get("episode_return_mean", float("nan")))
        steps = int(runners.get("num_env_steps_sampled_lifetime", 0))
        iterations += 1
        if ret >= stop_return:
            break
    t_end = time.perf_counter()
    algo.stop()
    ray.shutdown()
    return _race_result(t_config, t_built, t_end, steps, iterations, ret, stop_return)


def rllib_startup(seed: int) -> dict:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    t_imported = time.perf_counter()
    ray.init(**_ray_init_kwargs())
    t_ray = time.perf_counter()
    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=2, num_envs_per_env_runner=4, num_cpus_per_env_runner=0.5)
        .training(train_batch_size_per_learner=256)
        .rl_module(model_config=DefaultModelConfig(**MODEL_64))
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    t_built = time.perf_counter()
    synchronous_parallel_sample(
        worker_set=algo.env_runner_group, max_env_steps=256, _uses_new_env_runners=True
    )
    t_batch = time.perf_counter()
    algo.stop()
    ray.shutdown()
    return {
        "imports_s": t_imported - T0,
        "ray_init_s": t_ray - t_imported,
        "to_runners_up_s": t_built - t_imported,
        "to_first_batch_s": t_batch - t_imported,
    }


# ------------------------------------------------------------------------------ one side, in its own process
def run_side(args: argparse.Namespace) -> None:
    """Measure one part for one library and print its result as the last line (JSON)."""
    budgets = _budgets(args.quick)
    side = {
        "tripod": (tripod_sampling, tripod_ppo, tripod_startup),
        "rllib": (rllib_sampling, rllib_ppo, rllib_startup),
    }
    sampling, ppo, startup = side[args.side]
    if args.part == "sampling":
        result = sampling(args.seed, args.quick, budgets["reps"])
    elif args.part == "ppo":
        result = ppo(args.seed, budgets["stop_return"], budgets["max_steps"])
    elif args.part == "startup":
        result = startup(args.seed)
    else:
        result = tripod_costs(args.seed, args.quick, budgets["reps"])
    print(json.dumps(result), flush=True)


def _budgets(quick: bool) -> dict:
    if quick:
        return {"reps": 2, "stop_return": 100.0, "max_steps": 30_000, "timeout": 600}
    return {"reps": 5, "stop_return": 475.0, "max_steps": 1_000_000, "timeout": 1800}


# ------------------------------------------------------------------------------ the driver
class Sides:
    """Runs ``--side`` processes of this script: tripod with this interpreter, RLlib with ``--rllib-python``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick = args.quick
        self.timeout = _budgets(args.quick)["timeout"]
        self.rllib_python = (
            args.rllib_python if args.rllib_python and Path(args.rllib_python).exists() else None
        )
        if self.rllib_python is None:
            print(
                f"(no RLlib interpreter at {args.rllib_python!r}: tripod only; see the docstring to make one)"
            )

    def run(self, side: str, part: str, seed: int) -> tuple[dict | None, float]:
        """(the side's JSON result or None if it failed, whole-process wall seconds)."""
        from _race import _run  # the race benchmarks' process runner: timed, stderr shown on failure

        python = sys.executable if side == "tripod" else self.rllib_python
        if python is None:
            return None, float("nan")
        cmd = [python, str(Path(__file__).resolve()), "--side", side, "--part", part, "--seed", str(seed)]
        if self.quick:
            cmd.append("--quick")
        try:
            wall, stdout, rc = _run(cmd, self.timeout)
        except Exception as err:  # subprocess.TimeoutExpired
            sys.stderr.write(f"{side} {part} seed {seed}: {err}\n")
            return None, float("nan")
        if rc != 0:
            return None, wall
        return json.loads(stdout.strip().splitlines()[-1]), wall

    def both(self, part: str, seed: int) -> dict[str, tuple[dict | None, float]]:
        return {side: self.run(side, part, seed) for side in ("tripod", "rllib")}


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"


def _fmt(x: float, spec: str) -> str:
    return "-" if x is None or math.isnan(x) else format(x, spec)


def part_sampling(sides: Sides, seeds: list[int]) -> None:
    runs: dict[str, list[dict]] = {"tripod": [], "rllib": []}
    for seed in seeds:
        for side, (result, wall) in sides.both("sampling", seed).items():
            print(
                f"  sampling {side:6s} seed {seed}: {'ok' if result else 'FAILED'} ({wall:.0f} s)", flush=True
            )
            if result:
                runs[side].append(result)
    med = {
        side: {key: _median([r[key] for r in rs]) for key in rs[0]} if rs else {} for side, rs in runs.items()
    }
    nan = float("nan")
    print(
        f"\n### Sampling only: env steps/s, higher is better (median of {len(seeds)} seeds x timed calls)\n"
    )
    print("| env | sub-envs per runner | remote runners | tripod | RLlib | tripod/RLlib |")
    print("|---|---:|---:|---:|---:|---:|")
    for env, k, *_ in SAMPLING_CASES:
        for n in RUNNER_COUNTS:
            t, r = med["tripod"].get(f"{env}|{k}|{n}", nan), med["rllib"].get(f"{env}|{k}|{n}", nan)
            name = "slow CartPole (1 ms busy step)" if env == SLOW else env
            print(f"| {name} | {k} | {n} | {_fmt(t, ',.0f')} | {_fmt(r, ',.0f')} | {_ratio(t, r)} |")
    k = SAMPLING_CASES[1][1]
    print()
    for side in ("tripod", "rllib"):
        one, two = med[side].get(f"{SLOW}|{k}|1", nan), med[side].get(f"{SLOW}|{k}|2", nan)
        if not math.isnan(one):
            verdict = (
                f" (target >= 1.7: {'OK' if two / one >= 1.7 else 'BELOW TARGET'})"
                if side == "tripod"
                else ""
            )
            print(f"- {side}: slow env, 2 runners / 1 runner = {two / one:.2f}x{verdict}")
    if med["rllib"]:
        keys = [f"{env}|{k}|{n}" for env, k, *_ in SAMPLING_CASES for n in RUNNER_COUNTS]
        above = all(med["tripod"].get(key, nan) > med["rllib"].get(key, nan) for key in keys)
        print(f"- tripod above RLlib at every runner count and env: {'OK' if above else 'NO'}")


def part_ppo(sides: Sides, seeds: list[int]) -> None:
    stop = _budgets(sides.quick)["stop_return"]
    rows: dict[str, list[tuple[dict, float]]] = {"tripod": [], "rllib": []}
    for seed in seeds:
        for side, (result, wall) in sides.both("ppo", seed).items():
            if result is None:
                if side == "tripod" or sides.rllib_python:
                    print(f"  ppo {side:6s} seed {seed}: FAILED", flush=True)
                continue
            rows[side].append((result, wall))
            print(
                f"  ppo {side:6s} seed {seed}: to target {result['to_target_s']:6.1f} s (build "
                f"{result['build_s']:.1f} s), whole process {wall:6.1f} s, {result['env_steps']} env steps, "
                f"{result['iterations']} iterations, return {result['return']:.1f} "
                f"{'reached' if result['reached'] else 'NOT REACHED'}",
                flush=True,
            )
    print(
        f"\n### PPO CartPole-v1 to a training return of {stop:g}, 2 remote runners (median of {len(seeds)} seeds; "
        "times: lower is better)\n"
    )
    print("| | tripod | RLlib | tripod/RLlib |")
    print("|---|---:|---:|---:|")
    med = {}
    for side, rs in rows.items():
        ok = [(r, w) for r, w in rs if r["reached"]]
        med[side] = {
            "to_target_s": _median([r["to_target_s"] for r, _ in ok]),
            "wall_s": _median([w for _, w in ok]),
            "build_s": _median([r["build_s"] for r, _ in rs]),
            "env_steps": _median([r["env_steps"] for r, _ in ok]),
            "reached": f"{len(ok)}/{len(rs)}",
        }
    for key, label, spec in (
        ("to_target_s", "config build -> target (s)", ".1f"),
        ("build_s", "of which build, Ray start included (s)", ".1f"),
        ("wall_s", "whole process (s)", ".1f"),
        ("env_steps", "env steps to target", ",.0f"),
    ):
        t, r = med["tripod"][key], med["rllib"][key]
        print(f"| {label} | {_fmt(t, spec)} | {_fmt(r, spec)} | {_ratio(t, r)} |")
    print(f"| runs that reached the target | {med['tripod']['reached']} | {med['rllib']['reached']} | |")


def part_startup(sides: Sides, seeds: list[int]) -> None:
    runs: dict[str, list[dict]] = {"tripod": [], "rllib": []}
    for seed in seeds:
        for side, (result, _wall) in sides.both("startup", seed).items():
            if result:
                runs[side].append(result)
            elif side == "tripod" or sides.rllib_python:
                print(f"  startup {side:6s} seed {seed}: FAILED", flush=True)
    print(f"\n### Start-up of a local Ray, 2 remote runners (median of {len(seeds)} fresh processes)\n")
    print("| seconds | tripod | RLlib | tripod/RLlib |")
    print("|---|---:|---:|---:|")
    for key, label in (
        ("imports_s", "process start -> library imported"),
        ("ray_init_s", "`ray.init` alone"),
        ("to_runners_up_s", "`ray.init` -> algorithm built (runners up)"),
        ("to_first_batch_s", "`ray.init` -> first sampled batch"),
    ):
        t, r = (_median([x[key] for x in runs[side]]) for side in ("tripod", "rllib"))
        print(f"| {label} | {_fmt(t, '.2f')} | {_fmt(r, '.2f')} | {_ratio(t, r)} |")


def part_costs(sides: Sides, seeds: list[int]) -> None:
    results = [r for r in (sides.run("tripod", "costs", seed)[0] for seed in seeds) if r]
    if not results:
        print("costs: FAILED")
        return

    def med(*path):
        values = []
        for r in results:
            for key in path:
                r = r[key]
            values.append(r)
        return _median(values)

    print(f"\n### tripod costs for the scaling model (median of {len(results)} processes)\n")
    print("| quantity | value |")
    print("|---|---:|")
    for k in results[0]["per_step_us"]:
        print(f"| runner cost per env step, CartPole, {k} sub-envs (µs) | {med('per_step_us', k):.1f} |")
    for n in results[0]["broadcast"]:
        b = results[0]["broadcast"][n]["bytes"]
        print(f"| weight broadcast to {n} runner(s), {b / 1024:.0f} KiB: `sync_weights` until applied (ms) "
              f"| {med('broadcast', n, 'sync_ms'):.2f} |")  # fmt: skip
        print(f"| &nbsp;&nbsp;of which `ray.put` (ms) | {med('broadcast', n, 'put_ms'):.2f} |")
        print(
            f"| &nbsp;&nbsp;round trip of a no-op call to {n} runner(s) (ms) | {med('broadcast', n, 'noop_ms'):.2f} |"
        )
    for key in results[0]["overhead"]:
        n, total = key.split("|")
        print(
            f"| per-batch overhead, {n} runner(s), {total} steps: sample() "
            f"{med('overhead', key, 'sample_ms'):.2f} ms - runner's own {med('overhead', key, 'own_ms'):.2f} ms "
            f"(ms) | {med('overhead', key, 'overhead_ms'):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=int, default=3, help="fresh processes per measurement (medians reported)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny budgets, one seed: a smoke run")
    parser.add_argument("--only", choices=PARTS, help="run one part")
    parser.add_argument("--rllib-python", default="/tmp/rllibvenv/bin/python")
    parser.add_argument("--side", choices=["tripod", "rllib"], help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_side(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    seeds = [0] if args.quick else list(range(args.seeds))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    if args.quick:
        print("--quick: tiny budgets, one seed; the figures are a smoke test, not a result")
    os.environ.pop("RAY_ADDRESS", None)  # it would override address="local": each side starts its own Ray
    sides = Sides(args)
    t0 = time.perf_counter()
    for part, fn in (
        ("sampling", part_sampling),
        ("ppo", part_ppo),
        ("startup", part_startup),
        ("costs", part_costs),
    ):
        if args.only in (None, part):
            print(f"\n## {part}", flush=True)
            fn(sides, seeds)
    print(
        f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; took {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
