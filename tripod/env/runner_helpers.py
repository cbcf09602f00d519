"""Pieces of :class:`~tripod.env.single_agent_env_runner.SingleAgentEnvRunner` that are not the sampling loop.

Building the runner's module, checking env outputs for NaN/inf, and turning the
filled :class:`~tripod.env.buffers.SampleBuffers` into a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.rl_module import RLModule, RLModuleSpec
from tripod.data.batch import tree_map
from tripod.env.action_sampler import ActionSampler
from tripod.env.buffers import SampleBuffers, first_nonfinite, leaves, tree_write
from tripod.env.env_checks import EnvAPIError

__all__ = [
    "EnvError",
    "assemble_batch",
    "build_runner_module",
    "check_positive_int",
    "check_finite_round",
    "check_finite_step",
    "copy_row",
    "episode_metrics",
    "loss_mask",
    "random_row",
    "sample_episodes",
]


class EnvError(RuntimeError):
    """An environment misbehaved while sampling: it raised, or returned NaN/inf."""


# ---------------------------------------------------------------------- module
def spaces_compatible(a: gym.Space, b: gym.Space) -> bool:
    """Whether a network built for space ``a`` can take values of space ``b`` (same kinds and sizes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Box | gym.spaces.MultiBinary):
        return a.shape == b.shape
    if isinstance(a, gym.spaces.Discrete):
        return int(a.n) == int(b.n)
    if isinstance(a, gym.spaces.MultiDiscrete):
        return a.nvec.shape == b.nvec.shape and bool(np.all(a.nvec == b.nvec))
    if isinstance(a, gym.spaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(spaces_compatible(a[k], b[k]) for k in a.spaces)
    if isinstance(a, gym.spaces.Tuple):
        return len(a.spaces) == len(b.spaces) and all(map(spaces_compatible, a.spaces, b.spaces))
    return a == b


def build_runner_module(
    module_spec: RLModuleSpec | None,
    module: RLModule | None,
    env_name: str,
    observation_space: gym.Space,
    action_space: gym.Space,
) -> RLModule:
    """The runner's module: ``module``, or ``module_spec`` built inference-only for the env's spaces.

    Raises:
        ValueError: neither or both given, or the module was built for other spaces.
    """
    if (module is None) == (module_spec is None):
        raise ValueError(
            "SingleAgentEnvRunner needs exactly one of module_spec= (an RLModuleSpec, built inference-only "
            "for the env's spaces) or module= (a built RLModule)."
        )
    if module is None:
        if not isinstance(module_spec, RLModuleSpec):
            raise TypeError(f"module_spec must be an RLModuleSpec, got {type(module_spec).__name__}.")
        module = dataclasses.replace(
            module_spec,
            inference_only=True,
            observation_space=module_spec.observation_space
            if module_spec.observation_space is not None
            else observation_space,
            action_space=module_spec.action_space if module_spec.action_space is not None else action_space,
        ).build()
    if not isinstance(module, RLModule):
        raise TypeError(f"module must be an RLModule, got {type(module).__name__}.")
    for what, module_space, env_space in (
        ("observation", module.observation_space, observation_space),
        ("action", module.action_space, action_space),
    ):
        if module_space is not None and not spaces_compatible(module_space, env_space):
            raise ValueError(
                f"{type(module).__name__} was built for the {what} space {module_space}, but env "
                f"'{env_name}' has the {what} space {env_space}. Build the module for the env's spaces: "
                f"leave RLModuleSpec.{what}_space as None and the runner fills it in."
            )
    return module


# ---------------------------------------------------------------------- checks
def check_positive_int(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def _float_leaves(tree: Any) -> list[np.ndarray]:
    return [x for x in leaves(tree) if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)]


def _nonfinite_error(env_name: str, what: str, sub_env: int, step: int, value: Any) -> EnvError:
    return EnvError(
        f"Env '{env_name}' returned a NaN or inf {what} in sub-env {sub_env} at step {step}: {value!r}. "
        "Check the env's step()/reset() for divisions by zero, overflows or uninitialised state, or wrap "
        "the env to clean its outputs. NaN/inf outputs stop sampling even with "
        "restart_failed_sub_environments=True, which restarts only envs that raise."
    )


def check_finite_step(env_name: str, obs: Any, reward: Any, step: int, *, at_reset: bool = False) -> None:
    """Raise :class:`EnvError` if one vector step's ``obs`` (``[N, ...]``) or ``reward`` has NaN/inf."""
    for leaf in _float_leaves(obs):
        if not np.isfinite(leaf).all():
            n = int(np.argwhere(~np.isfinite(leaf.reshape(leaf.shape[0], -1)).all(axis=1))[0, 0])
            what = "observation from reset()" if at_reset else "observation"
            raise _nonfinite_error(env_name, what, n, step, tree_map(lambda x, n=n: x[n], obs))
    if reward is not None and not np.isfinite(reward).all():
        n = int(np.flatnonzero(~np.isfinite(reward))[0])
        raise _nonfinite_error(env_name, "reward", n, step, reward[n])


def check_finite_round(env_name: str, bufs: SampleBuffers, final_obs: Mapping, first_step: int) -> None:
    """Raise :class:`EnvError` for the earliest NaN/inf observation or reward of a sampling round."""
    problems = []
    bad_obs = first_nonfinite(tree_map(lambda x: x[1:], bufs.obs))
    if bad_obs is not None:
        t, n = bad_obs
        problems.append((t, "observation", n, tree_map(lambda x: x[t + 1, n], bufs.obs)))
    if not np.isfinite(bufs.rewards).all():
        t, n = (int(i) for i in np.argwhere(~np.isfinite(bufs.rewards))[0])
        problems.append((t, "reward", n, bufs.rewards[t, n]))
    for (t, n), obs in final_obs.items():
        if any(not np.isfinite(x).all() for x in _float_leaves(obs)):
            problems.append((t, "final observation", n, obs))
    if problems:
        t, what, n, value = min(problems, key=lambda p: (p[0], p[2]))
        raise _nonfinite_error(env_name, what, n, first_step + t, value)


# ---------------------------------------------------------------------- batch
def copy_row(tree: Any, row: Any) -> Any:
    """A copy of ``tree[row]`` for every leaf."""
    return tree_map(lambda x: np.array(x[row]), tree)


def random_row(batched_action_space: gym.Space, bufs: SampleBuffers, t: int) -> Any:
    """Uniformly random actions for all sub-envs, written to row ``t``."""
    actions = batched_action_space.sample()
    tree_write(bufs.actions, t, actions)
    return actions


def loss_mask(
    dones: np.ndarray, cut: np.ndarray, prev_done: np.ndarray, same_step: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(mask [T, N], done flags to carry)``: rows that are real transitions.

    A NEXT_STEP vector env spends the step after an episode's end on the reset
    (the action is ignored), so that row is masked; rows at which the env was
    restarted (``cut``) are masked too.
    """
    if same_step:
        return ~cut, np.zeros_like(prev_done)
    ended = dones & ~cut
    reset_rows = np.empty_like(dones)
    reset_rows[0] = prev_done
    reset_rows[1:] = ended[:-1]
    return ~(reset_rows | cut), ended[-1].copy()


def episode_metrics(returns: list[float], lens: list[int]) -> dict[str, Any]:
    """Mean/min/max return, mean length and count of finished episodes (NaN when none)."""
    nan = float("nan")
    arr = np.asarray(returns, dtype=np.float64)
    return {
        "episode_return_mean": float(arr.mean()) if arr.size else nan,
        "episode_return_min": float(arr.min()) if arr.size else nan,
        "episode_return_max": float(arr.max()) if arr.size else nan,
        "episode_len_mean": float(np.mean(lens)) if lens else nan,
        "num_episodes": len(returns),
        "episode_returns": list(returns),
        "episode_lens": list(lens),
    }


def _bootstrap(
    bufs: SampleBuffers, final_obs: Mapping, cut: np.ndarray, same_step: bool
) -> tuple[Any, np.ndarray]:
    """Observations after every truncated row and after the last row of each sub-env."""
    T, N = bufs.num_steps, bufs.num_envs
    last_row = np.arange((T - 1) * N, T * N, dtype=np.int64)
    if not (bufs.truncateds[:-1].any() or cut[-1].any() or (same_step and final_obs)):
        return copy_row(bufs.obs, T), last_row  # no episode ended mid-fragment: the common short case
    t_idx, n_idx = np.nonzero(bufs.truncateds[:-1])
    t_idx = np.concatenate([t_idx, np.full(N, T - 1)])
    n_idx = np.concatenate([n_idx, np.arange(N)])
    # By default the next row holds the next observation (NEXT_STEP envs return the final
    # observation there); SAME_STEP envs report it in infos, and a restart cuts at the row itself.
    boot = tree_map(lambda x: x[t_idx + 1, n_idx], bufs.obs)
    dones = bufs.terminateds | bufs.truncateds
    special = cut[t_idx, n_idx] | (same_step & dones[t_idx, n_idx])
    for k in np.flatnonzero(special):
        t, n = int(t_idx[k]), int(n_idx[k])
        source = tree_map(lambda x, t=t, n=n: x[t, n], bufs.obs) if cut[t, n] else final_obs[(t, n)]
        tree_write(boot, k, source)
    return boot, (t_idx * N + n_idx).astype(np.int64)


def assemble_batch(
    bufs: SampleBuffers,
    mask: np.ndarray,
    cut: np.ndarray,
    plans_used: set,
    final_obs: Mapping,
    same_step: bool,
) -> dict[str, Any]:
    """Copy the filled buffers into a fresh batch dict (see ``SingleAgentEnvRunner.sample``)."""
    T = bufs.num_steps
    boot_obs, boot_index = _bootstrap(bufs, final_obs, cut, same_step)
    batch = {
        Columns.OBS: tree_map(lambda x: x[:T].copy(), bufs.obs),
        Columns.ACTIONS: tree_map(np.copy, bufs.actions),
        Columns.REWARDS: bufs.rewards.copy(),
        Columns.TERMINATEDS: bufs.terminateds.copy(),
        Columns.TRUNCATEDS: bufs.truncateds.copy(),
        Columns.LOSS_MASK: mask,
        "bootstrap_obs": boot_obs,
        "bootstrap_index": boot_index,
    }
    # A column is kept only when every output structure met in this round provided it.
    columns = frozenset.intersection(*(plan.columns for plan in plans_used)) if plans_used else frozenset()
    if Columns.ACTION_LOGP in columns and bufs.logp_from_logits.any():
        rows = bufs.logp_from_logits
        logits = bufs.columns[Columns.ACTION_DIST_INPUTS]
        logp = bufs.columns.get(Columns.ACTION_LOGP)
        if logp is None:
            logp = bufs.columns[Columns.ACTION_LOGP] = np.zeros(bufs.rewards.shape, dtype=np.float32)
        logp[rows] = ActionSampler.categorical_logp(logits[rows], bufs.actions[rows])
    for name in sorted(columns):
        batch[name] = bufs.columns[name].copy()
    if bufs.state is not None:
        batch[Columns.STATE_IN] = tree_map(lambda x: x[:T].copy(), bufs.state)
    return batch


# ---------------------------------------------------------------------- evaluation
class _EpisodeTally:
    """Per sub-env quotas, running returns and lengths of the episodes of ``sample(num_episodes=...)``."""

    def __init__(self, num_envs: int, num_episodes: int) -> None:
        self.quota = np.full(num_envs, num_episodes // num_envs)
        self.quota[: num_episodes % num_envs] += 1
        self.finished = np.zeros(num_envs, dtype=np.int64)
        self.ep_return, self.ep_len = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)
        self.prev_done = np.zeros(num_envs, dtype=bool)
        self.returns: list[float] = []
        self.lens: list[int] = []

    def running(self) -> bool:
        return bool((self.finished < self.quota).any())

    def cut(self, envs: Any) -> None:
        """Forget the running episodes of ``envs`` (their env was restarted)."""
        self.ep_return[envs], self.ep_len[envs] = 0.0, 0

    def step(
        self, reward: np.ndarray, done: np.ndarray, same_step: bool, rebuilt: np.ndarray | None
    ) -> np.ndarray:
        """Book one vector step; returns ``done`` less the sub-envs in ``rebuilt`` (their episodes are cut)."""
        real = np.ones(done.shape, dtype=bool) if same_step else ~self.prev_done
        self.ep_return += np.where(real, reward, 0.0)
        self.ep_len += real
        if rebuilt is not None:
            self.cut(rebuilt)
            done = done & ~rebuilt
        for n in np.flatnonzero(done & (self.finished < self.quota)):
            self.returns.append(float(self.ep_return[n]))
            self.lens.append(int(self.ep_len[n]))
            self.finished[n] += 1
        self.ep_return[done], self.ep_len[done] = 0.0, 0
        return done

    def results(self) -> dict[str, np.ndarray]:
        return {
            "episode_returns": np.asarray(self.returns, dtype=np.float64),
            "episode_lens": np.asarray(self.lens),
        }


def _eval_buffers(runner: Any) -> SampleBuffers:
    if runner._eval_bufs is None:
        runner._eval_bufs = SampleBuffers(
            1, runner.num_envs, runner.observation_space, runner.action_space,
            initial_state=runner._initial_state,
        )  # fmt: skip
    return runner._eval_bufs


def _eval_actions(runner: Any, bufs: SampleBuffers, explore: bool, random_actions: bool) -> Any:
    """The env actions of one evaluation step (row 0 of ``bufs``)."""
    bufs.new_round()
    if random_actions:
        return random_row(runner.env.action_space, bufs, 0)
    batch = {Columns.OBS: bufs.obs_row(0)}
    if runner._stateful:
        batch[Columns.STATE_IN] = bufs.state_rows[0]
    output = (runner.module.forward_exploration if explore else runner.module.forward_inference)(batch)
    env_actions = runner._plan(output, explore).apply(output, 0, bufs)
    return runner.connectors.to_env(env_actions) if runner.connectors.to_env_needed else env_actions


def _eval_env_step(runner: Any, tally: _EpisodeTally, bufs: SampleBuffers, env_actions: Any) -> tuple:
    """Step the env (restarting it if it fails and the runner may).

    Returns:
        ``(obs, reward, done, rebuilt)``: ``rebuilt`` is a mask of the sub-envs that
        ``SyncVectorEnv`` rebuilt in this step (their episodes are cut), or ``None``.
    """
    N, step = runner.num_envs, runner._vector_steps
    runner._vector_steps += 1
    restarted_all = False
    hooks = runner._episode_hooks
    try:
        obs, reward, terminated, truncated, infos = runner.env.step(env_actions)
        runner.check_obs(obs, "step")
    except EnvAPIError:
        raise  # the env breaks gymnasium's API: a restart would not help
    except Exception as exc:  # an env restart cuts the running episodes
        obs = runner._env_failure(exc, step)
        reward, terminated, truncated = np.zeros(N), np.zeros(N, bool), np.zeros(N, bool)
        restarted_all = True
        tally.cut(slice(None))
        tally.prev_done[:] = False
        bufs.reset_state(1, np.ones(N, dtype=bool))
        if hooks is not None:
            hooks.reset_all(obs)
    else:
        if hooks is not None:
            hooks.step(obs, env_actions, reward, terminated, truncated, infos, same_step=runner._same_step,
                       final_obs=final_observations(infos) if runner._same_step else {})  # fmt: skip
    check_finite_step(runner.env_name, obs, reward, step)
    rebuilt = getattr(runner.env, "restarted", None)
    mask = None
    if rebuilt:  # sub-envs rebuilt by SyncVectorEnv: their episodes are cut, not reported
        mask = np.isin(np.arange(N), rebuilt)
        bufs.reset_state(1, mask)
    if restarted_all:  # every episode was cut (the tally and the state are already reset)
        mask = np.ones(N, dtype=bool)
    return obs, reward, terminated | truncated, mask


def final_observations(infos: Any) -> dict[int, Any]:
    """``{sub-env index: final observation}`` from a same-step vector env's infos."""
    if not infos or "final_obs" not in infos:
        return {}
    return {int(n): tree_map(np.array, infos["final_obs"][n]) for n in np.flatnonzero(infos["_final_obs"])}


def sample_episodes(runner: Any, num_episodes: int, *, explore: bool, random_actions: bool) -> dict[str, Any]:
    """``SingleAgentEnvRunner.sample(num_episodes=...)``: reset, then run until the quotas are met.

    Sub-env ``i`` contributes ``num_episodes // N`` episodes (one more for the first
    ``num_episodes % N``), so envs that happen to play short episodes do not
    dominate. Episodes are returned in order of completion.
    """
    runner._reset_env()
    runner._needs_reset = True  # training sampling starts afresh afterwards
    tally = _EpisodeTally(runner.num_envs, num_episodes)
    bufs = _eval_buffers(runner)
    bufs.start_round(runner._obs_carry)
    with torch.no_grad():
        while tally.running():
            env_actions = _eval_actions(runner, bufs, explore, random_actions)
            obs, reward, raw_done, rebuilt = _eval_env_step(runner, tally, bufs, env_actions)
            done = tally.step(reward, raw_done, runner._same_step, rebuilt)
            if runner.connectors.active:  # statistics frozen (update=False)
                actions = copy_row(bufs.actions, 0)
                obs = runner.connectors.step(obs, actions, reward, raw_done, update=False, restarted=rebuilt)
            tree_write(bufs.obs, 0, obs)
            if runner._stateful:
                tree_write(bufs.state, 0, copy_row(bufs.state, 1))
                bufs.reset_state(0, done if runner._same_step else done | tally.prev_done)
            tally.prev_done = done.copy()
    return tally.results()
