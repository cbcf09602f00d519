"""What :meth:`Algorithm.compute_single_action`, :meth:`~Algorithm.compute_actions` and
:meth:`~Algorithm.predict` do, on top of :func:`tripod.data.inference.compute_actions`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from tripod.connectors.connector_v2 import StepInfo
from tripod.core.rl_module.rl_module import DEFAULT_MODULE_ID
from tripod.data.inference import compute_actions
from tripod.env.multi_agent_setup import make_default_mapping_fn, unknown_module_error


def pick_module_id(policy_id: str | None, module_id: str | None) -> str:
    """``module_id``, or RLlib's older name ``policy_id`` for it; ``default_policy`` if neither."""
    if policy_id is not None and module_id is not None and policy_id != module_id:
        raise ValueError(f"policy_id={policy_id!r} and module_id={module_id!r} disagree; pass one of them.")
    return module_id or policy_id or DEFAULT_MODULE_ID


def single_action(
    algo: Any, observation: Any, state: Any, module_id: str, explore: bool, full_fetch: bool
) -> Any:
    """RLlib's return convention: the action, or ``(action, state_out, {})``."""
    module = algo.get_module(module_id)
    observation = through_connectors(algo, observation, module_id)
    out = compute_actions(module, observation, explore=explore, state=state)
    if module.is_stateful():
        return out[0], out[1], {}
    return (out, [], {}) if full_fetch or state is not None else out


def agent_actions(algo: Any, observations: Mapping[Any, Any], explore: bool) -> dict[Any, Any]:
    """``{agent_id: action}`` for ``{agent_id: one observation}`` of a multi-agent config, each
    agent's module chosen by ``policy_mapping_fn`` (stateless modules only)."""
    module_ids = list(getattr(algo.module_spec, "rl_module_specs", None) or [DEFAULT_MODULE_ID])
    mapping_fn = algo.config.policy_mapping_fn or make_default_mapping_fn(module_ids)
    actions = {}
    for agent_id, obs in observations.items():
        module_id = mapping_fn(agent_id, None)
        if module_id not in module_ids:
            raise unknown_module_error(agent_id, module_id, module_ids)
        module = algo.get_module(module_id)
        if module.is_stateful():
            raise NotImplementedError(
                f"compute_actions() with {{agent_id: obs}} does not thread recurrent state (module "
                f"{module_id!r} is stateful); call it per module with module_id= and state=."
            )
        actions[agent_id] = compute_actions(module, through_connectors(algo, obs, module_id), explore=explore)
    return actions


def is_agent_dict(algo: Any, observations: Any, module_id: str | None) -> bool:
    """Whether ``observations`` is ``{agent_id: obs}``: a Mapping, a multi-agent config and no module named."""
    return module_id is None and isinstance(observations, Mapping) and algo.config.is_multi_agent


def _is_single(obs: Any, space: gym.Space) -> bool:
    """Whether ``obs`` is one observation of ``space`` (not a batch of them)."""
    if isinstance(space, gym.spaces.Dict):
        return all(_is_single(obs[key], sub) for key, sub in space.spaces.items())
    if isinstance(space, gym.spaces.Tuple):
        return all(_is_single(o, sub) for o, sub in zip(obs, space.spaces))
    return np.shape(obs) == tuple(space.shape)


def _map(fn: Any, tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _map(fn, v) for k, v in tree.items()}
    if isinstance(tree, tuple | list):
        return tuple(_map(fn, v) for v in tree)
    return fn(tree)


def through_connectors(algo: Any, observation: Any, module_id: str | None = None) -> Any:
    """``observation`` (one, or a batch) as the module sees it: through the env-to-module connectors
    with the runners' current statistics (unchanged without connectors); in a multi-agent run,
    through module ``module_id``'s pipeline.

    Raises:
        ValueError: The connectors keep per-episode memory (frame stacks, previous actions), which
            single observations cannot supply.
    """
    pipeline = algo.connector_pipeline(cached=True, module_id=module_id)  # rebuilt when the statistics change
    if pipeline is None:
        return observation
    if pipeline.per_episode_memory:
        names = [type(p).__name__ for p in pipeline.connectors if p.per_episode_memory]
        raise ValueError(
            f"The env-to-module connectors {names} build each observation from earlier steps of the episode, "
            "which a single observation does not carry. Use algo.evaluate() or `tripod evaluate` (the env "
            "runners keep that memory), or pass the observations the module sees (the pipeline's output)."
        )
    single = _is_single(observation, pipeline.input_observation_space)
    batch = _map(lambda x: np.asarray(x)[None], observation) if single else observation
    rows = len(next(iter(_leaves(batch))))
    out = pipeline(batch, StepInfo(starts=np.ones(rows, dtype=bool)))
    return _map(lambda x: x[0], out) if single else out


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, Mapping):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    if isinstance(tree, tuple | list):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [np.asarray(tree)]
