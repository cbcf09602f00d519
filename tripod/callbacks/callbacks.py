"""RLlibCallback: hooks into training, evaluation, checkpoints and episodes (RLlib's new-stack API).

    from tripod.callbacks.callbacks import RLlibCallback

    class PoleAngle(RLlibCallback):
        def on_episode_end(self, *, episode, metrics_logger, **kwargs):
            metrics_logger.log_value("final_pole_angle", abs(episode.get_observations(-1)[2]))

    config = PPOConfig().environment("CartPole-v1").callbacks(PoleAngle)

Every hook takes keyword arguments only and ``**kwargs`` (new arguments may come). The
algorithm's hooks (``on_algorithm_init``, ``on_train_result``, ``on_evaluate_start``,
``on_evaluate_end``, ``on_checkpoint_loaded``) run in the training process; the env-runner
hooks (``on_environment_created``, ``on_episode_*``, ``on_sample_end``) inside each env
runner, on the Ray actors too with remote runners (the class is built there from the
config). Episode hooks run while single- and multi-agent runners sample, for training
and for evaluation. A hook that is not overridden is never called: the sampling loop pays
one ``is None`` test per step when no episode hook is overridden.

Custom metrics: ``metrics_logger.log_value(key, value, reduce="mean")`` in an env-runner
hook ends up in ``result["env_runners"][key]`` (the values of all runners reduced
together); in an algorithm hook at the top level of the same iteration's result.
``on_train_result`` may also change ``result`` itself.
"""

from __future__ import annotations

from typing import Any

from tripod.utils.annotations import OverrideToImplementCustomLogic

__all__ = [
    "DefaultCallbacks",
    "RLlibCallback",
    "callback_hooks",
    "make_callbacks",
    "overridden_hooks",
]

#: The episode hooks (called by env runners while they sample, for training and evaluation).
EPISODE_HOOKS = ("on_episode_created", "on_episode_start", "on_episode_step", "on_episode_end")


class RLlibCallback:
    """Base class of callbacks: every hook does nothing; override the ones you need."""

    # ---------------------------------------------------------------- algorithm
    @OverrideToImplementCustomLogic
    def on_algorithm_init(self, *, algorithm: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        """The algorithm is built (runners and learners up), before the first ``train()``."""

    @OverrideToImplementCustomLogic
    def on_train_result(self, *, algorithm: Any, metrics_logger: Any = None, result: dict, **kwargs: Any) -> None:
        """End of ``Algorithm.train()``; ``result`` is the dict it returns (change it as you like)."""

    @OverrideToImplementCustomLogic
    def on_evaluate_start(self, *, algorithm: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        """Start of ``Algorithm.evaluate()`` (also of the evaluation inside ``train()``)."""

    @OverrideToImplementCustomLogic
    def on_evaluate_end(
        self, *, algorithm: Any, metrics_logger: Any = None, evaluation_metrics: dict, **kwargs: Any
    ) -> None:
        """End of ``Algorithm.evaluate()``; ``evaluation_metrics`` is its result (change it as you like)."""

    @OverrideToImplementCustomLogic
    def on_checkpoint_loaded(self, *, algorithm: Any, **kwargs: Any) -> None:
        """End of ``Algorithm.restore_from_path()`` / ``from_checkpoint()``."""

    # ---------------------------------------------------------------- env runner
    @OverrideToImplementCustomLogic
    def on_environment_created(
        self, *, env_runner: Any, metrics_logger: Any = None, env: Any, env_context: Any = None, **kwargs: Any
    ) -> None:
        """An env runner built its (vector) env; ``env_context`` is the ``env_config``."""

    @OverrideToImplementCustomLogic
    def on_episode_created(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, env: Any = None,
        rl_module: Any = None, env_index: int, **kwargs: Any,
    ) -> None:  # fmt: skip
        """A new episode of sub-env ``env_index`` is about to start (before its first observation)."""

    @OverrideToImplementCustomLogic
    def on_episode_start(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, env: Any = None,
        env_index: int, rl_module: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """An episode started: ``episode`` holds its first observation."""

    @OverrideToImplementCustomLogic
    def on_episode_step(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, env: Any = None,
        env_index: int, rl_module: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """After each env step of the episode (the last one included), with its data logged in ``episode``."""

    @OverrideToImplementCustomLogic
    def on_episode_end(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, env: Any = None,
        env_index: int, rl_module: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """The episode terminated or was truncated (after ``on_episode_step`` of its last step)."""

    @OverrideToImplementCustomLogic
    def on_sample_end(self, *, env_runner: Any = None, metrics_logger: Any = None, samples: Any = None,
                      **kwargs: Any) -> None:  # fmt: skip
        """An env runner's ``sample()`` call is done; ``samples`` is the batch it returns."""


#: RLlib's older name of :class:`RLlibCallback`.
DefaultCallbacks = RLlibCallback


def overridden_hooks(callbacks: Any) -> frozenset[str]:
    """The names of the hooks ``callbacks`` (an instance) overrides: the only ones tripod calls."""
    if callbacks is None:
        return frozenset()
    names = [n for n in vars(RLlibCallback) if n.startswith("on_")]
    return frozenset(n for n in names if getattr(type(callbacks), n, None) is not getattr(RLlibCallback, n))


class _CallbackList(RLlibCallback):
    """Several callbacks as one: each hook calls the instances that override it, in order."""

    def __init__(self, callbacks: list[RLlibCallback]) -> None:
        self.callbacks = callbacks
        self._hooks = {name: [c for c in callbacks if name in overridden_hooks(c)] for name in _HOOK_NAMES}

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_") and name in _HOOK_NAMES:
            targets = object.__getattribute__(self, "_hooks")[name]

            def call(**kwargs: Any) -> None:
                for target in targets:
                    getattr(target, name)(**kwargs)

            return call
        return object.__getattribute__(self, name)

    def hooks(self) -> frozenset[str]:
        """The hooks any of the instances overrides."""
        return frozenset(name for name, targets in self._hooks.items() if targets)


_HOOK_NAMES = tuple(n for n in vars(RLlibCallback) if n.startswith("on_"))


def make_callbacks(callbacks_class: Any) -> RLlibCallback | None:
    """An instance of ``callbacks_class`` (an :class:`RLlibCallback` subclass or a list of them;
    None for none). Returns None when nothing would be called."""
    if callbacks_class is None:
        return None
    classes = list(callbacks_class) if isinstance(callbacks_class, list | tuple) else [callbacks_class]
    instances = [cls() for cls in classes]
    if len(instances) == 1:
        return instances[0] if overridden_hooks(instances[0]) else None
    combined = _CallbackList(instances)
    return combined if combined.hooks() else None


def callback_hooks(callbacks: Any) -> frozenset[str]:
    """The hooks tripod calls on ``callbacks`` (what :func:`make_callbacks` returned)."""
    if isinstance(callbacks, _CallbackList):
        return callbacks.hooks()
    return overridden_hooks(callbacks)

