"""SAC's default module: a squashed-Gaussian policy and twin Q functions with target copies
(RLlib path: ``ray.rllib.algorithms.sac.default_sac_rl_module``).

:class:`DefaultSACRLModule` builds the networks; the torch forwards are in
:class:`~tripod.algorithms.sac.torch.default_sac_torch_rl_module.DefaultSACTorchRLModule`,
the class to use or subclass.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tripod.algorithms.off_policy_networks import (
    OFF_POLICY_MODEL_DEFAULTS,
    check_action_space,
    is_flat_float_box,
)
from tripod.algorithms.sac.ensemble_mlp import EnsembleMLP
from tripod.core.distribution.action_dist import get_action_dist_cls
from tripod.core.networks import MLP, ObsFlattener, is_image_space, resolve_model_config
from tripod.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from tripod.core.rl_module.rl_module import RLModule

__all__ = ["DefaultSACRLModule"]

#: The key of the (first) critic's Q values in ``compute_q_values`` / ``forward_target`` outputs.
QF_PREDS = "qf_preds"
#: The key of the twin critic's Q values.
QF_TWIN_PREDS = "qf_twin_preds"


def check_sac_action_space(space: gym.Space) -> None:
    """Raise a ValueError unless ``space`` is a Box with finite bounds (what SAC's squashing needs)."""
    check_action_space(
        "SAC",
        space,
        gym.spaces.Box,
        "tripod's SAC is for continuous actions (discrete SAC is not implemented); use DQN or PPO for "
        "Discrete/MultiDiscrete actions.",
    )
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(
            f"SAC squashes actions into the Box bounds, but {space!r} has infinite bounds. Give the action "
            "space finite low/high (e.g. with gymnasium.wrappers.RescaleAction)."
        )


class DefaultSACRLModule(RLModule, InferenceOnlyAPI, QNetAPI, TargetNetworkAPI):
    """Policy and Q networks from ``model_config`` (``fcnet_hiddens``, ``fcnet_activation``
    (relu by default); plus ``twin_q``, default True).

    ``setup()`` builds ``self.pi`` (observations -> ``concat(mean, log_std)``, its hidden
    layers included: tripod's SAC has no separate ``pi_encoder``) and, unless
    ``inference_only``, ``self.qf``: the critics (both, with ``twin_q``) as one batched
    network on ``concat(observation, action scaled to [-1, 1])``, where RLlib builds
    ``qf_encoder`` / ``qf`` and ``qf_twin_encoder`` / ``qf_twin``. Non-vector parts of the
    observation are flattened by ``self.flatten`` first. The ``action_dist_cls`` is the
    squashed Gaussian.
    """

    def setup(self) -> None:
        check_sac_action_space(self.action_space)
        config = dict(self.model_config)
        twin_q = bool(config.pop("twin_q", True))
        cfg = resolve_model_config({**OFF_POLICY_MODEL_DEFAULTS, **config})
        if cfg["use_lstm"]:
            raise NotImplementedError(
                "The default SAC module has no recurrent version (model_config use_lstm=True): tripod's SAC "
                "trains stateless modules only. Set use_lstm=False, or train a recurrent module with PPO or PG "
                "(PPOConfig().rl_module(model_config={'use_lstm': True}))."
            )
        if is_image_space(self.observation_space):
            raise NotImplementedError(
                "The default SAC module handles vector (and Dict/Tuple of vector) observations without "
                "an LSTM; write a custom SAC module for images or recurrent policies."
            )
        self.action_dist_cls = get_action_dist_cls(self.action_space, squashed=True)
        # 1-D float32 observations go to the networks as they are; others are flattened first.
        flat = is_flat_float_box(self.observation_space)
        self.flatten = None if flat else ObsFlattener(self.observation_space)
        obs_dim = self.observation_space.shape[0] if flat else self.flatten.out_dim
        self.action_dim = int(np.prod(self.action_space.shape))
        hiddens, act = cfg["fcnet_hiddens"], cfg["fcnet_activation"]
        self.pi = MLP(obs_dim, hiddens, activation=act, out_dim=2 * self.action_dim)
        low = torch.as_tensor(self.action_space.low, dtype=torch.float32).flatten()
        high = torch.as_tensor(self.action_space.high, dtype=torch.float32).flatten()
        self.register_buffer("action_center", (high + low) / 2, persistent=False)
        self.register_buffer("action_half_range", (high - low) / 2, persistent=False)
        if not self.inference_only:
            in_dim = obs_dim + self.action_dim
            self.qf = EnsembleMLP(2 if twin_q else 1, in_dim, hiddens, 1, activation=act)

    def get_non_inference_attributes(self) -> list[str]:
        """The critics and their target copies."""
        return ["qf", "qf_target"]

    def get_initial_state(self) -> dict[str, Any]:
        """``{}``: the default SAC module is stateless."""
        return {}

    def make_target_networks(self) -> None:
        """Build the frozen target copies of the critics."""
        self.qf_target = self.make_target_copy(self.qf)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.qf, self.qf_target)]
