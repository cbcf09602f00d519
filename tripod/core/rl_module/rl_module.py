"""The RLModule base class and RLModuleSpec, with RLlib's names and signatures.

An RL module holds the neural networks of a policy and defines three forward
phases: ``forward_inference`` (greedy actions for deployment),
``forward_exploration`` (actions while sampling) and ``forward_train``
(outputs for the loss). Each calls the matching ``_forward_*`` method, and each
of those defaults to ``_forward``.

This file is the bottom of the module classes: ``torch_rl_module.py`` and
``multi_rl_module.py`` build on it, and it imports neither. Saving and loading go
through ``module_io.py``, which sits below it; the MultiRLModule classes that
:meth:`RLModule.as_multi_rl_module` and :meth:`RLModuleSpec.as_multi_rl_module_spec`
wrap into are handed over by ``multi_rl_module.py`` when it defines them (importing
any file of this package runs it: the package's ``__init__`` imports it).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Collection, Mapping
from typing import Any

import gymnasium as gym

from tripod.core.rl_module.default_model_config import model_config_dict
from tripod.core.rl_module.module_io import (
    KIND_MODULE,
    ModuleClasses,
    load_module,
    load_module_state,
    save_module,
)

ModuleID = str
DEFAULT_MODULE_ID = "default_policy"


class RLModule:
    """Base class of all RL modules (framework-agnostic part).

    Args:
        observation_space: The observation space the module's inputs come from.
        action_space: The action space the module's outputs act in.
        inference_only: Build only what sampling needs (no value heads, no
            target networks). Runners hold inference-only copies.
        learner_only: The module exists only on the learner (never on runners).
        model_config: A plain dict of hyperparameters for ``setup()`` (default ``{}``).
        catalog_class: Accepted for RLlib compatibility and stored; tripod does
            not need catalogs.

    ``__init__`` stores the arguments and calls :meth:`setup` last. A subclass
    may override ``__init__`` with the same keyword parameters and call
    ``super().__init__(...)``.
    """

    framework: str = "torch"
    # The kind of checkpoint save_to_path() writes (MultiRLModule: a directory per module).
    _checkpoint_kind: str = KIND_MODULE
    # Set by multi_rl_module.py to MultiRLModule and MultiRLModuleSpec (see the file's docstring).
    _multi_rl_module_class: type | None = None
    _multi_rl_module_spec_class: type | None = None

    def __init__(
        self,
        *,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        inference_only: bool = False,
        learner_only: bool = False,
        model_config: dict | None = None,
        catalog_class: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected keyword arguments: {unknown}. "
                "RLModule accepts observation_space, action_space, inference_only, learner_only, "
                "model_config and catalog_class; put hyperparameters into model_config."
            )
        if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type):
            model_config = model_config_dict(model_config)  # RLlib's DefaultModelConfig: the keys it sets
        if model_config is not None and not isinstance(model_config, Mapping):
            raise TypeError(
                f"{type(self).__name__}: model_config must be a dict, got {type(model_config).__name__}. "
                "Pass hyperparameters as a plain dict, e.g. model_config={'fcnet_hiddens': [64]}."
            )
        self.observation_space = observation_space
        self.action_space = action_space
        self.inference_only = bool(inference_only)
        self.learner_only = bool(learner_only)
        self.model_config = dict(model_config) if model_config is not None else {}
        self.catalog_class = catalog_class
        self.catalog = None
        # As in RLlib, setup() may set this to a distribution class; get_*_action_dist_cls()
        # then return it instead of choosing one from the action space.
        self.action_dist_cls = None
        self.setup()

    # ------------------------------------------------------------------ building
    def setup(self) -> None:
        """Build the networks. Called once at the end of ``__init__``."""

    # ------------------------------------------------------------------ forwards
    def forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Greedy forward pass for deployment and evaluation."""
        return self._forward_inference(batch, **kwargs)

    def forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Forward pass used while sampling (exploratory actions)."""
        return self._forward_exploration(batch, **kwargs)

    def forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Forward pass that produces what the loss needs (with gradients)."""
        if self.inference_only:
            raise RuntimeError(
                f"{type(self).__name__}.forward_train() was called on an inference_only module. "
                "Inference-only modules sample but are never trained: build the module with "
                "inference_only=False for the learner."
            )
        return self._forward_train(batch, **kwargs)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Generic forward pass that all three phases fall back to."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither _forward() nor the phase-specific method "
            "that was called. Override _forward(batch) (used by all three phases) or "
            "_forward_inference / _forward_exploration / _forward_train."
        )

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward(batch, **kwargs)

    # ------------------------------------------------------------ distributions
    def get_inference_action_dist_cls(self):
        """The distribution class for ``action_dist_inputs`` in inference (greedy use)."""
        return self._default_dist_cls()

    def get_exploration_action_dist_cls(self):
        """The distribution class for ``action_dist_inputs`` while exploring."""
        return self._default_dist_cls()

    def get_train_action_dist_cls(self):
        """The distribution class for ``action_dist_inputs`` in the loss."""
        return self._default_dist_cls()

    def _default_dist_cls(self):
        from tripod.core.distribution.action_dist import get_action_dist_cls

        if getattr(self, "action_dist_cls", None) is not None:
            return self.action_dist_cls
        if self.action_space is None:
            raise ValueError(
                f"{type(self).__name__} has no action_space, so no action distribution can be chosen. "
                "Build the module with an action_space (RLModuleSpec(action_space=...))."
            )
        return get_action_dist_cls(self.action_space)

    # -------------------------------------------------------------------- state
    def get_initial_state(self) -> Any:
        """The initial recurrent state of one sequence (``{}`` for stateless modules)."""
        return {}

    def is_stateful(self) -> bool:
        """Whether the module is recurrent (has a non-empty initial state)."""
        state = self.get_initial_state()
        return bool(state) if isinstance(state, Mapping) else state is not None

    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        inference_only: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The module's weights as a flat dict (subclasses define the content)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Load weights produced by :meth:`get_state`."""

    # ------------------------------------------------------------ checkpoints
    def get_ctor_args_and_kwargs(self) -> tuple[tuple, dict[str, Any]]:
        """The arguments this module was built with (used for checkpoints)."""
        return (), {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "inference_only": self.inference_only,
            "learner_only": self.learner_only,
            "model_config": self.model_config,
        }

    def save_to_path(self, path: str, *, overwrite: bool = True) -> str:
        """Write weights (safetensors) and metadata (JSON) to directory ``path``, atomically.

        A previous module checkpoint at ``path`` is replaced when ``overwrite`` is true
        (the default), else refused. tripod never replaces anything else: an existing
        non-empty directory that is not a tripod module checkpoint raises
        ``OverwriteError`` even with ``overwrite=True``. A failed write raises
        ``CheckpointSaveError`` and leaves the previous checkpoint intact.
        """
        return save_module(self, path, overwrite=overwrite)

    def restore_from_path(self, path: str) -> None:
        """Load weights saved by :meth:`save_to_path` into this module."""
        self.set_state(load_module_state(path))

    @classmethod
    def from_checkpoint(cls, path: str, *, module_class: Any = None, trusted: bool = False) -> RLModule:
        """Rebuild a module saved with :meth:`save_to_path` (never unpickles, never imports).

        The recorded class is used only if tripod defines it or its module is
        already imported in this process (see docs/checkpoints.md, "Security").

        Args:
            path: The checkpoint directory.
            module_class: The class to build; defaults to the class recorded in
                the checkpoint. For a MultiRLModule checkpoint also
                ``{module_id: class}`` for its sub-modules.
            trusted: Import the recorded class's module if it is not imported yet
                (only for checkpoints you trust).

        Raises:
            CheckpointError: The checkpoint is missing, damaged or tampered with, or
                names a class it may not load (``UntrustedCheckpointError``).
        """
        classes = ModuleClasses(RLModule, RLModule._multi_rl_module_class, RLModuleSpec)
        return load_module(path, classes=classes, module_class=module_class, trusted=trusted)

    # ------------------------------------------------------------------- misc
    def as_multi_rl_module(self):
        """Wrap this module in a MultiRLModule under ``DEFAULT_MODULE_ID``."""
        multi = RLModule._multi_rl_module_class()
        multi.add_module(DEFAULT_MODULE_ID, self)
        return multi

    def unwrapped(self) -> RLModule:
        """The module itself (RLlib compatibility: wrappers return the inner module)."""
        return self


@dataclasses.dataclass
class RLModuleSpec:
    """Everything needed to build an RLModule: class, spaces and model config.

    ``build()`` calls ``module_class(observation_space=..., action_space=...,
    inference_only=..., model_config=..., catalog_class=...)``, the five keyword
    arguments RLlib passes (``learner_only`` too when the class accepts it), then
    loads ``load_state_path`` if given.
    """

    module_class: type | None = None
    observation_space: gym.Space | None = None
    action_space: gym.Space | None = None
    inference_only: bool = False
    learner_only: bool = False
    model_config: dict | None = None
    catalog_class: Any = None
    load_state_path: str | None = None

    def build(self) -> RLModule:
        """Construct the module described by this spec."""
        if self.module_class is None:
            raise ValueError(
                "RLModuleSpec.build(): module_class is None. Set RLModuleSpec(module_class=YourModule, ...), "
                "or let an algorithm config fill in its default module."
            )
        if not (isinstance(self.module_class, type) and issubclass(self.module_class, RLModule)):
            raise TypeError(
                f"RLModuleSpec.module_class must be a subclass of RLModule, got {self.module_class!r}. "
                "Subclass tripod.core.TorchRLModule (or RLModule)."
            )
        for name in ("observation_space", "action_space"):
            space = getattr(self, name)
            if space is not None and not isinstance(space, gym.Space):
                raise TypeError(
                    f"RLModuleSpec.{name} must be a gymnasium.Space, got {type(space).__name__}: {space!r}."
                )
        model_config = self.model_config
        if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type):
            model_config = model_config_dict(model_config)  # RLlib's DefaultModelConfig: the keys it sets
        if model_config is not None and not isinstance(model_config, Mapping):
            raise TypeError(
                f"RLModuleSpec.model_config must be a dict, got {type(self.model_config).__name__}."
            )
        kwargs = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "inference_only": self.inference_only,
            "model_config": dict(model_config) if model_config is not None else {},
            "catalog_class": self.catalog_class,
        }
        if _accepts_kwarg(self.module_class, "learner_only"):
            kwargs["learner_only"] = self.learner_only
        module = self.module_class(**kwargs)
        module.learner_only = self.learner_only
        if self.load_state_path is not None:
            module.restore_from_path(self.load_state_path)
        return module

    @classmethod
    def from_module(cls, module: RLModule) -> RLModuleSpec:
        """The spec that builds a module like ``module`` (same class, spaces and config)."""
        if isinstance(module, RLModule._multi_rl_module_class):
            raise TypeError(
                "RLModuleSpec.from_module() got a MultiRLModule; use MultiRLModuleSpec.from_module()."
            )
        module = module.unwrapped()
        return cls(
            module_class=type(module),
            observation_space=module.observation_space,
            action_space=module.action_space,
            inference_only=module.inference_only,
            learner_only=module.learner_only,
            model_config=dict(module.model_config),
            catalog_class=module.catalog_class,
        )

    def update(self, other: RLModuleSpec, override: bool = True) -> None:
        """Fill this spec's fields from ``other`` (all of them, or only unset ones)."""
        if not isinstance(other, RLModuleSpec):
            raise TypeError(f"RLModuleSpec.update() expects an RLModuleSpec, got {type(other).__name__}.")
        for field in dataclasses.fields(self):
            value = getattr(other, field.name)
            if override and value is not None or getattr(self, field.name) is None:
                setattr(self, field.name, value)

    def as_multi_rl_module_spec(self):
        """Wrap this spec in a MultiRLModuleSpec under ``DEFAULT_MODULE_ID``."""
        return RLModule._multi_rl_module_spec_class(rl_module_specs={DEFAULT_MODULE_ID: self})


def _accepts_kwarg(cls: type, name: str) -> bool:
    params = inspect.signature(cls.__init__).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
