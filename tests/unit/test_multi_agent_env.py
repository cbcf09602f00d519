"""MultiAgentEnv base, make_multi_agent, the PettingZoo adapters and the ``pettingzoo:`` env ids."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tripod.env.env_creation import EnvCreationError, make_env_creator
from tripod.env.multi_agent_env import MultiAgentEnv
from tripod.env.wrappers.pettingzoo_env import ParallelPettingZooEnv, PettingZooEnv
from tripod.envs import MultiAgentCartPole


def test_multi_agent_env_has_no_single_spaces_and_says_what_to_do():
    env = MultiAgentCartPole()
    assert isinstance(env, MultiAgentEnv)
    with pytest.raises(AttributeError, match=r"multi-agent env.*\.multi_agent\(policies="):
        _ = env.observation_space


def test_make_multi_agent_agents_leave_one_by_one():
    env = MultiAgentCartPole({"num_agents": 2})
    obs, _ = env.reset(seed=0)
    assert set(obs) == {0, 1} and env.get_observation_space(0).shape == (4,)
    done_at, steps = {}, 0
    while True:
        steps += 1
        obs, rewards, terms, truncs, _ = env.step({i: 0 for i in env.agents})
        assert set(rewards) == set(obs)  # an agent is paid with its observation
        done_at.update({i: steps for i in obs if terms[i]})
        if terms["__all__"]:
            break
        assert not truncs["__all__"]
    assert set(done_at) == {0, 1} and env.agents == []


# ------------------------------------------------------------------ PettingZoo
def test_parallel_adapter_on_simple_spread():
    pytest.importorskip("mpe2")
    env = make_env_creator("pettingzoo:mpe2.simple_spread_v3", env_config={"max_cycles": 5})()
    assert isinstance(env, ParallelPettingZooEnv)
    assert env.get_agent_ids() == ["agent_0", "agent_1", "agent_2"]
    obs, _ = env.reset(seed=0)
    assert set(obs) == set(env.possible_agents) and obs["agent_0"].shape == (18,)
    for step in range(5):
        obs, rewards, terms, truncs, _ = env.step({a: 1 for a in env.agents})
        assert set(rewards) == set(obs)
        assert truncs["__all__"] == (step == 4) and not terms["__all__"]


def test_aec_adapter_returns_the_next_player_and_pays_both_at_the_end():
    tictactoe = pytest.importorskip("pettingzoo.classic.tictactoe_v3")
    env = PettingZooEnv(tictactoe.env())
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["player_1"]
    rng = np.random.default_rng(0)
    while True:
        (player,) = obs
        legal = np.flatnonzero(obs[player]["action_mask"])
        obs, rewards, terms, truncs, _ = env.step({player: int(rng.choice(legal))})
        if terms["__all__"] or truncs["__all__"]:
            break
        assert len(obs) == 1 and list(obs) != [player]  # turns alternate
    assert set(obs) == {"player_1", "player_2"}  # both get a last observation and their reward
    assert sum(rewards.values()) == 0


def test_creator_returning_a_pettingzoo_env_is_wrapped():
    tictactoe = pytest.importorskip("pettingzoo.classic.tictactoe_v3")
    env = make_env_creator(lambda config: tictactoe.env())()
    assert isinstance(env, PettingZooEnv)


def test_unknown_pettingzoo_module_says_how_to_name_it():
    pytest.importorskip("pettingzoo")
    with pytest.raises(EnvCreationError, match=r"cannot import the PettingZoo env module 'mpe2.nope_v0'"):
        make_env_creator("pettingzoo:mpe2.nope_v0")()


def test_missing_pettingzoo_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pettingzoo(name, *args, **kwargs):
        if name == "pettingzoo" or name.startswith("pettingzoo."):
            raise ImportError("No module named 'pettingzoo'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "pettingzoo", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pettingzoo)
    monkeypatch.setattr("importlib.import_module", lambda name: no_pettingzoo(name))
    with pytest.raises(EnvCreationError, match=r"pip install 'tripod-rl\[multiagent\]'"):
        make_env_creator("pettingzoo:mpe2.simple_spread_v3")()
