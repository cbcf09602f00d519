"""Helpers of :mod:`tripod.algorithms.algorithm_config`'s checks: "did you mean" suggestions, finite numbers, devices."""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["SEED_MAX", "check_device", "check_device_available", "non_finite", "suggest"]

#: The largest seed: numpy, torch (``manual_seed`` takes up to 2**64 - 1) and gymnasium accept it,
#: with room for the per-runner offsets tripod adds.
SEED_MAX = 2**63 - 1

#: Names from RLlib, Stable-Baselines3 and plain English -> tripod's setting.
ALIASES = {
    "learning_rate": "lr",
    "lr_rate": "lr",
    "batch_size": "train_batch_size_per_learner",
    "train_batch_size": "train_batch_size_per_learner",
    "sgd_minibatch_size": "minibatch_size",
    "mini_batch_size": "minibatch_size",
    "num_sgd_iter": "num_epochs",
    "n_epochs": "num_epochs",
    "epochs": "num_epochs",
    "num_envs": "num_envs_per_env_runner",
    "num_envs_per_worker": "num_envs_per_env_runner",
    "n_envs": "num_envs_per_env_runner",
    "num_workers": "num_env_runners",
    "num_rollout_workers": "num_env_runners",
    "n_steps": "rollout_fragment_length",
    "lambda": "lambda_",
    "gae_lambda": "lambda_",
    "ent_coef": "entropy_coeff",
    "vf_coef": "vf_loss_coeff",
    "clip_range": "clip_param",
    "max_grad_norm": "grad_clip",
    "buffer_size": "replay_buffer_capacity",
    "learning_starts": "num_steps_sampled_before_learning_starts",
    "target_update_interval": "target_network_update_freq",
    "num_gpus": "device",
    "num_gpus_per_learner": "device",
    "evaluation_num_episodes": "evaluation_duration",
    "metrics_window": "metrics_num_episodes_for_smoothing",
    "model": "model_config",
}


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be, or None.

    Tries, in order: a known alias (``learning_rate`` -> ``lr``), ``learning_rate``
    written as ``lr`` inside a longer name (``actor_learning_rate`` -> ``actor_lr``), a
    close spelling (difflib), then a candidate equal to one ``_``-separated part of the
    name (``lr_rate`` -> ``lr``).
    """
    names = sorted(set(candidates))
    alias = ALIASES.get(name)
    if alias in names:
        return alias
    shortened = name.replace("learning_rate", "lr")
    if shortened in names:
        return shortened
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    parts = name.split("_")
    for candidate in names:
        if candidate in parts:
            return candidate
    return None


def non_finite(value: Any) -> bool:
    """Whether ``value`` is NaN/inf, or a list/tuple (e.g. a schedule) holding one."""
    if isinstance(value, list | tuple):
        return any(non_finite(v) for v in value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value)


_DEVICE = re.compile(r"^(cpu|cuda|mps)(:(\d+))?$")


def check_device(value: Any) -> str | None:
    """The error text for a malformed device string, or None when it is well-formed."""
    if isinstance(value, str) and _DEVICE.match(value):
        return None
    guess = None
    if isinstance(value, str):
        lowered = value.lower().strip()
        guess = (
            "cuda"
            if lowered.startswith(("gpu", "nvidia"))
            else suggest(lowered.split(":")[0], ["cpu", "cuda"])
        )
    hint = f" Did you mean '{guess}'?" if guess else ""
    return (
        f"device {value!r} is not a torch device: expected 'cpu', 'cuda' or 'cuda:<index>' (e.g. 'cuda:0'), "
        f"or 'mps'.{hint}"
    )


def check_device_available(device: str) -> str | None:
    """The error text when the well-formed ``device`` does not exist on this machine, else None."""
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            return (
                f"device={device!r} but this torch ({torch.__version__}) has no CUDA device to use "
                "(a CPU-only build, or no GPU visible: check CUDA_VISIBLE_DEVICES and nvidia-smi). "
                "Use device='cpu', or install a CUDA build of torch on a machine with a GPU."
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            return (
                f"device={device!r} but this machine has {count} CUDA device{'s' if count > 1 else ''} "
                + (f"(cuda:0 ... cuda:{count - 1})" if count > 1 else "(cuda:0)")
                + ". Use device='cuda' or "
                + (f"'cuda:0' ... 'cuda:{count - 1}'." if count > 1 else "'cuda:0'.")
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        return f"device={device!r} but Apple's MPS backend is not available here. Use device='cpu'."
    return None
