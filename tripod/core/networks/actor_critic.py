"""Encoders called RLlib's way: ``encoder(batch)`` returns ``{ENCODER_OUT: ...}``.

The default modules (PPO's ``encoder``, DQN's ``encoder``, SAC's ``pi_encoder`` /
``qf_encoder``) hold these, so module code written for RLlib can call
``self.encoder(batch)`` and read ``[ENCODER_OUT]`` (an :class:`ActorCriticEncoder`:
``[ENCODER_OUT][ACTOR]`` and ``[ENCODER_OUT][CRITIC]``).

Both wrap a built :class:`~tripod.core.networks.encoders.Encoder` without copying it: the
parameters keep the names the wrapped encoder's ``base`` / ``lstm`` have, so a module's
``state_dict`` names, parameter order and weight initialisation stay what they were before
these wrappers existed.
"""

from __future__ import annotations

from typing import Any

from tripod.core.columns import Columns
from tripod.core.models.base import ACTOR, CRITIC, ENCODER_OUT
from tripod.core.networks.encoders import Encoder

__all__ = ["ActorCriticEncoder", "BatchEncoder"]


class BatchEncoder(Encoder):
    """An :class:`Encoder` whose ``forward`` takes a batch: ``{ENCODER_OUT: features}``.

    ``forward(batch)`` encodes ``batch[Columns.OBS]`` (with ``batch[Columns.STATE_IN]`` when
    the encoder has an LSTM, then also returning ``Columns.STATE_OUT``); :meth:`encode` is
    the plain ``Encoder.forward(obs, state) -> (features, state)``.
    """

    @classmethod
    def wrap(cls, encoder: Encoder) -> BatchEncoder:
        """A ``BatchEncoder`` over ``encoder``'s layers (shared, not copied)."""
        return cls(encoder.base, encoder.base_out_dim, encoder.lstm)

    def encode(self, obs: Any, state: Any = None) -> tuple[Any, Any]:
        """``(features, new_state)`` for raw observations, as :meth:`Encoder.forward`."""
        return Encoder.forward(self, obs, state)

    def forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """``{ENCODER_OUT: features}`` (and ``STATE_OUT`` when stateful) for ``batch``."""
        features, state = self.encode(batch[Columns.OBS], batch.get(Columns.STATE_IN))
        out: dict[str, Any] = {ENCODER_OUT: features}
        if state is not None:
            out[Columns.STATE_OUT] = state
        return out


class ActorCriticEncoder(BatchEncoder):
    """The actor's encoder, plus the critic's: ``{ENCODER_OUT: {ACTOR: ..., CRITIC: ...}}``.

    The object *is* the actor's encoder (its layers are registered here, under the names the
    actor's encoder had). ``critic_encoder`` is the separate value-function encoder, which
    the owning module registers itself (tripod's PPO module: as ``vf_encoder``); it is absent
    when the layers are shared (``vf_share_layers=True``), where ``CRITIC`` is the actor's
    features. ``actor_encoder`` encodes the actor's features alone (``{ENCODER_OUT: x}``).

    With LSTMs and separate layers, each branch has its own recurrent state:
    ``STATE_IN``/``STATE_OUT`` are ``{ACTOR: {"h", "c"}, CRITIC: {"h", "c"}}``.
    """

    def __init__(self, actor: Encoder, critic: BatchEncoder | None = None) -> None:
        super().__init__(actor.base, actor.base_out_dim, actor.lstm)
        # Plain references (not submodules): the actor's layers are registered on self, and
        # the critic on the owning module, so state_dict names and order do not change.
        self.__dict__["actor_encoder"] = BatchEncoder.wrap(actor)
        if critic is not None:
            self.__dict__["critic_encoder"] = critic

    @property
    def shared(self) -> bool:
        """Whether actor and critic use the same layers (no ``critic_encoder``)."""
        return "critic_encoder" not in self.__dict__

    @property
    def split_state(self) -> bool:
        """Whether actor and critic each have an LSTM: the state is then ``{ACTOR: ..., CRITIC: ...}``."""
        return self.lstm is not None and not self.shared

    def get_initial_state(self) -> dict[str, Any]:
        """The actor's state, or ``{ACTOR: ..., CRITIC: ...}`` with two LSTMs (RLlib's layout)."""
        if not self.split_state:
            return super().get_initial_state()
        return {
            ACTOR: super().get_initial_state(),
            CRITIC: self.__dict__["critic_encoder"].get_initial_state(),
        }

    def forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """Both branches: ``{ENCODER_OUT: {ACTOR: a, CRITIC: c}}`` (``c is a`` when shared)."""
        if self.split_state:
            state = batch[Columns.STATE_IN]
            actor, actor_state = self.encode(batch[Columns.OBS], state[ACTOR])
            critic, critic_state = self.__dict__["critic_encoder"].encode(batch[Columns.OBS], state[CRITIC])
            return {
                ENCODER_OUT: {ACTOR: actor, CRITIC: critic},
                Columns.STATE_OUT: {ACTOR: actor_state, CRITIC: critic_state},
            }
        out = BatchEncoder.forward(self, batch)
        actor = out[ENCODER_OUT]
        critic = actor if self.shared else self.__dict__["critic_encoder"](batch)[ENCODER_OUT]
        out[ENCODER_OUT] = {ACTOR: actor, CRITIC: critic}
        return out
