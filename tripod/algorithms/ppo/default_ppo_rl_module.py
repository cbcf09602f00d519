"""PPO's (and PG's) default actor-critic module: ``encoder``, ``pi`` and ``vf`` (RLlib path:
``ray.rllib.algorithms.ppo.default_ppo_rl_module``).

:class:`DefaultPPORLModule` builds the networks; the torch forwards are in
:class:`~tripod.algorithms.ppo.torch.default_ppo_torch_rl_module.DefaultPPOTorchRLModule`,
the class to use or subclass.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn

from tripod.core.columns import Columns
from tripod.core.distribution.action_dist import get_action_dist_cls
from tripod.core.networks import MLP, build_encoder, resolve_model_config
from tripod.core.networks.actor_critic import ActorCriticEncoder, BatchEncoder
from tripod.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from tripod.core.rl_module.rl_module import RLModule

__all__ = ["DefaultPPORLModule"]

MASK_KEY = "action_mask"
OBS_KEY = "observations"
MASKED_LOGIT = -1e9


class DefaultPPORLModule(RLModule, InferenceOnlyAPI, ValueFunctionAPI):
    """Policy and value networks from ``model_config`` (see ``DEFAULT_MODEL_CONFIG``).

    ``setup()`` builds, as RLlib's default PPO module does:

    - ``self.encoder``: an :class:`~tripod.core.networks.actor_critic.ActorCriticEncoder`;
      ``self.encoder(batch)`` returns ``{ENCODER_OUT: {ACTOR: ..., CRITIC: ...}}``. With
      ``vf_share_layers=False`` (the default) the critic has its own encoder,
      ``self.encoder.critic_encoder`` (registered as ``self.vf_encoder``).
    - ``self.pi``: the policy head, features -> action distribution inputs.
    - ``self.vf``: the value head, features -> ``[B, 1]``.

    Also:

    - Vector observations get an MLP encoder, images a CNN, Dict/Tuple observations are
      flattened.
    - Action masking: with a Dict observation space holding ``"action_mask"`` (and the real
      observation under ``"observations"``, or the remaining keys), masked actions get a
      logit of -1e9 and are never sampled. A subclass that strips the mask itself (and
      passes the observation space without it) gets a plain module.
    - ``free_log_std`` (Box actions): ``self.pi`` outputs the means and a state-independent
      parameter ``self.log_std`` is appended to them.
    - An ``inference_only`` copy has no value function (no ``vf``, no ``vf_encoder``).
    - ``use_lstm``: an LSTM of ``lstm_cell_size`` on top of the encoder; the module is then
      stateful and every forward takes observations ``[B, T, ...]`` and ``STATE_IN``. With
      ``vf_share_layers=False`` the critic has its own LSTM and state (kept, without the value
      head, by the ``inference_only`` copy, which advances it while sampling).
    """

    def setup(self) -> None:
        cfg = resolve_model_config(self.model_config)
        obs_space = self.observation_space
        self._masked = isinstance(obs_space, gym.spaces.Dict) and MASK_KEY in obs_space.spaces
        if self._masked:
            rest = {k: v for k, v in obs_space.spaces.items() if k != MASK_KEY}
            obs_space = rest[OBS_KEY] if set(rest) == {OBS_KEY} else gym.spaces.Dict(rest)
        self._share = cfg["vf_share_layers"]
        # Two LSTMs (actor's and critic's): the critic's state must advance while sampling too,
        # so an inference-only copy keeps the critic's encoder (not the value head).
        self._critic_state = cfg["use_lstm"] and not self._share
        self._free_log_std = cfg["free_log_std"] and isinstance(self.action_space, gym.spaces.Box)
        if cfg["log_std_init"] != 0.0 and not self._free_log_std:
            raise ValueError(
                f"model_config['log_std_init'] = {cfg['log_std_init']!r} sets the starting learned log standard "
                "deviation of Box actions: it needs model_config['free_log_std'] = True (and a Box action space)."
            )
        width = get_action_dist_cls(self.action_space).required_input_dim(self.action_space)
        head_width = width // 2 if self._free_log_std else width

        # Built in this order (actor encoder, pi, critic encoder, vf) so that the random
        # initialisation, parameter names and parameter order match earlier tripod versions.
        actor = build_encoder(obs_space, cfg)
        head_kw = {"activation": cfg["head_fcnet_activation"]}
        pi = MLP(
            actor.out_dim, cfg["head_fcnet_hiddens"], out_dim=head_width, output_init_std=0.01, **head_kw
        )
        if self._free_log_std:
            self.log_std = nn.Parameter(torch.full((head_width,), float(cfg["log_std_init"])))
        critic = vf = None
        if not self._share and (not self.inference_only or self._critic_state):
            critic = BatchEncoder.wrap(build_encoder(obs_space, cfg))
        if not self.inference_only:
            vf = MLP(actor.out_dim, cfg["head_fcnet_hiddens"], out_dim=1, output_init_std=1.0, **head_kw)
        self.encoder = ActorCriticEncoder(actor, critic)
        self.pi = pi
        if critic is not None:
            self.vf_encoder = critic
        if vf is not None:
            self.vf = vf

    def get_initial_state(self) -> dict[str, Any]:
        """The encoder's initial state: ``{}`` without an LSTM; ``{"h", "c"}`` of
        ``[lstm_cell_size]`` zeros with one (``vf_share_layers=True``); ``{"actor": {"h", "c"},
        "critic": {"h", "c"}}`` with separate actor and critic LSTMs."""
        return self.encoder.get_initial_state()

    def get_non_inference_attributes(self) -> list[str]:
        """``vf_encoder`` (also reachable as ``encoder.critic_encoder``) and ``vf``; only ``vf`` when
        the critic has its own LSTM (its state advances while sampling)."""
        return ["vf"] if getattr(self, "_critic_state", False) else ["vf_encoder", "vf"]

    def _split_obs(self, obs: Any) -> tuple[Any, torch.Tensor | None]:
        """``(observation, action mask or None)`` from a batch's observations."""
        if not self._masked:
            return obs, None
        rest = {k: v for k, v in obs.items() if k != MASK_KEY}
        return (rest[OBS_KEY] if set(rest) == {OBS_KEY} else rest), torch.as_tensor(obs[MASK_KEY])

    def _unmasked_batch(self, batch: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor | None]:
        """``batch`` with the action mask taken out of its observations (a shallow copy if so)."""
        if not self._masked:
            return batch, None
        obs, mask = self._split_obs(batch[Columns.OBS])
        return {**batch, Columns.OBS: obs}, mask
