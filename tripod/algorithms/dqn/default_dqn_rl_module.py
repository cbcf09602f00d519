"""DQN's default module: a (dueling) Q network and its target copy (RLlib path:
``ray.rllib.algorithms.dqn.default_dqn_rl_module``).

:class:`DefaultDQNRLModule` builds the networks; the torch forwards (greedy and
epsilon-greedy actions) are in
:class:`~tripod.algorithms.dqn.torch.default_dqn_torch_rl_module.DefaultDQNTorchRLModule`,
the class to use or subclass.
"""

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
from tripod.core.networks import MLP, resolve_model_config
from tripod.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from tripod.core.rl_module.rl_module import RLModule

__all__ = ["DefaultDQNRLModule"]

#: The key of the Q values in ``compute_q_values`` / ``forward_target`` outputs.
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


class DefaultDQNRLModule(RLModule, InferenceOnlyAPI, QNetAPI, TargetNetworkAPI):
    """Q network from ``model_config`` (``fcnet_hiddens``, ``fcnet_activation`` (relu by default),
    ``head_fcnet_hiddens``, ``conv_filters``; plus ``dueling``, default True).

    ``setup()`` builds ``self.qf``, a :class:`QNetwork`, and names its parts as RLlib's
    default DQN module does: ``self.encoder`` (the features), ``self.af`` (the advantage
    head, or the Q head without ``dueling``) and ``self.vf`` (the value head; ``None``
    without ``dueling`` and when one fused layer computes value and advantages, i.e.
    ``head_fcnet_hiddens=[]``). These are the very layers of ``self.qf`` (their weights are
    stored under ``qf.*``); ``encoder`` takes observations, not a batch. The Q values are
    computed by ``self.qf``, so a subclass that changes them overrides
    ``compute_q_values`` / ``forward_target``.
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
            raise NotImplementedError(
                "The default DQN module has no recurrent version (model_config use_lstm=True): tripod's DQN "
                "trains stateless modules only. Set use_lstm=False, or train a recurrent module with PPO or PG "
                "(PPOConfig().rl_module(model_config={'use_lstm': True}))."
            )
        self.num_actions = int(self.action_space.n)
        self.uses_dueling = dueling
        self.qf = QNetwork(self.observation_space, self.num_actions, cfg, dueling=dueling)
        # RLlib's names for the parts, as plain references (the weights stay under ``qf.*``).
        self.__dict__.update(encoder=self.qf.encoder, af=self.qf.advantage, vf=self.qf.value)

    def get_initial_state(self) -> dict[str, Any]:
        """``{}``: the default DQN module is stateless."""
        return {}

    def make_target_networks(self) -> None:
        """Build the frozen target copy of the Q network."""
        self.qf_target = self.make_target_copy(self.qf)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.qf, self.qf_target)]
