"""The default DQN module: a (dueling) Q network, its target copy and epsilon-greedy exploration."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn

from tripod.algorithms.off_policy_networks import (
    OFF_POLICY_MODEL_DEFAULTS,
    build_feature_net,
    check_action_space,
    run_sequential,
)
from tripod.core.columns import Columns
from tripod.core.networks import MLP, resolve_model_config
from tripod.core.rl_module.apis import QNetAPI, TargetNetworkAPI
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

QF_PREDS = "qf_preds"


class QNetwork(nn.Module):
    """Features + Q head (``dueling``: ``Q = V + A - mean(A)``), mapping observations to ``[B, n]``.

    Args:
        observation_space: The observation space (vectors, images or Dict/Tuple of them).
        num_actions: Width of the output.
        cfg: A resolved model config (``fcnet_*``, ``conv_*``, ``head_fcnet_*``).
        dueling: Separate value and advantage streams (one layer computing both
            when ``head_fcnet_hiddens`` is empty).
    """

    def __init__(self, observation_space: gym.Space, num_actions: int, cfg: dict, *, dueling: bool) -> None:
        super().__init__()
        self.encoder = build_feature_net(observation_space, cfg)
        width, head = self.encoder.out_dim, cfg["head_fcnet_hiddens"]
        act = cfg["head_fcnet_activation"]
        self.dueling, self.fused = dueling, dueling and not head
        # Fused dueling head: column 0 is V(s), the others A(s, ·).
        self.advantage = MLP(width, head, activation=act, out_dim=num_actions + int(self.fused))
        self.value = MLP(width, head, activation=act, out_dim=1) if dueling and not self.fused else None

    def forward(self, obs: Any) -> torch.Tensor:
        features = run_sequential(self.encoder, obs)
        out = run_sequential(self.advantage, features)
        if not self.dueling:
            return out
        if self.fused:
            value, adv = out[..., :1], out[..., 1:]
        else:
            value, adv = run_sequential(self.value, features), out
        return value + adv - adv.mean(dim=-1, keepdim=True)


class DefaultDQNTorchRLModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """Q network from ``model_config`` (``fcnet_hiddens``, ``fcnet_activation`` (relu by default),
    ``head_fcnet_hiddens``, ``conv_filters``; plus ``dueling``, default True).

    - ``forward_inference``: greedy actions ``argmax_a Q(s, a)``.
    - ``forward_exploration``: epsilon-greedy with the module's ``epsilon``
      attribute. DQN computes epsilon from its schedule at the global step and
      sends it with the weights (``EnvRunnerGroup.sync_weights``); each runner
      sets it on its own module.
    - ``compute_q_values(batch)`` -> ``{"qf_preds": [B, n_actions]}``;
      ``forward_target(batch)`` the same from the target network.
    """

    #: Exploration probability read by ``_forward_exploration`` (set by the DQN algorithm).
    epsilon: float = 0.0

    def setup(self) -> None:
        check_action_space(
            "DQN", self.action_space, gym.spaces.Discrete, "Use SAC (or PPO) for continuous actions."
        )
        config = dict(self.model_config)
        dueling = bool(config.pop("dueling", True))
        cfg = resolve_model_config({**OFF_POLICY_MODEL_DEFAULTS, **config})
        if cfg["use_lstm"]:
            raise NotImplementedError("The default DQN module has no recurrent version (use_lstm=True).")
        self.num_actions = int(self.action_space.n)
        self.qf = QNetwork(self.observation_space, self.num_actions, cfg, dueling=dueling)

    # --------------------------------------------------------------- forwards
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {Columns.ACTIONS: self.qf(batch[Columns.OBS]).argmax(dim=-1)}

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        with torch.no_grad():
            greedy = self.qf(batch[Columns.OBS]).argmax(dim=-1)
            if self.epsilon <= 0.0:
                return {Columns.ACTIONS: greedy}
            n = greedy.shape[0]
            explore = torch.rand(n) < self.epsilon
            random = torch.randint(self.num_actions, (n,))
            return {Columns.ACTIONS: torch.where(explore, random, greedy)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.compute_q_values(batch)

    # ------------------------------------------------------------------- APIs
    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``{"qf_preds": Q(s, ·)}`` of shape ``[B, n_actions]``."""
        return {QF_PREDS: self.qf(batch[Columns.OBS])}

    def make_target_networks(self) -> None:
        """Build the frozen target copy of the Q network."""
        self.qf_target = self.make_target_copy(self.qf)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.qf, self.qf_target)]

    def forward_target(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``{"qf_preds": Q_target(s, ·)}`` of shape ``[B, n_actions]``."""
        return {QF_PREDS: self.qf_target(batch[Columns.OBS])}
