"""Pixel envs: MinAtar and ALE ids register themselves, Atari preprocessing and frame stacks feed the
default CNN, and a missing package is named with its install command."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tripod.algorithms.ppo import PPOConfig
from tripod.core.columns import Columns
from tripod.env import env_creation
from tripod.env.env_errors import UnknownEnvError

pytest.importorskip("minatar")


def _tiny(env: str, **env_kwargs) -> PPOConfig:
    return (
        PPOConfig()
        .environment(env, **env_kwargs)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [32], "vf_share_layers": True})
        .debugging(seed=0)
    )


def test_minatar_ids_register_themselves_and_train_with_a_cnn():
    algo = _tiny("MinAtar/Breakout-v1").env_runners(num_envs_per_env_runner=2).build()
    module = algo.get_module()
    assert module.observation_space.shape == (10, 10, 4)
    assert any(type(m).__name__ == "Conv2d" for m in module.modules())
    result = algo.train()
    assert result["env_runners"]["num_env_steps_sampled"] == 64
    algo.stop()


def test_atari_preprocessing_and_frame_stacking_feed_the_nature_cnn():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    config = _tiny("ALE/Pong-v5", env_config={"atari_preprocessing": True}).env_runners(
        num_envs_per_env_runner=1,
        env_to_module_connector=[{"type": "FrameStackingEnvToModule", "num_frames": 4}],
    )
    algo = config.build()
    module = algo.get_module()
    assert module.observation_space == gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
    convs = [m for m in module.modules() if type(m).__name__ == "Conv2d"]
    assert [c.kernel_size for c in convs] == [(8, 8), (4, 4), (3, 3)]  # the Nature-DQN stack for 84x84
    batch = algo.env_runner_group.sample(num_timesteps=32)["default_policy"]
    assert batch[Columns.OBS].shape == (32, 1, 84, 84, 4) and batch[Columns.OBS].dtype == np.uint8
    # The newest frame is the env's; at the start all four frames are the reset frame.
    first = batch[Columns.OBS][0, 0]
    assert all((first[..., k] == first[..., 3]).all() for k in range(3))
    algo.stop()


def test_a_missing_family_package_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setitem(env_creation.ENV_FAMILIES, "NoSuch/", ("tripod_no_such_package", "pip install nosuch"))
    with pytest.raises(UnknownEnvError, match="needs the tripod_no_such_package package: pip install nosuch"):
        env_creation.make_env_creator("NoSuch/Game-v0")


def test_atari_preprocessing_setting_is_checked():
    pytest.importorskip("ale_py")
    from tripod.env.env_errors import EnvCreationError

    with pytest.raises(EnvCreationError, match="atari_preprocessing"):
        env_creation.make_env_creator("ALE/Pong-v5", env_config={"atari_preprocessing": 3})()


def test_atari_preprocessing_uses_single_envs_even_where_ale_has_a_vector_env():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    venv = env_creation.make_vector_env("ALE/Pong-v5", env_config={"atari_preprocessing": True}, num_envs=8)
    try:
        assert venv.single_observation_space.shape == (84, 84)  # preprocessed, not ALE's own vector env
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (8, 84, 84) and obs.dtype == np.uint8
    finally:
        venv.close()
