"""The default SAC module: a squashed-Gaussian policy and twin Q functions with target copies."""

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
    run_sequential,
)
from tripod.algorithms.sac.ensemble_mlp import EnsembleMLP
from tripod.core.columns import Columns
from tripod.core.distribution.action_dist import get_action_dist_cls
from tripod.core.networks import MLP, ObsFlattener, is_image_space, resolve_model_config
from tripod.core.rl_module.apis import QNetAPI, TargetNetworkAPI
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

QF_PREDS = "qf_preds"
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


class DefaultSACTorchRLModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """Policy and Q networks from ``model_config`` (``fcnet_hiddens``, ``fcnet_activation``
    (relu by default); plus ``twin_q``, default True).

    - The policy maps observations to ``concat(mean, log_std)`` of a Gaussian whose
      samples are squashed by ``tanh`` into the action bounds
      (:class:`~tripod.core.distribution.torch.torch_distribution.TorchSquashedGaussian`, the module's
      ``action_dist_cls``). ``forward_exploration`` samples, ``forward_inference``
      takes the squashed mean, ``forward_train`` returns the logits.
    - ``compute_q_values({obs, actions})`` -> ``{"qf_preds": [B], "qf_twin_preds": [B]}``
      (both critics in one batched pass; actions are rescaled to [-1, 1] first);
      ``forward_target`` the same from the target critics.
    - An ``inference_only`` copy (the env runner's) holds the policy only.
    """

    def setup(self) -> None:
        check_sac_action_space(self.action_space)
        config = dict(self.model_config)
        twin_q = bool(config.pop("twin_q", True))
        cfg = resolve_model_config({**OFF_POLICY_MODEL_DEFAULTS, **config})
        if cfg["use_lstm"] or is_image_space(self.observation_space):
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
        return ["qf", "qf_target"]

    # --------------------------------------------------------------- forwards
    def _obs(self, batch: dict[str, Any]) -> torch.Tensor:
        obs = batch[Columns.OBS]
        return obs if self.flatten is None else self.flatten(obs)

    def _dist(self, batch: dict[str, Any]) -> Any:
        return self.action_dist_cls.from_logits(run_sequential(self.pi, self._obs(batch)))

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self._dist(batch).to_deterministic().sample()}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self._dist(batch).sample()}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: run_sequential(self.pi, self._obs(batch))}

    # ------------------------------------------------------------------- APIs
    def _q(self, net: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        actions = batch[Columns.ACTIONS].reshape(-1, self.action_dim)
        scaled = (actions - self.action_center) / self.action_half_range
        q = net(torch.cat([self._obs(batch), scaled], dim=-1)).squeeze(-1)
        return {QF_PREDS: q[0], QF_TWIN_PREDS: q[1]} if q.shape[0] == 2 else {QF_PREDS: q[0]}

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``{"qf_preds": Q1(s, a), "qf_twin_preds": Q2(s, a)}``, each ``[B]``, for ``obs`` and ``actions``."""
        return self._q(self.qf, batch)

    def make_target_networks(self) -> None:
        """Build the frozen target copies of the critics."""
        self.qf_target = self.make_target_copy(self.qf)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.qf, self.qf_target)]

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """:meth:`compute_q_values` with the target critics."""
        return self._q(self.qf_target, batch)
