"""Env creation: gymnasium ids, classes, creator functions, the name registry and errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from tripod.env import EnvCreationError, UnknownEnvError, make_vector_env, register_env, registered_envs
from tripod.env.vector_env import SyncVectorEnv


class ConfigEnv(gym.Env):
    """Takes RLlib-style ``config``; its observation is ``config["value"]``."""

    def __init__(self, config=None):
        self.value = float((config or {}).get("value", 0.0))
        self.observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([self.value], np.float32), {}

    def step(self, action):
        return np.array([self.value], np.float32), 1.0, True, False, {}


class KwargsEnv(ConfigEnv):
    """Takes keyword arguments instead of a config dict."""

    def __init__(self, value=0.0, scale=1.0):
        super().__init__({"value": value * scale})


def test_gym_id_sync_is_same_step_and_seeded():
    venv = make_vector_env("CartPole-v1", num_envs=3, vectorize_mode="sync", seed=1)
    assert isinstance(venv, SyncVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    first, _ = venv.reset(seed=7)
    first = first.copy()
    again, _ = venv.reset(seed=7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])  # sub-env i is seeded with seed + i
    venv.close()


def test_sync_env_puts_final_obs_in_infos():
    venv = make_vector_env(ConfigEnv, env_config={"value": 3.0}, num_envs=2, vectorize_mode="sync")
    venv.reset(seed=0)
    obs, rewards, terms, truncs, infos = venv.step(np.array([0, 1]))
    assert terms.tolist() == [True, True]
    assert infos["_final_obs"].tolist() == [True, True]
    np.testing.assert_array_equal(infos["final_obs"][1], [3.0])
    np.testing.assert_array_equal(obs, [[3.0], [3.0]])


def test_vector_mode_uses_vector_entry_point_and_falls_back():
    venv = make_vector_env("CartPole-v1", num_envs=4, vectorize_mode="vector")
    assert type(venv).__name__ == "CartPoleVectorEnv"
    venv.close()
    fallback = make_vector_env("Pendulum-v1", num_envs=2, vectorize_mode="vector")
    assert isinstance(fallback, SyncVectorEnv)
    fallback.close()
    auto_small = make_vector_env("CartPole-v1", num_envs=2)
    assert isinstance(auto_small, SyncVectorEnv)
    auto_small.close()


def test_async_mode():
    venv = make_vector_env("CartPole-v1", num_envs=2, vectorize_mode="async")
    try:
        assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (2, 4)
    finally:
        venv.close()


def test_env_class_gets_config_or_kwargs():
    venv = make_vector_env(ConfigEnv, env_config={"value": 2.0})
    assert venv.reset()[0].tolist() == [[2.0]]
    venv = make_vector_env(KwargsEnv, env_config={"value": 2.0, "scale": 3.0})
    assert venv.reset()[0].tolist() == [[6.0]]


def test_creator_function_and_register_env_by_name():
    register_env("tripod_test_config_env", lambda config: ConfigEnv(config))
    assert "tripod_test_config_env" in registered_envs()
    venv = make_vector_env("tripod_test_config_env", env_config={"value": 5.0}, num_envs=2)
    assert venv.reset()[0].tolist() == [[5.0], [5.0]]
    venv = make_vector_env(lambda config: ConfigEnv({"value": 1.5}))
    assert venv.reset()[0].tolist() == [[1.5]]


def test_unknown_id_suggests_close_names_and_register_env():
    with pytest.raises(UnknownEnvError) as info:
        make_vector_env("CartPol-v1")
    message = str(info.value)
    assert "Unknown env 'CartPol-v1'" in message
    assert "'CartPole-v1'" in message
    assert "register_env('CartPol-v1'" in message
    assert isinstance(info.value, ValueError)


def test_creation_errors_name_the_env():
    def broken(config):
        raise OSError("missing data file")

    with pytest.raises(
        EnvCreationError, match=r"Creating env 'test_creation_errors_name_the_env.<locals>.broken'"
    ):
        make_vector_env(broken)
    with pytest.raises(EnvCreationError, match=r"Creating env 'CartPole-v1' failed.*unexpected"):
        make_vector_env("CartPole-v1", env_config={"no_such_option": 1})
    register_env("tripod_test_not_an_env", lambda config: object())
    with pytest.raises(
        EnvCreationError, match="'tripod_test_not_an_env' returned object, not a gymnasium.Env"
    ):
        make_vector_env("tripod_test_not_an_env")


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        make_vector_env("CartPole-v1", num_envs=0)
    with pytest.raises(ValueError, match="vectorize_mode must be one of"):
        make_vector_env("CartPole-v1", vectorize_mode="threads")
    with pytest.raises(TypeError, match="creator must be callable"):
        register_env("x", 3)
