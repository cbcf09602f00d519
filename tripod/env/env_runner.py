"""The interface every env runner offers (RLlib's ``ray.rllib.env.env_runner.EnvRunner``).

:class:`~tripod.env.single_agent_env_runner.SingleAgentEnvRunner` and
:class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner` implement it; an
:class:`~tripod.env.env_runner_group.EnvRunnerGroup` talks to runners through it only.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from tripod.io.seeding import GlobalRNGScope, numpy_generator_state, set_numpy_generator_state


class EnvRunner(abc.ABC):
    """An env runner: ``sample()``, ``get_metrics()``, ``get_spaces()``, ``stop()``, and the state API.

    The state API (implemented here) is ``get_state``/``set_state`` for runners holding
    ``self.module`` and a lifetime step counter.

    ``get_rng_state``/``set_rng_state`` cover the generators the runner owns:
    ``self._rng`` (categorical sampling), its :class:`~tripod.io.seeding.GlobalRNGScope`
    ``self.global_rng`` and the spaces ``self._owned_spaces()`` draws random actions from.
    """

    module: Any
    num_env_steps_sampled_lifetime: int
    global_rng: GlobalRNGScope
    _rng: Any

    def get_state(self) -> dict[str, Any]:
        """``{"rl_module": inference-only weights, "num_env_steps_sampled_lifetime": int}``.

        For a multi-agent runner the weights are ``{module_id: weights}``.
        """
        return {
            "rl_module": self.module.get_state(inference_only=True),
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load weights under ``"rl_module"`` (multi-agent: modules not named keep theirs) and counters."""
        if "rl_module" in state:
            self.module.set_state(state["rl_module"])
        if "num_env_steps_sampled_lifetime" in state:
            self.num_env_steps_sampled_lifetime = int(state["num_env_steps_sampled_lifetime"])

    def _owned_spaces(self) -> list[Any]:
        """Spaces whose own generators draw this runner's random actions."""
        return []

    def get_rng_state(self) -> dict[str, Any]:
        """The states of the generators the runner owns (checkpointable leaves).

        ``{"sampler": ..., "global": ..., "spaces": [...]}``; restoring them with
        :meth:`set_rng_state` makes the runner draw what it would have drawn next.
        """
        return {
            "sampler": numpy_generator_state(self._rng),
            "global": self.global_rng.get_state(),
            "spaces": [numpy_generator_state(space.np_random) for space in self._owned_spaces()],
        }

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned.

        Raises:
            ValueError: If ``state`` is incomplete, damaged or from a runner with other spaces.
        """
        spaces = self._owned_spaces()
        saved = state.get("spaces", []) if isinstance(state, Mapping) else None
        if not isinstance(state, Mapping) or "sampler" not in state or "global" not in state:
            raise ValueError(
                f"{type(self).__name__}.set_rng_state(): expected a dict with 'sampler' and 'global' "
                f"entries (from get_rng_state()), got {type(state).__name__}."
            )
        if not isinstance(saved, list) or len(saved) != len(spaces):
            raise ValueError(
                f"{type(self).__name__}.set_rng_state(): the state holds {len(saved or [])} action-space "
                f"generators, this runner has {len(spaces)}; it comes from another runner."
            )
        self.global_rng.set_state(state["global"])
        try:
            set_numpy_generator_state(self._rng, state["sampler"])
            for space, space_state in zip(spaces, saved):
                set_numpy_generator_state(space.np_random, space_state)
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ValueError(
                f"{type(self).__name__}.set_rng_state(): a generator state is damaged ({err})."
            ) from err

    # ------------------------------------------------------------------ what each runner implements
    @abc.abstractmethod
    def sample(self, **kwargs: Any) -> Any:
        """Step the envs with the module; returns a batch (or episodes' results)."""

    @abc.abstractmethod
    def get_metrics(self) -> dict[str, Any]:
        """Metrics since the last call (steps sampled, finished episodes' returns and lengths, ...)."""

    @abc.abstractmethod
    def get_spaces(self) -> tuple[Any, Any]:
        """The observation and action spaces the module sees."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the envs."""
