"""DQN without training: config checks and the default module
(training: tests/integration/test_dqn_training.py)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.dqn import DefaultDQNTorchRLModule, DQNConfig
from tripod.core.columns import Columns


def tiny(**training) -> DQNConfig:
    """A DQN on CartPole that learns after 100 steps, 200 steps per iteration, small networks."""
    settings = {
        "train_batch_size_per_learner": 16,
        "replay_buffer_capacity": 2000,
        "num_steps_sampled_before_learning_starts": 100,
        "training_intensity": 0.25,
        "target_network_update_freq": 100,
        "epsilon": [[0, 1.0], [400, 0.1]],
        **training,
    }
    return (
        DQNConfig()
        .environment("CartPole-v1")
        .training(**settings)
        .reporting(min_sample_timesteps_per_iteration=200)
        .rl_module(model_config={"fcnet_hiddens": [16]})
        .debugging(seed=0)
    )


# ----------------------------------------------------------------------------------- config


def test_capacity_smaller_than_a_batch_is_a_config_error():
    config = tiny(replay_buffer_capacity=10, train_batch_size_per_learner=32)
    with pytest.raises(ConfigError, match=r"replay_buffer_capacity \(10\) is smaller than train_batch_size"):
        config.build_algo()


def test_config_values_are_checked():
    with pytest.raises(ConfigError, match="epsilon must be a probability"):
        DQNConfig().training(epsilon=[[0, 1.5]])
    with pytest.raises(ConfigError, match="td_error_loss_fn must be 'huber' or 'mse'"):
        DQNConfig().training(td_error_loss_fn="l1")
    with pytest.raises(ConfigError, match="training_intensity must be a number > 0"):
        DQNConfig().training(training_intensity=0)
    with pytest.raises(ConfigError, match="replay_buffer_config has no key 'size'"):
        DQNConfig().training(replay_buffer_config={"size": 10})
    config = DQNConfig().training(
        replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": 5000, "alpha": 0.5}
    )
    assert config.prioritized_replay and config.replay_buffer_capacity == 5000
    assert config.prioritized_replay_alpha == 0.5


def test_dqn_rejects_continuous_actions():
    with pytest.raises(ValueError, match=r"DQN needs a Discrete action space.*Box.*Use SAC"):
        DQNConfig().environment("Pendulum-v1").build_algo()


def test_default_module_dueling_and_greedy_inference():
    obs_space, act_space = gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(4)
    module = DefaultDQNTorchRLModule(observation_space=obs_space, action_space=act_space, model_config={})
    batch = {Columns.OBS: torch.randn(5, 3)}
    q = module.compute_q_values(batch)["qf_preds"]
    assert q.shape == (5, 4)
    torch.testing.assert_close(module.forward_inference(batch)[Columns.ACTIONS], q.argmax(-1))
    module.epsilon = 1.0
    actions = torch.cat([module.forward_exploration(batch)[Columns.ACTIONS] for _ in range(50)])
    assert set(actions.tolist()) == {0, 1, 2, 3}
    plain = DefaultDQNTorchRLModule(
        observation_space=obs_space, action_space=act_space, model_config={"dueling": False}
    )
    assert plain.qf.value is None and not plain.qf.dueling
