"""Overhead of ``TorchRLModule.forward_inference`` over calling the network directly.

A custom two-layer module (obs 4 -> 64 -> 64 -> 2 logits) is timed two ways under
``torch.no_grad()`` with ``torch.set_num_threads(1)``:

- ``module``: ``module.forward_inference({"obs": obs})`` (mode check, default
  ``_forward_inference`` -> ``_forward``, output dict);
- ``direct``: ``net(obs)`` and ``argmax(-1)`` (or just ``net(obs)`` for the
  ``action_dist_inputs`` variant), the least any module could do.

Two module variants: ``actions`` (``_forward`` returns ``{"actions": logits.argmax(-1)}``)
and ``dist_inputs`` (``_forward`` returns ``{"action_dist_inputs": logits}``). Each case
runs after a warm-up; the two paths are timed in alternating blocks of many calls and
the figure is the best block, in µs per call (median in brackets). Two ratios: best
module block / best direct block, and the median over adjacent (module, direct) block
pairs, which is robust when other processes share the CPU. The target is a ratio of at
most 1.2 (the verdict uses the lower of the two estimates).

It also times :class:`OutputValidator`: the full check the first time a (method, batch
size) is seen, and the set lookup that every later call of a seen size costs.

Run: ``python benchmarks/module_overhead.py [--calls 300] [--repeats 200]``. Short blocks,
many of them: on a shared machine the best block is the uncontended time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch
from torch import nn

from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.validation import OutputValidator

OBS_DIM, HIDDEN, N_ACTIONS = 4, 64, 2


class ActionsModule(TorchRLModule):
    """Returns greedy actions."""

    def setup(self) -> None:
        self.net = nn.Sequential(
            nn.Linear(OBS_DIM, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, N_ACTIONS),
        )

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: self.net(batch[Columns.OBS]).argmax(-1)}


class DistInputsModule(ActionsModule):
    """Returns logits for the runner to sample from."""

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def _block(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def _time_pair(direct, via_module, calls: int, repeats: int) -> tuple[list[float], list[float]]:
    """µs per call of both paths, measured in alternating blocks so machine drift hits both."""
    for _ in range(max(calls // 10, 200)):  # warm-up
        direct()
        via_module()
    d_runs, m_runs = [], []
    for _ in range(repeats):
        d_runs.append(_block(direct, calls))
        m_runs.append(_block(via_module, calls))
    return d_runs, m_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per timed block")
    parser.add_argument("--repeats", type=int, default=200, help="timed blocks per path")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-1.0, 1.0, (OBS_DIM,))
    act_space = gym.spaces.Discrete(N_ACTIONS)

    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, calls={args.calls}, "
        f"repeats={args.repeats}; µs per call, best of repeats (median in brackets)"
    )
    header = f"{'variant':<12} {'batch':>5} {'direct µs':>16} {'module µs':>16} {'ratio best':>10} {'ratio paired':>12}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, cls in (("actions", ActionsModule), ("dist_inputs", DistInputsModule)):
        module = RLModuleSpec(module_class=cls, observation_space=obs_space, action_space=act_space).build()
        net = module.net
        for bs in args.batch_sizes:
            obs = torch.randn(bs, OBS_DIM)
            batch = {Columns.OBS: obs}
            if name == "actions":

                def direct(obs=obs, net=net):
                    return net(obs).argmax(-1)
            else:

                def direct(obs=obs, net=net):
                    return net(obs)

            def via_module(batch=batch, module=module):
                return module.forward_inference(batch)

            with torch.no_grad():
                # Same outputs both ways, so the comparison is fair.
                expected = direct()
                got = via_module()[Columns.ACTIONS if name == "actions" else Columns.ACTION_DIST_INPUTS]
                assert torch.equal(expected, got)
                d_runs, m_runs = _time_pair(direct, via_module, args.calls, args.repeats)
            d_best, d_med = min(d_runs), statistics.median(d_runs)
            m_best, m_med = min(m_runs), statistics.median(m_runs)
            ratio = m_best / d_best
            paired = statistics.median(m / d for m, d in zip(m_runs, d_runs))
            worst = max(worst, min(ratio, paired))
            print(
                f"{name:<12} {bs:>5} {d_best:>7.2f} ({d_med:>6.2f}) {m_best:>7.2f} ({m_med:>6.2f}) "
                f"{ratio:>10.3f} {paired:>12.3f}"
            )
    print(f"worst ratio {worst:.3f} (target <= 1.2): {'OK' if worst <= 1.2 else 'ABOVE TARGET'}")
    _validator_overhead(obs_space, act_space, args)


def _validator_overhead(obs_space, act_space, args) -> None:
    """What OutputValidator costs: a full check on a new batch size, then a set lookup."""
    module = RLModuleSpec(
        module_class=DistInputsModule, observation_space=obs_space, action_space=act_space
    ).build()
    print()
    print(f"{'OutputValidator.check':<28} {'batch':>5} {'first call µs':>14} {'seen size µs':>13}")
    for bs in args.batch_sizes:
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.randn(bs, OBS_DIM)})
        firsts = []
        for _ in range(args.repeats):
            validator = OutputValidator(module)
            start = time.perf_counter()
            validator.check("forward_inference", out, bs)
            firsts.append((time.perf_counter() - start) * 1e6)
        validator = OutputValidator(module)
        validator.check("forward_inference", out, bs)
        seen = min(
            _block(lambda v=validator, o=out, b=bs: v.check("forward_inference", o, b), args.calls)
            for _ in range(args.repeats)
        )
        print(f"{'':<28} {bs:>5} {min(firsts):>14.1f} {seen:>13.2f}")


if __name__ == "__main__":
    main()
