"""Episode callbacks inside a single-agent env runner: RLlib's ``on_episode_*`` hooks and episode views.

:class:`EpisodeHooks` is built only when a callbacks class overrides an episode hook; the
runner's sampling loop then hands it every vector step (one ``is None`` test per step
otherwise). It keeps one :class:`EpisodeView` per sub-env (the observations, actions,
rewards and infos of the running episode, as RLlib's ``SingleAgentEpisode`` reports them)
and calls, per sub-env, in RLlib's order: ``on_episode_created`` and ``on_episode_start``
when an episode begins (its first observation logged), ``on_episode_step`` after each step,
and ``on_episode_end`` after the last one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from tripod.data.batch import tree_map

__all__ = ["EpisodeHooks", "EpisodeView", "MultiAgentEpisodeHooks"]


def _pick(values: list[Any], indices: Any) -> Any:
    if indices is None:
        return list(values)
    if isinstance(indices, slice):
        return values[indices]
    if isinstance(indices, list | tuple):
        return [values[i] for i in indices]
    return values[indices]


class EpisodeView:
    """The running episode of one sub-env (RLlib's ``SingleAgentEpisode`` reading API).

    Attributes:
        id_: A unique id (hex string).
        env_index: The sub-env's index in the runner's vector env.
        custom_data: A dict for your own per-episode data (kept until the episode ends).
        is_terminated, is_truncated: How the episode ended (both False while it runs).
    """

    def __init__(self, env_index: int) -> None:
        self.id_ = uuid.uuid4().hex
        self.env_index = env_index
        self.custom_data: dict[str, Any] = {}
        self.is_terminated = self.is_truncated = False
        self._observations: list[Any] = []
        self._infos: list[dict[str, Any]] = []
        self._actions: list[Any] = []
        self._rewards: list[float] = []

    @property
    def is_done(self) -> bool:
        """Whether the episode terminated or was truncated."""
        return self.is_terminated or self.is_truncated

    @property
    def t(self) -> int:
        """Env steps taken so far."""
        return len(self._rewards)

    def __len__(self) -> int:
        return len(self._rewards)

    def env_steps(self) -> int:
        """Env steps taken so far (``len(episode)``)."""
        return len(self._rewards)

    def get_return(self) -> float:
        """The sum of the rewards so far."""
        return float(sum(self._rewards))

    def get_observations(self, indices: Any = None) -> Any:
        """The observations (the first one from ``reset()``; one more than the steps); ``indices``: an
        int (``-1``: the latest), a slice or a list of ints, None for all."""
        return _pick(self._observations, indices)

    def get_infos(self, indices: Any = None) -> Any:
        """The info dicts, aligned with :meth:`get_observations`."""
        return _pick(self._infos, indices)

    def get_actions(self, indices: Any = None) -> Any:
        """The actions taken (as sent to the env)."""
        return _pick(self._actions, indices)

    def get_rewards(self, indices: Any = None) -> Any:
        """The rewards received."""
        return _pick(self._rewards, indices)


def _sub_info(infos: Any, index: int) -> dict[str, Any]:
    """Sub-env ``index``'s entries of a vector env's info dict (``key`` where ``_key`` marks it)."""
    if not isinstance(infos, Mapping):
        return {}
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get("_" + key)
        if mask is None or bool(mask[index]):
            out[key] = value[index] if isinstance(value, np.ndarray | list | tuple) else value
    return out


class EpisodeHooks:
    """Calls a callbacks object's episode hooks for every sub-env of a runner.

    Args:
        callbacks: The callbacks (only the hooks in ``hooks`` are called).
        hooks: The hook names it overrides.
        runner: The env runner (passed as ``env_runner``; its ``env``, ``module`` and
            ``metrics`` are passed as ``env``, ``rl_module`` and ``metrics_logger``).
    """

    def __init__(self, callbacks: Any, hooks: frozenset[str], runner: Any) -> None:
        self.callbacks, self.hooks, self.runner = callbacks, hooks, runner
        self.episodes: list[EpisodeView | None] = [None] * runner.num_envs
        self._was_done = np.zeros(runner.num_envs, dtype=bool)  # done at the previous vector step

    def _call(self, hook: str, episode: EpisodeView) -> None:
        if hook in self.hooks:
            runner = self.runner
            getattr(self.callbacks, hook)(
                episode=episode, env_runner=runner, metrics_logger=runner.metrics, env=runner.env,
                env_index=episode.env_index, rl_module=runner.module,
            )  # fmt: skip

    def start(self, index: int, obs: Any, info: dict[str, Any] | None = None) -> None:
        """A new episode of sub-env ``index`` begins with observation ``obs``."""
        episode = self.episodes[index] = EpisodeView(index)
        self._call("on_episode_created", episode)
        episode._observations.append(obs)
        episode._infos.append(info or {})
        self._call("on_episode_start", episode)

    def reset_all(self, obs: Any, infos: Any = None) -> None:
        """Every sub-env was reset: each starts an episode with its row of ``obs``."""
        self._was_done[:] = False
        for n in range(len(self.episodes)):
            self.start(n, tree_map(lambda x, n=n: np.array(x[n]), obs), _sub_info(infos, n))

    def step(self, obs: Any, actions: Any, rewards: Any, terminated: Any, truncated: Any, infos: Any,
             *, same_step: bool, final_obs: dict[int, Any]) -> None:  # fmt: skip
        """One vector step: log it in each sub-env's episode and call the hooks.

        With next-step autoreset (``same_step`` False) a sub-env that was done at the previous
        step was reset by this one: ``obs`` is its new episode's first observation. With
        same-step autoreset a done sub-env's ``obs`` already is the next episode's first
        observation, and its last one is in ``final_obs`` (``{env_index: obs}``).
        """
        for n, episode in enumerate(self.episodes):
            row = tree_map(lambda x, n=n: np.array(x[n]), obs)
            info = _sub_info(infos, n)
            if episode is None or (not same_step and self._was_done[n]):
                self.start(n, row, info)
                continue
            done = bool(terminated[n] or truncated[n])
            episode._actions.append(tree_map(lambda x, n=n: np.array(x[n]), actions))
            episode._rewards.append(float(rewards[n]))
            episode._observations.append(final_obs.get(n, row) if done and same_step else row)
            episode._infos.append(info)
            episode.is_terminated, episode.is_truncated = bool(terminated[n]), bool(truncated[n])
            self._call("on_episode_step", episode)
            if done:
                self._call("on_episode_end", episode)
                self.episodes[n] = None
                if same_step:
                    self.start(n, row, info)
        self._was_done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)


class MultiAgentEpisodeHooks:
    """Calls a callbacks object's episode hooks for a multi-agent runner's env copies.

    The episodes are the runner's own :class:`~tripod.env.multi_agent_episode.MultiAgentEpisode`
    records, which then also log each step's ``{agent_id: ...}`` dicts (observations,
    actions, rewards, infos) for the callbacks to read.
    """

    def __init__(self, callbacks: Any, hooks: frozenset[str], runner: Any) -> None:
        self.callbacks, self.hooks, self.runner = callbacks, hooks, runner

    def _call(self, hook: str, episode: Any) -> None:
        if hook in self.hooks:
            runner = self.runner
            getattr(self.callbacks, hook)(
                episode=episode, env_runner=runner, metrics_logger=runner.metrics, env=runner.envs[episode.env_index],
                env_index=episode.env_index, rl_module=runner.module,
            )  # fmt: skip

    def start(self, episode: Any, obs: dict, infos: Any) -> None:
        """An env copy was reset: its new ``episode`` begins with ``obs``."""
        self._call("on_episode_created", episode)
        episode.log_step(obs, infos)
        self._call("on_episode_start", episode)

    def log(self, episode: Any, obs: dict, actions: dict, rewards: dict, infos: Any) -> None:
        """Record one env step of ``episode`` (before the runner books it)."""
        episode.log_step(obs, infos, actions, rewards)

    def stepped(self, episode: Any) -> None:
        """The step is booked and the episode goes on."""
        self._call("on_episode_step", episode)

    def ended(self, episode: Any, terminated: bool) -> None:
        """The step is booked and ended the episode (``"__all__"``)."""
        episode.is_terminated, episode.is_truncated = terminated, not terminated
        self._call("on_episode_step", episode)
        self._call("on_episode_end", episode)
