"""Settings shared by the off-policy algorithms (DQN, SAC): replay buffer, replay ratio, targets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm_config import (
    AlgorithmConfig,
    ConfigError,
    NotProvided,
    _is_int,
    _is_number,
    check_schedule,
)
from tripod.data.replay_buffer import check_capacity

# RLlib's replay_buffer_config keys -> typed fields.
_REPLAY_KEYS = {
    "capacity": "replay_buffer_capacity",
    "alpha": "prioritized_replay_alpha",
    "beta": "prioritized_replay_beta",
    "eps": "prioritized_replay_eps",
    "prioritized": "prioritized_replay",
}


def is_schedule(value: Any, minimum: float = 0.0) -> bool:
    """Whether ``value`` is a number >= minimum or a ``[[step, value], ...]`` schedule."""
    try:
        check_schedule("value", value, minimum=minimum)
    except ConfigError:
        return False
    return True


@dataclasses.dataclass
class OffPolicyConfig(AlgorithmConfig):
    """Settings of the replay-based algorithms, on top of :class:`AlgorithmConfig`.

    Each training iteration repeats, until ``min_sample_timesteps_per_iteration``
    env steps were sampled: sample ``rollout_fragment_length`` ("auto": 1) steps
    of each of the ``num_envs_per_env_runner`` envs, store them in the replay
    buffer, then (once ``num_steps_sampled_before_learning_starts`` steps were
    sampled) make ``training_intensity`` gradient updates per sampled env step,
    each on ``train_batch_size_per_learner`` transitions drawn from the buffer.

    Args (via ``.training(...)``, besides the common ones):
        replay_buffer_capacity: Transitions the buffer keeps (must be at least
            ``train_batch_size_per_learner``).
        prioritized_replay: Sample proportionally to ``|TD error| ** alpha``
            (Schaul et al. 2016) with importance weights ``** -beta``.
        prioritized_replay_alpha, prioritized_replay_eps: Priority exponent and floor.
        prioritized_replay_beta: Importance-sampling exponent: a number or a
            schedule over env steps, e.g. ``[[0, 0.4], [100_000, 1.0]]``.
        n_step: Rewards summed into each TD target (``gamma ** k`` discounted).
        training_intensity: Gradient updates per sampled env step (the replay
            ratio; SB3's ``gradient_steps / train_freq``). Note: RLlib counts
            trained *transitions* per sampled step, i.e. this times the batch size.
        num_steps_sampled_before_learning_starts: Env steps sampled before the
            first update.
        target_network_update_freq: Env steps between target-network updates
            (0: after every gradient update).
        tau: Target update ``target <- tau * online + (1 - tau) * target`` (1: a hard copy).
        checkpoint_replay_buffer: Save the replay buffer with every checkpoint (it
            can be large); resuming then needs it.
        replay_buffer_config: RLlib-style dict (``capacity``, ``type``, ``alpha``,
            ``beta``, ``eps``) setting the typed fields above.
    Reporting: ``min_sample_timesteps_per_iteration`` (``.reporting(...)``).
    """

    replay_buffer_capacity: int = 100_000
    prioritized_replay: bool = False
    prioritized_replay_alpha: float = 0.6
    prioritized_replay_beta: float | list = 0.4
    prioritized_replay_eps: float = 1e-6
    n_step: int = 1
    training_intensity: float = 1.0
    num_steps_sampled_before_learning_starts: int = 1000
    target_network_update_freq: int = 0
    tau: float = 0.005
    checkpoint_replay_buffer: bool = False
    min_sample_timesteps_per_iteration: int = 1000
    train_batch_size_per_learner: int = 256
    minibatch_size: int | None = None

    _CHECKS: ClassVar[dict] = {
        "replay_buffer_capacity": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        "prioritized_replay": (lambda v: isinstance(v, bool), "True or False"),
        "prioritized_replay_alpha": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        "prioritized_replay_beta": (is_schedule, "a number >= 0 or a schedule [[env_step, beta], ...]"),
        "prioritized_replay_eps": (lambda v: _is_number(v) and v > 0, "a number > 0"),
        "n_step": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        "training_intensity": (lambda v: _is_number(v) and v > 0, "a number > 0 (updates per env step)"),
        "num_steps_sampled_before_learning_starts": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
        "target_network_update_freq": (lambda v: _is_int(v) and v >= 0, "an int >= 0 (env steps)"),
        "tau": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
        "checkpoint_replay_buffer": (lambda v: isinstance(v, bool), "True or False"),
        "min_sample_timesteps_per_iteration": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    }

    def training(
        self,
        *,
        replay_buffer_capacity: Any = NotProvided,
        prioritized_replay: Any = NotProvided,
        prioritized_replay_alpha: Any = NotProvided,
        prioritized_replay_beta: Any = NotProvided,
        prioritized_replay_eps: Any = NotProvided,
        n_step: Any = NotProvided,
        training_intensity: Any = NotProvided,
        num_steps_sampled_before_learning_starts: Any = NotProvided,
        target_network_update_freq: Any = NotProvided,
        tau: Any = NotProvided,
        checkpoint_replay_buffer: Any = NotProvided,
        replay_buffer_config: Any = NotProvided,
        **common: Any,
    ) -> OffPolicyConfig:
        """The off-policy settings plus the common ones of :meth:`AlgorithmConfig.training`."""
        super().training(**common)
        if replay_buffer_config is not NotProvided:
            self._set(**replay_fields(replay_buffer_config))
        return self._set(
            replay_buffer_capacity=replay_buffer_capacity,
            prioritized_replay=prioritized_replay,
            prioritized_replay_alpha=prioritized_replay_alpha,
            prioritized_replay_beta=prioritized_replay_beta,
            prioritized_replay_eps=prioritized_replay_eps,
            n_step=n_step,
            training_intensity=training_intensity,
            num_steps_sampled_before_learning_starts=num_steps_sampled_before_learning_starts,
            target_network_update_freq=target_network_update_freq,
            tau=tau,
            checkpoint_replay_buffer=checkpoint_replay_buffer,
        )

    def reporting(
        self, *, min_sample_timesteps_per_iteration: Any = NotProvided, **common: Any
    ) -> OffPolicyConfig:
        """Set the env steps per iteration (``min_sample_timesteps_per_iteration``) and the common options."""
        super().reporting(**common)
        return self._set(min_sample_timesteps_per_iteration=min_sample_timesteps_per_iteration)

    def validate(self) -> None:
        """Also: the buffer must hold at least one train batch."""
        super().validate()
        try:
            check_capacity(self.replay_buffer_capacity, self.train_batch_size_per_learner)
        except ValueError as err:
            cap, batch = self.replay_buffer_capacity, self.train_batch_size_per_learner
            raise ConfigError(
                f"{type(self).__name__}: replay_buffer_capacity ({cap}) is smaller than "
                f"train_batch_size_per_learner ({batch}), so a batch could never be sampled. Set "
                f"replay_buffer_capacity to at least {batch} or train_batch_size_per_learner to at most {cap}."
            ) from err

    @property
    def fragment_length(self) -> int:
        """Vector steps sampled between updates (``rollout_fragment_length``, "auto" meaning 1)."""
        fragment = self.rollout_fragment_length
        return 1 if fragment == "auto" else int(fragment)


def replay_fields(replay_buffer_config: Any) -> dict[str, Any]:
    """Typed config fields from an RLlib-style ``replay_buffer_config`` dict.

    Keys: ``capacity``, ``type`` (a name or class; "Prioritized..." switches on
    prioritized replay), ``prioritized``, ``alpha``, ``beta``, ``eps``.

    Raises:
        ConfigError: For a non-dict or an unknown key (listing the known ones).
    """
    if not isinstance(replay_buffer_config, dict):
        raise ConfigError(f"replay_buffer_config must be a dict, got {replay_buffer_config!r}.")
    out: dict[str, Any] = {}
    for key, value in replay_buffer_config.items():
        if key == "type":
            name = value if isinstance(value, str) else getattr(value, "__name__", str(value))
            out["prioritized_replay"] = "prioritized" in name.lower()
        elif key in _REPLAY_KEYS:
            out[_REPLAY_KEYS[key]] = value
        else:
            known = ", ".join(["type", *_REPLAY_KEYS])
            raise ConfigError(
                f"replay_buffer_config has no key '{key}'. Known keys: {known} (or set the typed fields, "
                "e.g. .training(replay_buffer_capacity=100_000, prioritized_replay=True))."
            )
    return out
