"""LearnerGroup: the learners an algorithm trains with, behind one interface (RLlib's name).

This is the local group: one :class:`~tripod.learner.learner.Learner` in this
process, built from a learner class, the config and a module spec. The remote
group of the Ray issue (data-parallel learners) keeps this interface:

    group = LearnerGroup(PPOLearner, config=config, module_spec=spec)
    results = group.update({module_id: batch}, num_env_steps_sampled_lifetime=steps)
    weights = group.get_weights()      # {module_id: inference-only weights}, for the env runners

Off-policy algorithms keep their replay buffer in the driver and send each replayed
batch with :meth:`update_from_replay`; statistics accumulate until :meth:`collect_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from tripod.core.rl_module.multi_rl_module import MultiRLModule
from tripod.core.rl_module.rl_module import ModuleID, RLModule
from tripod.io.seeding import GlobalRNGScope
from tripod.learner.learner import Learner

__all__ = ["LearnerGroup"]


class LearnerGroup:
    """The learners of an algorithm (local: one learner in this process).

    Args:
        learner_class: The algorithm's :class:`Learner` subclass.
        config: The algorithm config.
        module_spec: An ``RLModuleSpec`` (trained as the MultiRLModule's
            ``DEFAULT_MODULE_ID`` module) or a ``MultiRLModuleSpec``, spaces filled in.
        module_ids_to_train: Which modules get optimizers (default: all with parameters).
        global_rng: The RNG scope the learner runs in (see :class:`Learner`).
    """

    def __init__(
        self,
        learner_class: type[Learner],
        *,
        config: Any,
        module_spec: Any,
        module_ids_to_train: Iterable[ModuleID] | None = None,
        global_rng: GlobalRNGScope | None = None,
    ) -> None:
        module = module_spec.build()
        multi = module if isinstance(module, MultiRLModule) else module.as_multi_rl_module()
        extra = {} if module_ids_to_train is None else {"module_ids_to_train": module_ids_to_train}
        self._learner = learner_class(config=config, module=multi, global_rng=global_rng, **extra)

    # ------------------------------------------------------------------ learners
    @property
    def is_local(self) -> bool:
        """Whether the learner runs in this process (always, until the Ray issue)."""
        return True

    def foreach_learner(self, func: Callable[[Learner], Any]) -> list[Any]:
        """``[func(learner) for each learner]``."""
        return [func(self._learner)]

    # ------------------------------------------------------------------ updates
    def update(
        self, batch: Mapping[ModuleID, Mapping[str, Any]], *, num_env_steps_sampled_lifetime: int = 0
    ) -> dict[ModuleID, dict[str, float]]:
        """Train on ``batch`` (``{module_id: batch}``); returns per-module statistics."""
        return self._learner.update(batch, num_env_steps_sampled_lifetime=num_env_steps_sampled_lifetime)

    def update_from_replay(
        self,
        batch: Mapping[ModuleID, Mapping[str, Any]],
        *,
        num_env_steps_sampled_lifetime: int = 0,
        return_td_errors: bool = False,
    ) -> dict[ModuleID, Any]:
        """One gradient step per module on a replay batch (off-policy learners only).

        Returns ``{module_id: TD errors}`` when ``return_td_errors`` (for priorities), else ``{}``;
        statistics accumulate until :meth:`collect_results`.
        """
        return self._learner.update_from_replay(
            batch, num_env_steps_sampled_lifetime=num_env_steps_sampled_lifetime,
            return_td_errors=return_td_errors,
        )  # fmt: skip

    def set_learning_rates(self, num_env_steps: int) -> None:
        """Set the (possibly scheduled) learning rates for env step ``num_env_steps`` (off-policy)."""
        self._learner.set_learning_rates(num_env_steps)

    def collect_results(self) -> dict[ModuleID, dict[str, float]]:
        """Statistics of the :meth:`update_from_replay` calls since the last call (off-policy)."""
        return self._learner.collect_results()

    @property
    def num_env_steps_trained(self) -> int:
        """Env steps trained on, over the group's life."""
        return self._learner.num_env_steps_trained

    # ------------------------------------------------------------------ modules and weights
    def get_weights(self, module_ids: Collection[ModuleID] | None = None) -> dict[ModuleID, Any]:
        """``{module_id: inference-only weights}`` (numpy copies) for env runners; all modules by default."""
        weights = self._learner.get_weights()
        if module_ids is None:
            return weights
        return {mid: w for mid, w in weights.items() if mid in module_ids}

    def set_weights(self, weights: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: weights}`` into the learners' modules (modules not named keep theirs)."""
        self._learner.set_module_weights(weights)

    def get_module(self, module_id: ModuleID | None = None) -> MultiRLModule | RLModule:
        """The local learner's module ``module_id`` (None: the whole MultiRLModule)."""
        return self._learner.get_module(module_id)

    @property
    def module_ids(self) -> list[ModuleID]:
        """The ids of the modules the learners hold (trained or not)."""
        return list(self._learner.get_module().keys())

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """The learner's state: ``rl_module`` (full weights), ``optimizers``, ``extra``, counters."""
        return self._learner.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` on every learner."""
        self.foreach_learner(lambda learner: learner.set_state(state))

    def get_rng_state(self) -> dict[str, Any]:
        """The learner's RNG states (a checkpoint's ``owned.learner``)."""
        return self._learner.get_rng_state()

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_rng_state`."""
        self._learner.set_rng_state(state)

    def shutdown(self) -> None:
        """Release the learners (nothing to release locally)."""
