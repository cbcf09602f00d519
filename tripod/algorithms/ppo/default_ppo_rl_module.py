"""The default actor-critic module for PPO and PG, built from the core's default networks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn

from tripod.core.columns import Columns
from tripod.core.distribution.action_dist import get_action_dist_cls
from tripod.core.networks import MLP, build_encoder, resolve_model_config
from tripod.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

MASK_KEY = "action_mask"
OBS_KEY = "observations"
MASKED_LOGIT = -1e9


class DefaultPPOTorchRLModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Policy and value networks from ``model_config`` (see ``DEFAULT_MODEL_CONFIG``).

    - Vector observations get an MLP encoder, images a CNN, Dict/Tuple
      observations are flattened.
    - Action masking: with a Dict observation space holding ``"action_mask"``
      (and the real observation under ``"observations"``, or the remaining keys),
      masked actions get a logit of -1e9 and are never sampled.
    - ``vf_share_layers``: one encoder for policy and value function.
    - ``free_log_std`` (Box actions): a state-independent log std parameter.
    - An ``inference_only`` copy has no value function.
    """

    def setup(self) -> None:
        cfg = resolve_model_config(self.model_config)
        if cfg["use_lstm"]:
            raise NotImplementedError(
                "The default PPO/PG module does not train recurrent networks yet (use_lstm=True). "
                "Write a custom module, or set use_lstm=False."
            )
        obs_space = self.observation_space
        self._masked = isinstance(obs_space, gym.spaces.Dict) and MASK_KEY in obs_space.spaces
        if self._masked:
            rest = {k: v for k, v in obs_space.spaces.items() if k != MASK_KEY}
            obs_space = rest[OBS_KEY] if set(rest) == {OBS_KEY} else gym.spaces.Dict(rest)
        self._share = cfg["vf_share_layers"]
        self._free_log_std = cfg["free_log_std"] and isinstance(self.action_space, gym.spaces.Box)
        width = get_action_dist_cls(self.action_space).required_input_dim(self.action_space)
        head_width = width // 2 if self._free_log_std else width

        self.encoder = build_encoder(obs_space, cfg)
        head_kw = {"activation": cfg["head_fcnet_activation"]}
        self.pi = MLP(
            self.encoder.out_dim,
            cfg["head_fcnet_hiddens"],
            out_dim=head_width,
            output_init_std=0.01,
            **head_kw,
        )
        if self._free_log_std:
            self.log_std = nn.Parameter(torch.zeros(head_width))
        if not self.inference_only:
            if not self._share:
                self.vf_encoder = build_encoder(obs_space, cfg)
            self.vf = MLP(
                self.encoder.out_dim, cfg["head_fcnet_hiddens"], out_dim=1, output_init_std=1.0, **head_kw
            )

    def get_non_inference_attributes(self) -> list[str]:
        return ["vf_encoder", "vf"]

    def _split_obs(self, obs: Any) -> tuple[Any, torch.Tensor | None]:
        if not self._masked:
            return obs, None
        rest = {k: v for k, v in obs.items() if k != MASK_KEY}
        return (rest[OBS_KEY] if set(rest) == {OBS_KEY} else rest), torch.as_tensor(obs[MASK_KEY])

    def _logits(self, features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        logits = self.pi(features)
        if self._free_log_std:
            logits = torch.cat([logits, self.log_std.expand_as(logits)], dim=-1)
        if mask is not None:
            logits = logits.masked_fill(mask.to(torch.bool).logical_not(), MASKED_LOGIT)
        return logits

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs, mask = self._split_obs(batch[Columns.OBS])
        features, _ = self.encoder(obs)
        return {Columns.ACTION_DIST_INPUTS: self._logits(features, mask)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs, mask = self._split_obs(batch[Columns.OBS])
        features, _ = self.encoder(obs)
        out = {Columns.ACTION_DIST_INPUTS: self._logits(features, mask)}
        if self._share:
            out[Columns.EMBEDDINGS] = features
        return out

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """V(s) of shape [B]; reuses ``embeddings`` when the encoder is shared."""
        if self.inference_only:
            raise RuntimeError("An inference_only module has no value function.")
        if embeddings is None or not self._share:
            obs, _ = self._split_obs(batch[Columns.OBS])
            embeddings, _ = (self.encoder if self._share else self.vf_encoder)(obs)
        return self.vf(embeddings).squeeze(-1)
