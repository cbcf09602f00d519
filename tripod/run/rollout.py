"""Greedy episodes with a trained module in one (rendered) environment, for videos and viewing.

Training and ordinary evaluation go through the env runners; this small loop
exists for rendering, where one env with a ``render_mode`` is wanted.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.connectors.connector_v2 import StepInfo
from tripod.data.inference import compute_actions


def make_render_env(config: Any, render_mode: str, *, video_dir: str | None = None) -> gym.Env:
    """The config's environment with ``render_mode``; wrapped in ``RecordVideo`` when ``video_dir`` is given.

    ``render_mode`` is added to ``config.env_config`` (``gym.make`` keyword arguments
    for gymnasium ids; a custom env class or creator must accept it there).

    Args:
        config: An algorithm config (its ``env`` and ``env_config`` are used).
        render_mode: ``"rgb_array"`` or ``"human"``.
        video_dir: Record every episode as an mp4 here (needs moviepy).
    """
    from tripod.env.env_creation import make_env_creator

    env = make_env_creator(config.env, env_config={**config.env_config, "render_mode": render_mode})()
    if video_dir is not None:
        from gymnasium.wrappers import RecordVideo

        env = RecordVideo(
            env, video_dir, episode_trigger=lambda _: True, name_prefix="eval", disable_logger=True
        )
    return env


def _env_action(action: Any, space: gym.Space) -> Any:
    """An action of :func:`~tripod.data.inference.compute_actions` (one observation's, already
    clipped into a Box) in the form ``space`` expects."""
    if isinstance(space, gym.spaces.Discrete):
        return int(action)
    if isinstance(space, gym.spaces.Box):
        return np.asarray(action, dtype=space.dtype)
    return action


def _connected(pipeline: Any, obs: Any, action: Any, reward: Any) -> Any:
    """One observation through an env-to-module pipeline for one env (``action`` None: an episode starts)."""
    if pipeline is None:
        return obs

    def batch(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: batch(v) for k, v in x.items()}
        if isinstance(x, tuple):
            return tuple(batch(v) for v in x)
        return np.asarray(x)[None]

    def first(x: Any) -> Any:
        return {k: first(v) for k, v in x.items()} if isinstance(x, dict) else x[0]

    start = action is None
    info = StepInfo(
        starts=np.array([start]),
        prev_actions=None if start else batch(action),
        prev_rewards=None if start else np.array([reward], dtype=np.float32),
    )
    return first(pipeline(batch(obs), info))


@torch.no_grad()
def greedy_episodes(
    module: Any, env: gym.Env, num_episodes: int, *, seed: int | None = None, connectors: Any = None
) -> list[float]:
    """Run ``num_episodes`` episodes with ``module.forward_inference``; returns their returns.

    Actions are the module's ``actions`` output if it has one, else the mode of the
    distribution built from ``action_dist_inputs`` (:func:`~tripod.data.inference.compute_actions`);
    a recurrent module starts each episode from its initial state and carries it on.

    Args:
        module: A single-agent RLModule.
        env: A gymnasium env (one, not vectorised).
        num_episodes: How many episodes.
        seed: Episode ``i`` resets with ``seed + i`` (None: unseeded).
        connectors: The run's env-to-module pipeline for one env (``Algorithm.connector_pipeline()``),
            applied to every observation, or None.
    """
    stateful = module.is_stateful()
    returns = []
    for i in range(num_episodes):
        obs, _ = env.reset(seed=None if seed is None else seed + i)
        total, done, state, seen = 0.0, False, None, _connected(connectors, obs, None, None)
        while not done:
            action = compute_actions(module, seen, explore=False, state=state)
            if stateful:
                action, state = action
            obs, reward, terminated, truncated, _ = env.step(_env_action(action, env.action_space))
            seen = _connected(connectors, obs, action, reward)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns
