"""MultiAgentEnvRunner: batch layout, GAE for agents that act on some steps only (by hand), metrics, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.core import Columns, MultiRLModuleSpec, RLModule, RLModuleSpec, TorchRLModule
from tripod.core.apis import ValueFunctionAPI
from tripod.env.multi_agent_env import MultiAgentEnv
from tripod.env.multi_agent_env_runner import MultiAgentEnvRunner
from tripod.env.runner_helpers import EnvError
from tripod.envs import MultiAgentCartPole
from tripod.learner.advantages import estimate_advantages

OBS = gym.spaces.Box(-100.0, 100.0, (1,), np.float32)
ACT = gym.spaces.Discrete(2)


class TakeOne(TorchRLModule, ValueFunctionAPI):
    """Always picks action 1 (logits -20/+20); V(s) = s[0], so GAE can be worked out by hand."""

    forward_calls: list[int] = []

    def setup(self) -> None:
        self.bias = torch.nn.Parameter(torch.tensor([-20.0, 20.0]))

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        TakeOne.forward_calls.append(obs.shape[0])
        return {Columns.ACTION_DIST_INPUTS: self.bias.expand(obs.shape[0], 2)}

    def compute_values(self, batch, embeddings=None):
        return torch.as_tensor(batch[Columns.OBS])[:, 0]


class TakeTurns(MultiAgentEnv):
    """Agents "a" and "b" take turns for 5 env steps (a, b, a, b, a); the observation is the env step.

    The mover gets ``1 + action``, the waiting agent 10 (an opponent's move is worth
    something to it); each agent is paid, in one sum, with its next observation.
    After step 4 the episode terminates and both get their last observation.
    """

    def __init__(self, config=None):
        self.possible_agents = self.agents = ["a", "b"]
        self.observation_spaces = {a: OBS for a in self.possible_agents}
        self.action_spaces = {a: ACT for a in self.possible_agents}

    def reset(self, *, seed=None, options=None):
        self.t, self.owed = 0, {"a": 0.0, "b": 0.0}
        return {"a": np.array([0.0], np.float32)}, {}

    def step(self, action_dict):
        mover = "a" if self.t % 2 == 0 else "b"
        other = "b" if mover == "a" else "a"
        assert list(action_dict) == [mover]
        self.owed[mover] += 1.0 + action_dict[mover]
        self.owed[other] += 10.0
        self.t += 1
        done = self.t == 5
        show = ["a", "b"] if done else [other]
        obs = {ag: np.array([float(self.t)], np.float32) for ag in show}
        rewards = {ag: self.owed[ag] for ag in show}
        for ag in show:
            self.owed[ag] = 0.0
        flags = {ag: done for ag in show}
        return obs, rewards, {**flags, "__all__": done}, {"__all__": False}, {}


def _spec(*module_ids: str) -> MultiRLModuleSpec:
    return MultiRLModuleSpec(rl_module_specs={mid: RLModuleSpec(module_class=TakeOne) for mid in module_ids})


def _gae(rewards, values, next_values, terminal_last, gamma, lam):
    """Plain GAE over one agent's own steps."""
    adv, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        nv = 0.0 if (terminal_last and t == len(rewards) - 1) else next_values[t]
        delta = rewards[t] + gamma * nv - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv


def test_turn_taking_layout_and_gae_by_hand():
    runner = MultiAgentEnvRunner(TakeTurns, module_spec=_spec("shared"), seed=0)
    batch = runner.sample(num_timesteps=5)["shared"]  # exactly one episode
    # Column 0 is agent a (3 steps), column 1 agent b (2 steps, front-padded by one masked row).
    np.testing.assert_array_equal(batch[Columns.LOSS_MASK], [[True, False], [True, True], [True, True]])
    np.testing.assert_array_equal(batch[Columns.OBS][:, :, 0], [[0, 0], [2, 1], [4, 3]])
    # a: moves at steps 0, 2, 4 (2 each), paid 10 for each b move in between: 12, 12, 2.
    # b: moves at steps 1, 3 (2 each), paid 10 for a's next move: 12, 12.
    np.testing.assert_array_equal(batch[Columns.REWARDS], [[12, 0], [12, 12], [2, 12]])
    np.testing.assert_array_equal(batch[Columns.TERMINATEDS][-1], [True, True])
    np.testing.assert_array_equal(batch[Columns.ACTIONS][batch[Columns.LOSS_MASK]], 1)

    gamma, lam = 0.9, 0.8
    out = estimate_advantages(runner.module["shared"], batch, use_critic=True, gamma=gamma, lambda_=lam)
    # a: V = s = 0, 2, 4; its next observations are 2, 4 (its own next turns), then terminal.
    expected_a = _gae([12, 12, 2], [0, 2, 4], [2, 4, 5], True, gamma, lam)
    expected_b = _gae([12, 12], [1, 3], [3, 5], True, gamma, lam)
    np.testing.assert_allclose(out[Columns.ADVANTAGES][:, 0], expected_a, rtol=1e-5)
    np.testing.assert_allclose(out[Columns.ADVANTAGES][1:, 1], expected_b, rtol=1e-5)
    # By hand for a: deltas 12 + .9*2 - 0 = 13.8, 12 + .9*4 - 2 = 13.6, 2 - 4 = -2.
    np.testing.assert_allclose(
        expected_a, [13.8 + 0.72 * (13.6 + 0.72 * -2), 13.6 + 0.72 * -2, -2], rtol=1e-6
    )

    metrics = runner.get_metrics()
    assert metrics["agent_episode_returns"] == {"a": [26.0], "b": [34.0]}  # b's first 10 comes before it acts
    assert metrics["episode_returns"] == [60.0] and metrics["episode_lens"] == [5]
    assert metrics["num_agent_steps_sampled"] == 5 and metrics["num_env_steps_sampled"] == 5


def test_rows_waiting_for_the_next_observation_carry_over_fragments():
    runner = MultiAgentEnvRunner(
        TakeTurns, module_spec=_spec("a", "b"), seed=0
    )  # default map: agent -> module
    first = runner.sample(num_timesteps=3)  # a, b, a moved; a waits for b, b has not moved again
    assert first["a"][Columns.REWARDS].tolist() == [[12.0]]
    assert first["b"][Columns.REWARDS].tolist() == [[12.0]]
    # The bootstrap observation is the agent's own next observation, not the env's latest.
    assert first["a"]["bootstrap_obs"].tolist() == [[2.0]]
    assert first["b"]["bootstrap_obs"].tolist() == [[3.0]]
    second = runner.sample(num_timesteps=2)
    assert second["a"][Columns.OBS][:, 0, 0].tolist() == [2.0, 4.0]
    assert second["a"][Columns.REWARDS][:, 0].tolist() == [12.0, 2.0]
    assert second["b"][Columns.OBS][:, 0, 0].tolist() == [3.0]
    assert second["b"][Columns.TERMINATEDS].tolist() == [[True]]


def test_one_forward_per_module_and_step_across_agents_and_env_copies():
    TakeOne.forward_calls.clear()
    runner = MultiAgentEnvRunner(
        MultiAgentCartPole, env_config={"num_agents": 3}, module_spec=_spec("shared"), num_envs=2
    )
    runner.sample(num_timesteps=2)
    assert TakeOne.forward_calls == [6]  # 3 agents x 2 copies in one call


class JoinAndLeave(MultiAgentEnv):
    """Agent "x" plays 6 steps (then truncated); "y" joins at step 2 and terminates after step 4."""

    def __init__(self, config=None):
        self.possible_agents = ["x", "y"]
        self.observation_spaces = {a: OBS for a in self.possible_agents}
        self.action_spaces = {a: ACT for a in self.possible_agents}

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return {"x": np.array([0.0], np.float32)}, {}

    def step(self, action_dict):
        self.t += 1
        obs = {"x": np.array([self.t], np.float32)}
        if self.t in (2, 3, 4):
            obs["y"] = np.array([10.0 + self.t], np.float32)
        rewards = {ag: 1.0 for ag in obs}
        terminateds = {"y": self.t == 4, "__all__": False}
        truncateds = {"__all__": self.t == 6}
        return obs, rewards, terminateds, truncateds, {}


def test_agents_joining_and_leaving_and_truncation_bootstrap():
    runner = MultiAgentEnvRunner(JoinAndLeave, module_spec=_spec("x", "y"), seed=0)
    batch = runner.sample(num_timesteps=6)
    x, y = batch["x"], batch["y"]
    assert x[Columns.OBS][:, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert x[Columns.TRUNCATEDS][:, 0].tolist() == [False] * 5 + [True]
    assert x["bootstrap_obs"].tolist() == [[6.0]]  # the last observation of the truncated episode
    assert y[Columns.OBS][:, 0, 0].tolist() == [12.0, 13.0]  # acts at steps 2 and 3 only
    assert y[Columns.TERMINATEDS][:, 0].tolist() == [False, True]
    metrics = runner.get_metrics()
    assert metrics["agent_episode_returns"] == {"x": [6.0], "y": [3.0]}
    assert metrics["module_episode_returns"] == {"x": [6.0], "y": [3.0]}


def test_mapping_fn_is_asked_once_per_agent_and_episode():
    calls = []

    def mapping(agent_id, episode, **kwargs):
        calls.append((agent_id, episode.id_))
        return "shared"

    runner = MultiAgentEnvRunner(TakeTurns, module_spec=_spec("shared"), policy_mapping_fn=mapping)
    calls.clear()  # the runner probed every possible agent once to find the modules' spaces
    runner.sample(num_timesteps=10)  # two episodes
    assert [agent for agent, _ in calls] == ["a", "b", "a", "b", "a"]  # the third episode has begun
    assert len({episode_id for _, episode_id in calls}) == 3


def test_evaluation_episodes_and_random_actions():
    runner = MultiAgentEnvRunner(MultiAgentCartPole, module_spec=_spec("0", "1"), num_envs=2, seed=0)
    out = runner.sample(num_episodes=3, explore=False)
    assert len(out["episode_returns"]) == 3 and set(out["agent_episode_returns"]) == {"0", "1"}
    np.testing.assert_allclose(
        out["episode_returns"], np.add(out["agent_episode_returns"]["0"], out["agent_episode_returns"]["1"])
    )
    batch = runner.sample(num_timesteps=20, random_actions=True)
    assert set(batch) == {"0", "1"}


# ------------------------------------------------------------------ bad input
def test_mapping_to_an_unknown_module_names_agent_and_id():
    with pytest.raises(ValueError, match=r"agent 'a' to module 'nobody'.*modules are \['shared'\]"):
        MultiAgentEnvRunner(
            TakeTurns, module_spec=_spec("shared"), policy_mapping_fn=lambda a, e, **k: "nobody"
        )


def test_agent_space_that_does_not_fit_its_module():
    spec = MultiRLModuleSpec(
        rl_module_specs={
            "shared": RLModuleSpec(module_class=TakeOne, observation_space=gym.spaces.Box(-1, 1, (3,)))
        }
    )
    with pytest.raises(
        ValueError, match=r"Agent 'a' has the observation space Box.*does not fit module 'shared'"
    ):
        MultiAgentEnvRunner(TakeTurns, module_spec=spec)


class WrongShape(TakeTurns):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"a": np.zeros(4, np.float32)}, {}


def test_observation_that_does_not_fit_the_space_at_runtime():
    runner = MultiAgentEnvRunner(WrongShape, module_spec=_spec("shared"))
    with pytest.raises(
        ValueError, match=r"observation for agent 'a' that does not fit.*module 'shared'.*\(4,\)"
    ):
        runner.sample(num_timesteps=1)


class PaysTheWaitingAgent(TakeTurns):
    def step(self, action_dict):
        obs, rewards, terms, truncs, infos = super().step(action_dict)
        waiting = "a" if "a" not in obs else "b"
        return obs, {**rewards, waiting: 1.0}, terms, truncs, infos


def test_rewards_for_agents_without_observation():
    runner = MultiAgentEnvRunner(PaysTheWaitingAgent, module_spec=_spec("shared"))
    with pytest.raises(EnvError, match=r"rewards for agents \['a'\] but no observation"):
        runner.sample(num_timesteps=2)


class Heuristic(RLModule):
    """A non-torch module: always action 0."""

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: np.zeros(len(batch[Columns.OBS]), dtype=np.int64)}


def test_non_torch_module_acts_and_batches_have_no_logp():
    spec = MultiRLModuleSpec(
        rl_module_specs={"a": RLModuleSpec(module_class=Heuristic), "b": RLModuleSpec(module_class=TakeOne)}
    )
    runner = MultiAgentEnvRunner(TakeTurns, module_spec=spec, seed=0)
    batch = runner.sample(num_timesteps=5)
    assert batch["a"][Columns.ACTIONS].tolist() == [[0], [0], [0]]
    assert Columns.ACTION_LOGP not in batch["a"] and Columns.ACTION_LOGP in batch["b"]
