"""The interface every env runner offers (RLlib's ``ray.rllib.env.env_runner.EnvRunner``).

:class:`~tripod.env.single_agent_env_runner.SingleAgentEnvRunner` and
:class:`~tripod.env.multi_agent_env_runner.MultiAgentEnvRunner` implement it; an
:class:`~tripod.env.env_runner_group.EnvRunnerGroup` talks to runners through it only.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tripod.callbacks.callbacks import EPISODE_HOOKS, callback_hooks
from tripod.core.rl_module.multi_rl_module import MultiRLModule
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, ModuleID
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule
from tripod.env.episode_hooks import EpisodeHooks
from tripod.io.seeding import GlobalRNGScope, numpy_generator_state, set_numpy_generator_state
from tripod.utils.metrics.metrics_logger import MetricsLogger

#: The key of :meth:`EnvRunner.get_metrics` under which the callbacks' custom metrics travel (raw values).
CUSTOM_METRICS = "custom_metrics"


class EnvRunner(abc.ABC):
    """An env runner: ``sample()``, ``get_metrics()``, ``get_spaces()``, ``stop()``, and the state API.

    The state API (implemented here) is ``get_state``/``set_state`` for runners holding
    ``self.module`` and a lifetime step counter; :meth:`sample_batches` is ``sample()``
    keyed by module id for every runner (what an env runner group hands on).

    ``get_rng_state``/``set_rng_state`` cover the generators the runner owns:
    ``self._rng`` (categorical sampling), its :class:`~tripod.io.seeding.GlobalRNGScope`
    ``self.global_rng`` and the spaces ``self._owned_spaces()`` draws random actions from.
    """

    module: Any
    num_env_steps_sampled_lifetime: int
    global_rng: GlobalRNGScope
    _rng: Any
    #: ``{id(module): (module, module.state_dict())}``: where :meth:`set_state` copies weights to.
    _weight_targets: dict[int, tuple[Any, dict[str, Any]]] | None = None

    def get_state(self) -> dict[str, Any]:
        """``{"rl_module": inference-only weights, "num_env_steps_sampled_lifetime": int}``, plus
        ``"connectors"`` (:meth:`get_connector_state`) for a runner with connectors.

        For a multi-agent runner the weights are ``{module_id: weights}``.
        """
        state = {
            "rl_module": self.module.get_state(inference_only=True),
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
        }
        connectors = self.get_connector_state()
        if connectors is not None:
            state["connectors"] = connectors
        return state

    def get_connector_state(self) -> dict[str, Any] | None:
        """The connector pipelines' statistics (``None`` for a runner without connectors)."""
        connectors = getattr(self, "connectors", None)
        return None if connectors is None else connectors.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load what the driver sends (``EnvRunnerGroup.sync_weights``) or :meth:`get_state` returned.

        Keys, each optional:

        - ``"rl_module"``: weights, ``{module_id: weights}`` (modules not named keep theirs); a
          single-agent runner also takes its module's weights directly, as RLlib does.
        - ``"exploration"``: settings the driver computed from the global step, e.g.
          ``{"epsilon": 0.3}``; see :meth:`set_exploration`.
        - ``"num_env_steps_sampled_lifetime"``: the counter.
        - ``"connectors"``: connector statistics (:meth:`get_connector_state`), or a list of several
          runners' (merged here, the same way on every runner).
        """
        if "rl_module" in state:
            self._set_module_weights(state["rl_module"])
        if "exploration" in state:
            self.set_exploration(state["exploration"])
        if "num_env_steps_sampled_lifetime" in state:
            self.num_env_steps_sampled_lifetime = int(state["num_env_steps_sampled_lifetime"])
        if state.get("connectors") is not None and getattr(self, "connectors", None) is not None:
            self.connectors.set_state(state["connectors"])

    def _set_module_weights(self, weights: Mapping[str, Any]) -> None:
        if not isinstance(self.module, MultiRLModule):
            weights = weights.get(DEFAULT_MODULE_ID, weights)
            if not self._copy_weights(self.module, weights):
                self.module.set_state(weights)
            return
        for module_id, module_weights in weights.items():
            if not self._copy_weights(self.module[module_id], module_weights):
                self.module[module_id].set_state(module_weights)

    def _copy_weights(self, module: Any, weights: Mapping[str, Any]) -> bool:
        """Copy ``weights`` into a torch module's tensors in place (what its ``set_state`` does, minus
        the per-call lookups); False, changing nothing, where ``set_state`` must decide."""
        if type(module).set_state is not TorchRLModule.set_state or not isinstance(weights, Mapping):
            return False
        if self._weight_targets is None:
            self._weight_targets = {}
        entry = self._weight_targets.get(id(module))
        if entry is None or entry[0] is not module:  # looked up once per module
            entry = self._weight_targets[id(module)] = (module, module.state_dict())
        targets, sources = [], []
        for name, value in weights.items():
            target = entry[1].get(name)
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                value = value.copy()  # weights from Ray's object store are read-only
            source = torch.as_tensor(value)
            if target is None or source.shape != target.shape:
                return False
            targets.append(target)
            sources.append(source)
        with torch.no_grad():
            torch._foreach_copy_(targets, sources)
        return True

    def set_exploration(self, values: Mapping[str, Any]) -> None:
        """Give every module this runner samples with the exploration settings ``values``.

        Each ``name: value`` becomes the module attribute ``name`` (DQN's default module
        reads ``epsilon`` in ``forward_exploration``). The runner owns its modules: the
        driver sends the values with the weights, so that every runner of a group uses
        the same ones.
        """
        modules = self.module.values() if isinstance(self.module, MultiRLModule) else [self.module]
        for module in modules:
            for name, value in values.items():
                setattr(module, name, value)

    def sample_batches(self, **kwargs: Any) -> dict[ModuleID, Any]:
        """:meth:`sample` (``num_timesteps`` mode) with the result keyed by module id.

        A multi-agent runner's batch already is ``{module_id: batch}``; a single-agent
        runner's becomes ``{DEFAULT_MODULE_ID: batch}`` (no copy). Calls the callbacks'
        ``on_sample_end`` when they override it.
        """
        batch = self.sample(**kwargs)
        batches = batch if isinstance(self.module, MultiRLModule) else {DEFAULT_MODULE_ID: batch}
        if "on_sample_end" in self._hooks:
            self.callbacks.on_sample_end(env_runner=self, metrics_logger=self.metrics, samples=batches)
        return batches

    # ------------------------------------------------------------------ callbacks
    callbacks: Any = None
    _hooks: frozenset[str] = frozenset()
    _episode_hooks: EpisodeHooks | None = None
    metrics: MetricsLogger | None = None

    def set_callbacks(self, callbacks: Any) -> None:
        """Call ``callbacks``' (an ``RLlibCallback``) env-runner hooks from now on; calls
        ``on_environment_created`` at once. Their ``metrics_logger`` is :attr:`metrics`, whose
        values :meth:`get_metrics` hands on under ``"custom_metrics"``.

        """
        hooks = callback_hooks(callbacks)
        episode_hooks = frozenset(hooks & set(EPISODE_HOOKS))
        self.callbacks, self._hooks, self.metrics = callbacks, hooks, MetricsLogger()
        self._episode_hooks = self._make_episode_hooks(callbacks, episode_hooks) if episode_hooks else None
        if "on_environment_created" in hooks:
            callbacks.on_environment_created(
                env_runner=self, metrics_logger=self.metrics, env=self.env, env_context=self.env_config
            )

    def _make_episode_hooks(self, callbacks: Any, hooks: frozenset[str]) -> Any:
        """The object the sampling loop hands its steps to, calling ``hooks`` of ``callbacks``."""
        return EpisodeHooks(callbacks, hooks, self)

    def _custom_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """``metrics`` with the callbacks' custom metrics of the period under ``"custom_metrics"``."""
        if self.metrics is not None:
            popped = self.metrics.pop_values()
            if popped:
                metrics[CUSTOM_METRICS] = popped
        return metrics

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

    def get_env_spaces(self) -> tuple[Any, Any]:
        """The env's observation and action spaces, before the connectors (what a connector
        pipeline for inference outside the runner is built for)."""
        return self.env_observation_space, self.action_space

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the envs."""
