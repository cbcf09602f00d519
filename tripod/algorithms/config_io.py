"""AlgorithmConfig to and from JSON-able dicts (for checkpoints and ``config.json``).

Classes and functions (env creators, module classes, ``policy_mapping_fn`` and a
``policies_to_train`` function) are stored as import paths; spaces with
:mod:`tripod.io.spaces`; a ``DefaultModelConfig`` (in a module spec) as the dict of
the keys it sets. Nothing is pickled.

Loading follows tripod's trust model (docs/checkpoints.md, "Security"): a saved
reference is resolved only to a class of the kind its field needs (an
AlgorithmConfig, an RLModule, a gymnasium.Env) that tripod defines or that lives in
a module already imported, or to an env creator registered with
:func:`~tripod.env.register_env`; env strings only to registered names, registered
gymnasium ids, or ``module:Id`` / ``pettingzoo:module`` whose module is already
imported. Everything else raises
:class:`~tripod.io.checkpoint_trust.UntrustedCheckpointError` unless it is passed
in ``overrides``/``module_class`` or ``trusted=True``.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from tripod.connectors.build import setting_as_data
from tripod.core.rl_module.default_model_config import model_config_dict
from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec
from tripod.io.checkpoint import CheckpointError, class_path
from tripod.io.checkpoint_trust import resolve_class, resolve_function, untrusted
from tripod.io.spaces import space_from_dict, space_to_dict

_REF = "__import__"
_FUNCTION = "__function__"


def _ref(obj: Any) -> Any:
    """An import-path reference for classes and functions, or the value itself."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, list | tuple):
        return [_ref(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _ref(v) for k, v in obj.items()}
    if callable(obj):
        is_class = isinstance(obj, type)
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not is_class and (module is None or qualname is None):  # e.g. a functools.partial
            return {_REF: None, "repr": repr(obj)[:200]}
        path = class_path(obj) if is_class else f"{module}.{qualname}"
        if "<lambda>" in path or "<locals>" in path:
            return {_REF: None, "repr": path}
        if not is_class:  # a function, e.g. an env creator or a policy mapping function
            return {_FUNCTION: {"module": module, "qualname": qualname}}
        return {_REF: path}
    return {_REF: None, "repr": repr(obj)[:200]}


def _spec_to_dict(spec: RLModuleSpec | MultiRLModuleSpec | None) -> Any:
    if spec is None:
        return None
    if isinstance(spec, MultiRLModuleSpec):
        return {
            "type": "multi",
            "multi_rl_module_class": _ref(spec.multi_rl_module_class),
            "rl_module_specs": {mid: _spec_to_dict(s) for mid, s in spec.rl_module_specs.items()},
        }
    return {
        "type": "single",
        "module_class": _ref(spec.module_class),
        "observation_space": None
        if spec.observation_space is None
        else space_to_dict(spec.observation_space),
        "action_space": None if spec.action_space is None else space_to_dict(spec.action_space),
        "inference_only": spec.inference_only,
        "learner_only": spec.learner_only,
        "model_config": None if spec.model_config is None else model_config_dict(spec.model_config),
        "load_state_path": spec.load_state_path,
    }


def _warn_if_main(obj: Any, field: str, fix: str) -> None:
    """Warn that ``obj`` (a class or function from ``__main__``) makes a checkpoint load only with help."""
    if not callable(obj) or getattr(obj, "__module__", None) != "__main__":
        return
    name = getattr(obj, "__qualname__", repr(obj))
    if "<" in name:  # lambdas and local functions are not saved as references at all
        return
    warnings.warn(
        f"The config's {field} {name} is defined in the script run as __main__, so a checkpoint of this "
        f"config records it as '__main__.{name}', which another program cannot find. Load the checkpoint "
        f"there with Algorithm.from_checkpoint(path, {fix}), or move {name} into an importable module.",
        UserWarning,
        stacklevel=5,
    )


def _warn_main_references(config) -> None:
    _warn_if_main(config.env, "env", "config_overrides={'env': ...}")
    specs = [config.rl_module_spec, *(config.policies.values() if isinstance(config.policies, dict) else [])]
    for spec in specs:
        if isinstance(spec, MultiRLModuleSpec):
            _warn_if_main(spec.multi_rl_module_class, "MultiRLModule class", "module_class=...")
            specs.extend(spec.rl_module_specs.values())
        elif isinstance(spec, RLModuleSpec):
            _warn_if_main(spec.module_class, "module class", "module_class=...")


def config_to_dict(config) -> dict[str, Any]:
    """All fields of ``config`` as a JSON-able dict, plus its class path.

    Warns (``UserWarning``) when the env or a module class is defined in ``__main__``:
    another process needs it passed in to load a checkpoint of this config.
    """
    _warn_main_references(config)
    out: dict[str, Any] = {"config_class": class_path(type(config))}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "rl_module_spec":
            out[field.name] = _spec_to_dict(value)
        elif field.name == "policies" and isinstance(value, dict):  # {module_id: RLModuleSpec or None}
            out[field.name] = {mid: _spec_to_dict(spec) for mid, spec in value.items()}
        elif field.name in ("env_to_module_connector", "module_to_env_connector"):
            out[field.name] = _ref(setting_as_data(value))  # tripod's pieces as data, others as references
        else:
            out[field.name] = _ref(value)
    return out


# ------------------------------------------------------------------------------------ loading


class _Loader:
    """Resolves the references of one saved config under the trust model (see the module docstring)."""

    def __init__(self, source: str, trusted: bool, module_class: Any) -> None:
        self.source = source
        self.trusted = trusted
        self.module_class = module_class

    # ---------------------------------------------------------------- references
    def deref(self, value: Any, field: str) -> Any:
        if isinstance(value, list):
            return [self.deref(v, field) for v in value]
        if not isinstance(value, dict):
            return value
        if _REF in value:
            return self.resolve_class(value, field, self._bases(field))
        if _FUNCTION in value:
            return self.resolve_function(value[_FUNCTION], field)
        return {k: self.deref(v, field) for k, v in value.items()}

    def resolve_class(self, value: dict, field: str, bases: tuple[type, ...], fix: str | None = None) -> type:
        fix = fix or f"config_overrides={{'{field}': ...}}"
        if value[_REF] is None:
            raise CheckpointError(
                f"{self.source}: the saved config's '{field}' was {value.get('repr')}, which cannot be "
                f"saved as an import path (a lambda, a local function or an object). Pass it again when "
                f"restoring: Algorithm.from_checkpoint(path, {fix})."
            )
        return resolve_class(
            value[_REF], bases, source=self.source, what=f"'{field}' class", fix=fix, trusted=self.trusted
        )

    def resolve_function(self, ref: Any, field: str) -> Any:
        from tripod.env.env_creation import _ENV_CREATORS

        if field == "env":
            accept, allowed = (
                (lambda fn: any(fn is c for c in _ENV_CREATORS.values())),
                ("an env creator registered with tripod.env.register_env() in this process"),
            )
        else:
            accept, allowed = (lambda fn: False), f"a function you pass in for '{field}'"
        fix = f"config_overrides={{'{field}': your_function}}"
        return resolve_function(
            ref,
            accept,
            source=self.source,
            what=f"'{field}' function",
            fix=fix,
            trusted=self.trusted,
            allowed=allowed,
        )

    @staticmethod
    def _bases(field: str) -> tuple[type, ...]:
        if field == "env":
            import gymnasium as gym

            return (gym.Env,)
        if field == "callbacks_class":
            from tripod.callbacks.callbacks import RLlibCallback

            return (RLlibCallback,)
        return ()  # no other field holds a class tripod would load on its own

    # ---------------------------------------------------------------- env strings
    def check_env_string(self, env: str) -> None:
        """Refuse env strings that make gymnasium or tripod import a module the process has not imported."""
        from tripod.env.env_creation import _ENV_CREATORS, PETTINGZOO_PREFIX

        if self.trusted or env in _ENV_CREATORS:
            return
        if env.startswith(PETTINGZOO_PREFIX):
            module = env.removeprefix(PETTINGZOO_PREFIX)
            how = "tripod imports it and calls its parallel_env()/env()"
        elif ":" in env:
            module = env.partition(":")[0]
            how = "gymnasium imports it to find the env id"
        else:
            return  # a gymnasium id: looked up in gymnasium's registry (unknown ids fail later)
        if module not in sys.modules:
            raise untrusted(
                self.source,
                "env",
                env,
                f"it names module {module!r}, which is not imported in this process ({how})",
                f"config_overrides={{'env': {env!r}}} after importing {module!r} yourself",
            )

    # ---------------------------------------------------------------- module specs
    def spec(self, d: Any, field: str, override: Any = None) -> RLModuleSpec | MultiRLModuleSpec | None:
        if d is None:
            return None if override is None else RLModuleSpec(module_class=override)
        if not isinstance(d, dict):
            raise CheckpointError(f"{self.source}: the saved '{field}' is not a module spec; it is damaged.")
        if d.get("type") == "multi":
            return self._multi_spec(d, field, override)
        return self._single_spec(d, field, override)

    def _multi_spec(self, d: dict, field: str, override: Any) -> MultiRLModuleSpec:
        from tripod.core.rl_module.multi_rl_module import MultiRLModule

        per_id = override if isinstance(override, Mapping) else {}
        if isinstance(override, type) and issubclass(override, MultiRLModule):
            cls = override
        else:
            cls = self._module_class(d["multi_rl_module_class"], field, (MultiRLModule,))
        specs = d["rl_module_specs"]
        if not isinstance(specs, dict):
            raise CheckpointError(
                f"{self.source}: the saved '{field}' has no rl_module_specs table; damaged."
            )
        return MultiRLModuleSpec(
            multi_rl_module_class=cls,
            rl_module_specs={mid: self.spec(s, field, per_id.get(mid)) for mid, s in specs.items()},
        )

    def _single_spec(self, d: dict, field: str, override: Any) -> RLModuleSpec:
        from tripod.core.rl_module.rl_module import RLModule

        def space(s):
            return None if s is None else space_from_dict(s)

        load_state_path = d["load_state_path"]
        if load_state_path is not None and not self.trusted:
            load_state_path = None  # a path out of the checkpoint; the checkpoint's own weights replace it
        if not isinstance(d["model_config"], dict | None):
            raise CheckpointError(
                f"{self.source}: the saved '{field}' model_config is not an object; damaged."
            )
        return RLModuleSpec(
            module_class=override
            if isinstance(override, type)
            else self._module_class(d["module_class"], field, (RLModule,)),
            observation_space=space(d["observation_space"]),
            action_space=space(d["action_space"]),
            inference_only=bool(d["inference_only"]),
            learner_only=bool(d["learner_only"]),
            model_config=d["model_config"],
            load_state_path=load_state_path,
        )

    def _module_class(self, value: Any, field: str, bases: tuple[type, ...]) -> type | None:
        if value is None:
            return None
        if not (isinstance(value, dict) and _REF in value):
            raise CheckpointError(
                f"{self.source}: the saved '{field}' module class {value!r:.100} is damaged."
            )
        return self.resolve_class(value, field, bases, fix="module_class=YourModuleClass")

    def policies(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return self.deref(value, "policies")
        per_id = self.module_class if isinstance(self.module_class, Mapping) else {}
        return {mid: self.spec(spec, "policies", per_id.get(mid)) for mid, spec in value.items()}


def config_class_from_dict(d: Any, base: type, *, source: str = "checkpoint", trusted: bool = False) -> type:
    """The config class a saved config names, if it is ``base`` or a subclass (never imported unless ``trusted``)."""
    if not isinstance(d, dict) or "config_class" not in d:
        raise CheckpointError(f"{source}: the saved config has no 'config_class'; the checkpoint is damaged.")
    return resolve_class(
        d["config_class"],
        (base,),
        source=source,
        what="config class",
        fix="rebuild the config yourself: YourConfig().update_from_dict(...)",
        trusted=trusted,
    )


def config_from_dict(
    d: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    *,
    config_base: type,
    module_class: Any = None,
    trusted: bool = False,
    source: str = "checkpoint",
):
    """Rebuild a config saved by :func:`config_to_dict`; ``overrides`` replace saved fields.

    Args:
        d: The saved dict.
        config_base: The class the saved ``config_class`` must be or subclass (the
            algorithm's ``config_class``; ``AlgorithmConfig`` for any).
        overrides: Field values used instead of the saved ones (their saved values
            are not resolved at all).
        module_class: The RLModule class to use instead of the saved one (single
            agent), a MultiRLModule class, or ``{module_id: class}`` (multi-agent).
        trusted: Resolve every saved reference by importing it (old behaviour; only
            for configs from a source you trust).
        source: Where ``d`` comes from, for messages.

    Raises:
        CheckpointError: ``d`` is damaged, or names something the trust model refuses
            (``UntrustedCheckpointError``, naming the reference and the fixes).
    """
    overrides = dict(overrides or {})
    cls = config_class_from_dict(d, config_base, source=source, trusted=trusted)
    loader = _Loader(source, trusted, module_class)
    config = cls()
    names = {f.name for f in dataclasses.fields(config)}
    for name, value in d.items():
        if name == "config_class" or name not in names or name in overrides:
            continue
        try:
            setattr(config, name, _field_value(loader, name, value))
        except CheckpointError:
            raise
        except Exception as err:  # any other failure reading file data means the file is damaged
            raise CheckpointError(
                f"{source}: the saved config's '{name}' cannot be read ({type(err).__name__}: {err}); the "
                "checkpoint is damaged."
            ) from err
    if module_class is not None and "rl_module_spec" not in d and "rl_module_spec" not in overrides:
        config.rl_module_spec = loader.spec(None, "rl_module_spec", module_class)
    config.update_from_dict(overrides)
    return config


def _field_value(loader: _Loader, name: str, value: Any) -> Any:
    if name == "rl_module_spec":
        override = loader.module_class if not isinstance(loader.module_class, Mapping) else None
        if (
            isinstance(loader.module_class, Mapping)
            and isinstance(value, dict)
            and value.get("type") == "multi"
        ):
            override = loader.module_class
        return loader.spec(value, name, override)
    if name == "policies":
        return loader.policies(value)
    value = loader.deref(value, name)
    if name == "env" and isinstance(value, str):
        loader.check_env_string(value)
    return value
