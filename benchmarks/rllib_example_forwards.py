"""The three forwards of RLlib 2.60's own example RLModules: tripod vs RLlib, µs per call.

The same seven files (``ray/rllib/examples/rl_modules/classes/``) are measured twice:
on tripod, read from the installed ray wheel with ``ray.rllib`` rewritten to ``tripod``
in memory (as tests/integration/test_rllib_examples.py does), and on RLlib itself,
imported as they are. The RLlib side runs in a separate interpreter that has
``ray[rllib]==2.60.0`` (default ``/tmp/rayvenv/bin/python``; ``--rllib-python`` to
change it, ``--rllib-python ''`` to measure tripod only).

    .venv/bin/python benchmarks/rllib_example_forwards.py [--reps 7] [--calls 200]

Each figure is the median over ``--reps`` repetitions of the mean µs of ``--calls``
calls, one torch thread, batch sizes 1 and 32. Every call gets a fresh input dict
(the action-masking module pops from its input); building it is timed on both sides.
``forward_train`` is called with gradients on; the other two as a user calls them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

CLASSES = ("rllib", "examples", "rl_modules", "classes")
BATCH_SIZES = (1, 32)
PHASES = ("forward_inference", "forward_exploration", "forward_train")


# ------------------------------------------------------------------------------ loading
def load(file_stem: str, side: str) -> types.ModuleType:
    """One example file: imported from RLlib, or read and rewritten for tripod."""
    if side == "rllib":
        return importlib.import_module("ray." + ".".join(CLASSES) + "." + file_stem)
    spec = importlib.util.find_spec("ray")  # locates the wheel without importing ray
    path = Path(next(iter(spec.submodule_search_locations)), *CLASSES, file_stem + ".py")
    name = "rllib_example_on_tripod_" + file_stem
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    source = path.read_text(encoding="utf-8").replace("ray.rllib", "tripod")
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def columns(side: str):
    return importlib.import_module(
        "ray.rllib.core.columns" if side == "rllib" else "tripod.core.columns"
    ).Columns


def spec_classes(side: str):
    prefix = "ray.rllib" if side == "rllib" else "tripod"
    rl = importlib.import_module(prefix + ".core.rl_module.rl_module")
    multi = importlib.import_module(prefix + ".core.rl_module.multi_rl_module")
    return rl.RLModuleSpec, multi.MultiRLModuleSpec


# ------------------------------------------------------------------------------ the cases
def build_cases(side: str) -> dict:
    """``{name: (module, make_batch(phase, B), phases)}``, built as RLlib's example scripts build them."""
    import gymnasium as gym
    import torch

    C = columns(side)
    RLModuleSpec, MultiRLModuleSpec = spec_classes(side)
    box4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    cases = {}

    def flat(dim):
        return lambda phase, b: {C.OBS: torch.rand(b, dim)}

    vpg = load("vpg_torch_rlm", side)
    module = RLModuleSpec(
        module_class=vpg.VPGTorchRLModule,
        observation_space=box4,
        action_space=gym.spaces.Discrete(2),
        model_config={"hidden_dim": 64},
    ).build()
    cases["vpg_torch"] = (module, flat(4), PHASES)

    cad = load("custom_action_distribution_rlm", side)
    module = cad.CustomActionDistributionRLModule(
        observation_space=box4,
        action_space=gym.spaces.Discrete(4),
        model_config={"action_dist_temperature": 5.0},
    )
    cases["custom_action_distribution"] = (module, flat(4), PHASES)

    lstm = load("lstm_containing_rlm", side)
    module = lstm.LSTMContainingRLModule(
        observation_space=gym.spaces.Box(-1.0, 1.0, (25,), np.float32),
        action_space=gym.spaces.Discrete(4),
        model_config={"lstm_cell_size": 32},
    )
    init = {k: torch.from_numpy(v) for k, v in module.get_initial_state().items()}

    def lstm_batch(phase, b, init=init):
        return {C.OBS: torch.rand(b, 1, 25), C.STATE_IN: {k: v.expand(b, -1) for k, v in init.items()}}

    cases["lstm_containing (T=1)"] = (module, lstm_batch, PHASES)

    atari = load("tiny_atari_cnn_rlm", side)
    module = atari.TinyAtariCNN(
        observation_space=gym.spaces.Box(-1.0, 1.0, (42, 42, 4), np.float32),
        action_space=gym.spaces.Discrete(4),
        model_config={},  # RLlib leaves it None when not given,
    )
    cases["tiny_atari_cnn (42x42x4)"] = (module, lambda phase, b: {C.OBS: torch.rand(b, 42, 42, 4)}, PHASES)

    masking = load("action_masking_rlm", side)
    obs_space = gym.spaces.Dict(
        {
            "action_mask": gym.spaces.Box(0.0, 1.0, (6,), np.float32),
            "observations": gym.spaces.Box(-1, 1, (5,)),
        }
    )
    module = RLModuleSpec(
        module_class=masking.ActionMaskingTorchRLModule,
        observation_space=obs_space,
        action_space=gym.spaces.Discrete(6),
        model_config=masking_model_config(side),
    ).build()

    def masking_batch(phase, b):
        obs, mask = torch.rand(b, 5), torch.ones(b, 6)
        if phase == "forward_train":  # as the learner passes it: mask moved beside the observations
            return {C.OBS: obs, "action_mask": mask}
        return {C.OBS: {"action_mask": mask, "observations": obs}}

    cases["action_masking"] = (module, masking_batch, PHASES)

    rps = load("rock_paper_scissors_heuristic_rlm", side)
    module = rps.BeatLastHeuristicRLM(
        observation_space=gym.spaces.Discrete(4), action_space=gym.spaces.Discrete(3)
    )
    cases["rps BeatLastHeuristicRLM"] = (module, lambda phase, b: {C.OBS: np.arange(b) % 4}, PHASES[:2])

    shared = load("vpg_using_shared_encoder_rlm", side)
    act = gym.spaces.Discrete(2)

    def policy(hidden):
        return RLModuleSpec(
            module_class=shared.VPGPolicyAfterSharedEncoder,
            observation_space=box4,
            action_space=act,
            model_config={"embedding_dim": 64, "hidden_dim": hidden},
        )

    module = MultiRLModuleSpec(
        multi_rl_module_class=shared.VPGMultiRLModuleWithSharedEncoder,
        rl_module_specs={
            shared.SHARED_ENCODER_ID: RLModuleSpec(
                module_class=shared.SharedEncoder,
                observation_space=box4,
                action_space=act,
                model_config={"embedding_dim": 64},
            ),
            "p0": policy(1024),
            "p1": policy(64),
        },
    ).build()
    cases["shared_encoder multi (2 policies)"] = (
        module,
        lambda phase, b: {"p0": {C.OBS: torch.rand(b, 4)}, "p1": {C.OBS: torch.rand(b, 4)}},
        PHASES,
    )
    return cases


def masking_model_config(side: str) -> dict:
    """action_masking_rl_module.py's model_config (RLlib's algorithm config fills in the defaults)."""
    import dataclasses

    prefix = "ray.rllib" if side == "rllib" else "tripod"
    default = importlib.import_module(prefix + ".core.rl_module.default_model_config").DefaultModelConfig
    return {**dataclasses.asdict(default()), "head_fcnet_hiddens": [64, 64], "head_fcnet_activation": "relu"}


# ------------------------------------------------------------------------------ timing
def measure(side: str, reps: int, calls: int, only: str = "") -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    for name, (module, make_batch, phases) in build_cases(side).items():
        if only not in name:
            continue
        for phase in phases:
            fn = getattr(module, phase)
            for b in BATCH_SIZES:
                for _ in range(20):  # warm-up (fresh dicts: the module may edit its input)
                    fn(make_batch(phase, b))
                samples = []
                for _ in range(reps):
                    batches = [make_batch(phase, b) for _ in range(calls)]
                    t0 = time.perf_counter()
                    for x in batches:
                        fn(x)
                    samples.append((time.perf_counter() - t0) / calls * 1e6)
                out[f"{name}|{phase}|{b}"] = statistics.median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["tripod", "rllib"], help="measure one side and print JSON")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rllib-python", default="/tmp/rayvenv/bin/python")
    parser.add_argument("--only", default="", help="measure only the cases whose name contains this")
    args = parser.parse_args()
    if args.side:
        print(json.dumps(measure(args.side, args.reps, args.calls, args.only)))
        return
    tripod = measure("tripod", args.reps, args.calls, args.only)
    rllib: dict = {}
    if args.rllib_python and Path(args.rllib_python).exists():
        cmd = [
            args.rllib_python,
            __file__,
            "--side",
            "rllib",
            "--reps",
            str(args.reps),
            "--calls",
            str(args.calls),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            rllib = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            sys.stderr.write(f"RLlib side failed; tripod only:\n{proc.stderr[-2000:]}\n")
    else:
        print(f"(no RLlib interpreter at {args.rllib_python!r}: tripod only)")
    print(
        f"{'module':36s} {'forward':20s} {'B':>3s} {'tripod µs':>10s} {'RLlib µs':>10s} {'tripod/RLlib':>13s}"
    )
    for key, t in tripod.items():
        name, phase, b = key.split("|")
        r = rllib.get(key)
        ratio = f"{t / r:13.2f}" if r else f"{'-':>13s}"
        rs = f"{r:10.1f}" if r else f"{'-':>10s}"
        print(f"{name:36s} {phase:20s} {b:>3s} {t:10.1f} {rs} {ratio}")
    if rllib:
        ratios = [tripod[k] / rllib[k] for k in tripod if k in rllib]
        print(
            f"\ngeometric mean tripod/RLlib: {float(np.exp(np.mean(np.log(ratios)))):.2f} over {len(ratios)} rows"
        )


if __name__ == "__main__":
    main()
