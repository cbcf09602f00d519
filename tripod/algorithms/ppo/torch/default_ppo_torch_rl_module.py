"""The default PPO module in torch (RLlib path:
``ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module``).

Subclass it the way RLlib users do: override ``setup`` (call ``super().setup()``), the
``_forward_*`` methods (call ``super()._forward_*(batch)``) and ``compute_values``, and use
``self.encoder``, ``self.pi`` and ``self.vf``.
"""

from __future__ import annotations

from typing import Any

import torch

from tripod.algorithms.ppo.default_ppo_rl_module import MASKED_LOGIT, DefaultPPORLModule
from tripod.core.columns import Columns
from tripod.core.models.base import ACTOR, CRITIC, ENCODER_OUT
from tripod.core.networks.actor_critic import ActorCriticEncoder
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["DefaultPPOTorchRLModule"]


class DefaultPPOTorchRLModule(TorchRLModule, DefaultPPORLModule):
    """PPO's and PG's default module; see :class:`DefaultPPORLModule` for what it builds.

    - ``_forward(batch)`` (inference and exploration): ``{ACTION_DIST_INPUTS}``.
    - ``_forward_train(batch)``: also ``EMBEDDINGS`` (the critic's features) when the
      encoder is shared, which ``compute_values`` then reuses.
    - ``compute_values(batch, embeddings=None)``: ``V(s)`` of shape ``[B]``.

    A subclass may replace ``self.encoder`` with its own encoder returning
    ``{ENCODER_OUT: {ACTOR: ..., CRITIC: ...}}`` (or ``{ENCODER_OUT: features}`` when
    actor and critic share it); the forwards use it.
    """

    def get_non_inference_attributes(self) -> list[str]:
        """:meth:`DefaultPPORLModule.get_non_inference_attributes` and any target networks."""
        own = DefaultPPORLModule.get_non_inference_attributes(self)
        return own + [name for name in TorchRLModule.get_non_inference_attributes(self) if name not in own]

    def _actor_features(self, batch: dict[str, Any], obs: Any) -> tuple[torch.Tensor, Any]:
        """``(actor features, state out or None)`` for ``obs`` (the batch's observations, mask removed)."""
        encoder = self.encoder
        if type(encoder) is ActorCriticEncoder:
            # The default encoder: run the actor's layers alone (the critic's are not needed here).
            state = batch.get(Columns.STATE_IN)
            if self._critic_state:
                return encoder.encode(obs, state[ACTOR])
            return encoder.encode(obs, state)
        if obs is not batch[Columns.OBS]:
            batch = {**batch, Columns.OBS: obs}
        out = encoder(batch)
        features = out[ENCODER_OUT]
        return (features[ACTOR] if isinstance(features, dict) else features), out.get(Columns.STATE_OUT)

    def _dist_inputs(self, features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        logits = self.pi(features)
        if self._free_log_std:
            logits = torch.cat([logits, self.log_std.expand_as(logits)], dim=-1)
        if mask is not None:
            logits = logits.masked_fill(mask.to(torch.bool).logical_not(), MASKED_LOGIT)
        return logits

    def _policy(self, batch: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
        """``({ACTION_DIST_INPUTS[, STATE_OUT]}, actor features)`` for ``batch``."""
        obs, mask = self._split_obs(batch[Columns.OBS])
        features, state = self._actor_features(batch, obs)
        out = {Columns.ACTION_DIST_INPUTS: self._dist_inputs(features, mask)}
        if state is not None:
            out[Columns.STATE_OUT] = state
        return out, features

    def _critic(self, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """``(critic features, critic state out)`` of the critic's own LSTM (``_critic_state`` only)."""
        batch, _ = self._unmasked_batch(batch)
        return self.vf_encoder.encode(batch[Columns.OBS], batch[Columns.STATE_IN][CRITIC])

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self._policy(batch)[0]
        if self._critic_state and Columns.STATE_OUT in out:
            out[Columns.STATE_OUT] = {ACTOR: out[Columns.STATE_OUT], CRITIC: self._critic(batch)[1]}
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out, features = self._policy(batch)
        if self._share:
            # The shared encoder's features serve the value head too: compute_values reuses them.
            out[Columns.EMBEDDINGS] = features
        elif self._critic_state and Columns.STATE_OUT in out:
            # The critic's LSTM runs once: its features are the embeddings compute_values reuses.
            critic, critic_state = self._critic(batch)
            out[Columns.STATE_OUT] = {ACTOR: out[Columns.STATE_OUT], CRITIC: critic_state}
            out[Columns.EMBEDDINGS] = critic
        return out

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """V(s) of shape [B] (``[B, T]`` for a recurrent module); reuses ``embeddings`` when the encoder
        is shared, or with separate LSTMs (the critic's features from ``forward_train``)."""
        if self.inference_only:
            raise RuntimeError("An inference_only module has no value function.")
        if self._critic_state and embeddings is None and type(self.encoder) is ActorCriticEncoder:
            embeddings = self._critic(batch)[0]
        if embeddings is None or not (self._share or self._critic_state):
            batch, _ = self._unmasked_batch(batch)
            critic = self.encoder.__dict__.get("critic_encoder")
            if critic is not None:
                embeddings = critic(batch)[ENCODER_OUT]
            else:
                features = self.encoder(batch)[ENCODER_OUT]
                embeddings = features[CRITIC] if isinstance(features, dict) else features
        return self.vf(embeddings).squeeze(-1)
