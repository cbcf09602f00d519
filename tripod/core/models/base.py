"""Keys of encoder outputs (RLlib path: ``ray.rllib.core.models.base``).

RLlib's encoders return ``{ENCODER_OUT: features}``, and actor-critic encoders
``{ENCODER_OUT: {ACTOR: ..., CRITIC: ...}}``; module code uses these keys for its own
encoders too (a shared encoder's output, passed on to per-agent heads).
"""

from __future__ import annotations

__all__ = ["ACTOR", "CRITIC", "ENCODER_OUT"]

#: The key of an encoder's output features.
ENCODER_OUT: str = "encoder_out"
#: The key of the policy branch of an actor-critic encoder's output.
ACTOR: str = "actor"
#: The key of the value branch of an actor-critic encoder's output.
CRITIC: str = "critic"
