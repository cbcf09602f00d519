"""Settings shared by the off-policy algorithms (DQN, SAC): replay buffer, replay ratio, targets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from tripod.algorithms.algorithm_config import AlgorithmConfig, ConfigError, NotProvided
from tripod.algorithms.config_checks import BOOL, integer, number, schedule, setting
from tripod.data.replay_buffer import check_capacity

# RLlib's replay_buffer_config keys -> typed fields.
_REPLAY_KEYS = {
    "capacity": "replay_buffer_capacity",
    "alpha": "prioritized_replay_alpha",
    "beta": "prioritized_replay_beta",
    "eps": "prioritized_replay_eps",
    "prioritized": "prioritized_replay",
}


def _training(default: Any, check: Any, doc: str) -> Any:
    return setting(default, check=check, doc=doc, method="training")


@dataclasses.dataclass
class OffPolicyConfig(AlgorithmConfig):
    """Settings of the replay-based algorithms, on top of :class:`AlgorithmConfig`.

    Each training iteration repeats, until ``min_sample_timesteps_per_iteration``
    env steps were sampled: sample ``rollout_fragment_length`` ("auto": 1) steps
    of each of the ``num_envs_per_env_runner`` envs, store them in the replay
    buffer, then (once ``num_steps_sampled_before_learning_starts`` steps were
    sampled) make ``training_intensity`` gradient updates per sampled env step,
    each on ``train_batch_size_per_learner`` transitions drawn from the buffer.
    Each setting's declaration below says what it does; ``replay_buffer_config``
    (RLlib's dict: ``capacity``, ``type``, ``alpha``, ``beta``, ``eps``) sets the
    typed replay fields.
    """

    compound_keywords: ClassVar[dict[str, str]] = {"replay_buffer_config": "training"}

    replay_buffer_capacity: int = _training(
        100_000,
        integer(1),
        "transitions the buffer keeps; must be at least `train_batch_size_per_learner` (checked by "
        "`build_algo()`)",
    )
    prioritized_replay: bool = _training(
        False,
        BOOL,
        "sample proportionally to `|TD error| ** alpha` (Schaul et al. 2016), with importance "
        "weights `** -beta`",
    )
    prioritized_replay_alpha: float = _training(0.6, number(0), "priority exponent")
    prioritized_replay_beta: float | list = _training(
        0.4,
        schedule(0.0, text="a number >= 0 or a schedule [[env_step, beta], ...]"),
        "importance-sampling exponent: a number or a schedule over env steps, e.g. `[[0, 0.4], [100_000, 1.0]]`",
    )
    prioritized_replay_eps: float = _training(1e-6, number(0, low_open=True), "priority floor")
    n_step: int = _training(1, integer(1), "rewards summed into each TD target (`gamma ** k` discounted)")
    training_intensity: float = _training(
        1.0,
        number(0, low_open=True, unit="updates per env step"),
        "gradient updates per sampled env step (the replay ratio; SB3's `gradient_steps / train_freq`; RLlib "
        "counts trained transitions instead, i.e. this times the batch size)",
    )
    num_steps_sampled_before_learning_starts: int = _training(
        1000, integer(0), "env steps sampled before the first update"
    )
    target_network_update_freq: int = _training(
        0, integer(0, unit="env steps"), "env steps between target-network updates (0: after every update)"
    )
    tau: float = _training(
        0.005,
        number(0, 1, low_open=True),
        "target update `target <- tau * online + (1 - tau) * target` (1: a copy)",
    )
    checkpoint_replay_buffer: bool = _training(
        False, BOOL, "save the replay buffer with every checkpoint (it can be large); resuming then needs it"
    )
    min_sample_timesteps_per_iteration: int = setting(
        1000, check=integer(1), doc="env steps sampled per training iteration", method="reporting"
    )
    train_batch_size_per_learner: int = 256
    minibatch_size: int | None = None

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
        """The off-policy settings plus the common ones of :meth:`AlgorithmConfig.training`.

        ``replay_buffer_config`` (RLlib's dict) sets the typed replay fields; keywords given
        alongside it win.
        """
        super().training(**common)
        if replay_buffer_config is not NotProvided:
            self.update_from_dict(replay_fields(replay_buffer_config))
        return self._fluent("training", locals())

    def reporting(
        self, *, min_sample_timesteps_per_iteration: Any = NotProvided, **common: Any
    ) -> OffPolicyConfig:
        """Set the env steps per iteration (``min_sample_timesteps_per_iteration``) and the common options."""
        super().reporting(**common)
        return self._fluent("reporting", locals())

    def validate(self) -> None:
        """Also: the buffer must hold at least one train batch; the learner trains in this process."""
        super().validate()
        if self.num_learners > 0:
            raise ConfigError(
                f"{type(self).__name__}: num_learners={self.num_learners} trains on-policy learners (PPO, PG) "
                "data-parallel on Ray; replay-based learners (DQN, SAC) take one gradient step per replayed "
                "batch in the training process. Set .learners(num_learners=0) (and .resources(device='cuda') "
                "for a GPU); remote env runners (num_env_runners) work."
            )
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
