"""MultiRLModule: a mapping of module ids to RL modules, for multi-agent training."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import gymnasium as gym
from torch import nn

from tripod.core.rl_module.module_io import KIND_MULTI, load_multi_module_state
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID, ModuleID, RLModule, RLModuleSpec
from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule

__all__ = ["DEFAULT_MODULE_ID", "MultiRLModule", "MultiRLModuleSpec"]


class MultiRLModule(TorchRLModule):
    """Holds several RL modules under module ids; forwards map ``{module_id: batch}``.

    Args:
        rl_module_specs: ``{module_id: RLModuleSpec}`` built in ``setup()``.
        observation_space, action_space, inference_only, learner_only, model_config:
            Stored like RLModule's; each sub-module has its own spaces.

    Sub-modules need not be torch modules (a fixed heuristic policy may be a
    plain :class:`RLModule`); torch ones are registered so ``.to(device)``,
    ``.parameters()`` and ``state_dict()`` see them.

    By default each forward calls the sub-modules' own ``forward_*`` (each in its
    own mode, with its own no-grad default). As in RLlib, a subclass may override
    ``_forward`` (or ``_forward_inference`` / ``_forward_exploration`` /
    ``_forward_train``) to route ``{module_id: batch}`` itself, e.g. through a
    shared encoder held as one of the sub-modules; the forwards then call those
    methods like a single module's (eval/train mode set on all sub-modules, the
    default ``_forward_inference``/``_forward_exploration`` under no_grad).
    """

    _checkpoint_kind = KIND_MULTI  # save_to_path() writes one directory per module id

    def __init__(
        self,
        *,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        inference_only: bool = False,
        learner_only: bool = False,
        model_config: dict | None = None,
        rl_module_specs: Mapping[ModuleID, RLModuleSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        self.rl_module_specs: dict[ModuleID, RLModuleSpec] = dict(rl_module_specs or {})
        self._rl_modules: dict[ModuleID, RLModule] = {}
        cls = type(self)
        self._routes_itself = any(
            getattr(cls, name) is not getattr(MultiRLModule, name)
            for name in ("_forward", "_forward_inference", "_forward_exploration", "_forward_train")
        )
        super().__init__(
            observation_space=observation_space,
            action_space=action_space,
            inference_only=inference_only,
            learner_only=learner_only,
            model_config=model_config,
            **kwargs,
        )

    def setup(self) -> None:
        """Build every sub-module from ``rl_module_specs``."""
        self._torch_modules = nn.ModuleDict()
        for module_id, spec in list(self.rl_module_specs.items()):
            if not isinstance(spec, RLModuleSpec):
                raise TypeError(
                    f"MultiRLModule: rl_module_specs['{module_id}'] must be an RLModuleSpec, "
                    f"got {type(spec).__name__}."
                )
            self.add_module(module_id, spec.build())

    def __setattr__(self, name: str, value: Any) -> None:
        # An attribute naming one of the held sub-modules (RLlib's shared-encoder example does
        # ``self.encoder = self._rl_modules["shared_encoder"]`` in setup) is an alias, kept as a
        # plain attribute: its weights stay registered once, under their module id, and reading
        # it costs what it costs in RLlib (no nn.Module.__getattr__ on every forward).
        held = self.__dict__.get("_rl_modules")
        if held and isinstance(value, nn.Module) and any(value is m for m in held.values()):
            self._modules.pop(name, None)
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    # -------------------------------------------------------------- the mapping
    def add_module(self, module_id: ModuleID, module: RLModule, *, override: bool = False) -> None:  # type: ignore[override]
        """Add ``module`` under ``module_id`` (``override=True`` to replace an existing one)."""
        if not isinstance(module, RLModule):
            raise TypeError(
                f"MultiRLModule.add_module('{module_id}'): expected an RLModule, got {type(module).__name__}."
            )
        if not isinstance(module_id, str) or not module_id or "/" in module_id or "." in module_id:
            raise ValueError(
                f"MultiRLModule.add_module(): module_id must be a non-empty string without '/' or '.', "
                f"got {module_id!r}."
            )
        if module_id in self._rl_modules and not override:
            raise ValueError(
                f"MultiRLModule.add_module(): module '{module_id}' already exists. "
                "Pass override=True to replace it."
            )
        self._rl_modules[module_id] = module
        if module_id in self._torch_modules:
            del self._torch_modules[module_id]
        if isinstance(module, nn.Module):
            self._torch_modules[module_id] = module
        if not isinstance(module, MultiRLModule):  # keep the specs in step, as RLlib does
            self.rl_module_specs[module_id] = RLModuleSpec.from_module(module)

    def remove_module(self, module_id: ModuleID, *, raise_err_if_not_found: bool = True) -> None:
        """Remove the module under ``module_id``."""
        if module_id not in self._rl_modules:
            if raise_err_if_not_found:
                raise KeyError(self._missing_message(module_id))
            return
        del self._rl_modules[module_id]
        self.rl_module_specs.pop(module_id, None)
        if module_id in self._torch_modules:
            del self._torch_modules[module_id]

    def _check_module_exists(self, module_id: ModuleID) -> None:
        """Raise ``KeyError`` naming the held ids if ``module_id`` is not held (RLlib's helper)."""
        if module_id not in self._rl_modules:
            raise KeyError(self._missing_message(module_id))

    def _missing_message(self, module_id: Any) -> str:
        return f"MultiRLModule has no module '{module_id}'; it holds {sorted(self._rl_modules)}."

    def __getitem__(self, module_id: ModuleID) -> RLModule:
        try:
            return self._rl_modules[module_id]
        except KeyError:
            raise KeyError(self._missing_message(module_id)) from None

    def __contains__(self, module_id: object) -> bool:
        return module_id in self._rl_modules

    def __len__(self) -> int:
        return len(self._rl_modules)

    def __iter__(self) -> Iterator[ModuleID]:
        return iter(self._rl_modules)

    def get(self, module_id: ModuleID, default: Any = None) -> RLModule | Any:
        """The module under ``module_id`` or ``default``."""
        return self._rl_modules.get(module_id, default)

    def keys(self):
        """Module ids."""
        return self._rl_modules.keys()

    def values(self):
        """Modules."""
        return self._rl_modules.values()

    def items(self):
        """``(module_id, module)`` pairs."""
        return self._rl_modules.items()

    def foreach_module(self, func: Callable[..., Any], *, return_dict: bool = False) -> Any:
        """Call ``func(module_id, module)`` for each module; a list (or dict) of results."""
        results = {mid: func(mid, module) for mid, module in self._rl_modules.items()}
        return results if return_dict else list(results.values())

    # ------------------------------------------------------------------ forwards
    def _run(self, phase: str, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"MultiRLModule.{phase}() expects {{module_id: batch}}, got {type(batch).__name__}."
            )
        out = {}
        for module_id, module_batch in batch.items():
            out[module_id] = getattr(self[module_id], phase)(module_batch, **kwargs)
        return out

    def _set_mode(self, training: bool) -> None:
        # Sub-modules may have been switched on their own (their forwards switch them), so
        # look at them too; train() recurses only when something is in the wrong mode.
        if self.training != training:
            self.train(training)
            return
        for module in self._torch_modules._modules.values():  # a plain loop: this runs on every forward
            if module.training != training:
                self.train(training)
                return

    def forward_inference(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        """``{module_id: module.forward_inference(batch[module_id])}``."""
        if not self._routes_itself:
            return self._run("forward_inference", batch, **kwargs)
        self._set_mode(False)
        return self._forward_inference(batch, **kwargs)

    def forward_exploration(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        """``{module_id: module.forward_exploration(batch[module_id])}``."""
        if not self._routes_itself:
            return self._run("forward_exploration", batch, **kwargs)
        self._set_mode(False)
        return self._forward_exploration(batch, **kwargs)

    def forward_train(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        """``{module_id: module.forward_train(batch[module_id])}``."""
        if not self._routes_itself:
            return self._run("forward_train", batch, **kwargs)
        self._set_mode(True)
        return RLModule.forward_train(self, batch, **kwargs)

    # Defaults a subclass builds on: _forward maps the sub-modules' _forward; the phase
    # methods use the subclass's _forward when it has one, else the sub-modules' forwards.
    def _forward(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        return {mid: self[mid]._forward(b, **kwargs) for mid, b in batch.items()}

    def _forward_inference(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        if type(self)._forward is not MultiRLModule._forward:
            return TorchRLModule._forward_inference(self, batch, **kwargs)
        return self._run("forward_inference", batch, **kwargs)

    def _forward_exploration(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        if type(self)._forward is not MultiRLModule._forward:
            return TorchRLModule._forward_exploration(self, batch, **kwargs)
        return self._run("forward_exploration", batch, **kwargs)

    def _forward_train(self, batch: Mapping[ModuleID, Any], **kwargs: Any) -> dict[ModuleID, Any]:
        if type(self)._forward is not MultiRLModule._forward:
            return self._forward(batch, **kwargs)
        return self._run("forward_train", batch, **kwargs)

    # -------------------------------------------------------------------- state
    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        inference_only: bool = False,
        **kwargs: Any,
    ) -> dict[ModuleID, Any]:
        """``{module_id: module.get_state()}``; ``components`` selects module ids."""
        keep = {components} if isinstance(components, str) else components
        drop = {not_components} if isinstance(not_components, str) else set(not_components or ())
        if keep is not None:
            missing = [mid for mid in keep if mid not in self._rl_modules]
            if missing:
                raise KeyError(self._missing_message(missing[0]))
        return {
            mid: module.get_state(inference_only=inference_only)
            for mid, module in self._rl_modules.items()
            if (keep is None or mid in keep) and mid not in drop
        }

    def set_state(self, state: Mapping[ModuleID, Any]) -> None:
        """Load ``{module_id: module_state}``; modules not named keep their weights."""
        for module_id, module_state in state.items():
            self[module_id].set_state(module_state)

    def get_non_inference_attributes(self) -> list[str]:
        return []

    def get_initial_state(self) -> dict[ModuleID, Any]:
        """``{module_id: module.get_initial_state()}``."""
        return {mid: module.get_initial_state() for mid, module in self._rl_modules.items()}

    def is_stateful(self) -> bool:
        return any(module.is_stateful() for module in self._rl_modules.values())

    def as_multi_rl_module(self) -> MultiRLModule:
        return self

    def __repr__(self) -> str:
        inner = ", ".join(f"{mid}: {type(m).__name__}" for mid, m in self._rl_modules.items())
        return f"MultiRLModule({{{inner}}})"


@dataclasses.dataclass
class MultiRLModuleSpec:
    """Builds a :class:`MultiRLModule` from ``{module_id: RLModuleSpec}``.

    Args:
        multi_rl_module_class: The class to build (default MultiRLModule).
        rl_module_specs: ``{module_id: RLModuleSpec}``, or one spec used for
            :data:`DEFAULT_MODULE_ID`.
        observation_space, action_space, inference_only, model_config: Passed to
            the MultiRLModule itself; ``inference_only`` also applies to each spec.
        load_state_path: A MultiRLModule checkpoint to load after building.
        modules_to_load: With ``load_state_path``, load only these module ids.
    """

    multi_rl_module_class: type = MultiRLModule
    observation_space: gym.Space | None = None
    action_space: gym.Space | None = None
    inference_only: bool = False
    model_config: dict | None = None
    rl_module_specs: dict[ModuleID, RLModuleSpec] | RLModuleSpec = dataclasses.field(default_factory=dict)
    load_state_path: str | None = None
    modules_to_load: set[ModuleID] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rl_module_specs, RLModuleSpec):
            self.rl_module_specs = {DEFAULT_MODULE_ID: self.rl_module_specs}
        if not isinstance(self.rl_module_specs, Mapping):
            raise TypeError(
                "MultiRLModuleSpec.rl_module_specs must be a dict {module_id: RLModuleSpec}, "
                f"got {type(self.rl_module_specs).__name__}."
            )

    def build(self, module_id: ModuleID | None = None) -> MultiRLModule | RLModule:
        """Build the MultiRLModule, or only the sub-module ``module_id``."""
        specs = {}
        for mid, spec in self.rl_module_specs.items():
            spec = dataclasses.replace(spec)
            spec.inference_only = spec.inference_only or self.inference_only
            specs[mid] = spec
        if module_id is not None:
            if module_id not in specs:
                raise KeyError(f"MultiRLModuleSpec has no module '{module_id}'; it holds {sorted(specs)}.")
            return specs[module_id].build()
        multi = self.multi_rl_module_class(
            observation_space=self.observation_space,
            action_space=self.action_space,
            inference_only=self.inference_only,
            model_config=self.model_config,
            rl_module_specs=specs,
        )
        if self.load_state_path is not None:
            multi.set_state(load_multi_module_state(self.load_state_path, self.modules_to_load))
        return multi

    @classmethod
    def from_module(cls, module: MultiRLModule) -> MultiRLModuleSpec:
        """The spec that builds a MultiRLModule like ``module`` (same class and sub-module specs)."""
        return cls(
            multi_rl_module_class=type(module),
            observation_space=module.observation_space,
            action_space=module.action_space,
            inference_only=module.inference_only,
            model_config=dict(module.model_config),
            rl_module_specs={mid: RLModuleSpec.from_module(m) for mid, m in module.items()},
        )

    def as_multi_rl_module_spec(self) -> MultiRLModuleSpec:
        """This spec (RLlib compatibility: mirrors ``RLModuleSpec.as_multi_rl_module_spec``)."""
        return self

    def add_modules(self, module_specs: Mapping[ModuleID, RLModuleSpec], override: bool = True) -> None:
        """Add (or replace) sub-module specs."""
        for mid, spec in module_specs.items():
            if override or mid not in self.rl_module_specs:
                self.rl_module_specs[mid] = spec

    def remove_modules(self, module_ids: str | Collection[str]) -> None:
        """Drop sub-module specs."""
        for mid in [module_ids] if isinstance(module_ids, str) else module_ids:
            self.rl_module_specs.pop(mid, None)

    def __getitem__(self, module_id: ModuleID) -> RLModuleSpec:
        return self.rl_module_specs[module_id]

    def __contains__(self, module_id: object) -> bool:
        return module_id in self.rl_module_specs


# rl_module.py sits below this file (a MultiRLModule is an RLModule), so it cannot import these
# classes; RLModule.as_multi_rl_module(), RLModuleSpec.as_multi_rl_module_spec() and
# RLModule.from_checkpoint() use the ones handed over here.
RLModule._multi_rl_module_class = MultiRLModule
RLModule._multi_rl_module_spec_class = MultiRLModuleSpec
