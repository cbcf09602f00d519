"""User mistakes found while cataloguing errors (docs/errors.md): one clear line, exit 2, no traceback."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tripod.cli import main
from tripod.core.networks.encoders import resolve_model_config
from tripod.env import register_env


def user_error(capsys, *argv) -> str:
    """``main(argv)`` returns 2 and prints one line starting with ``tripod: error:``."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tripod: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("algo", "env", "match"),
    [
        ("dqn", "Pendulum-v1", "DQN needs a Discrete action space, but the env has Box("),
        ("sac", "CartPole-v1", "SAC needs a Box action space, but the env has Discrete(2)"),
    ],
)
def test_an_algorithm_that_does_not_fit_the_env_is_one_line(capsys, tmp_path, algo, env, match):
    err = user_error(capsys, "train", algo, env, "--out", tmp_path / "run", "--stop-iters", 1)
    assert match in err, err


class _ShrinkingObsEnv(gym.Env):
    """Returns observations of the declared shape for 20 steps, then of another shape."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.zeros(4 if self.t < 20 else 2, np.float32)
        return obs, 1.0, False, self.t >= 30, {}


def test_an_env_that_breaks_its_space_mid_run_is_one_line(capsys, tmp_path):
    register_env("tripod_test_shrinking_obs", lambda config: _ShrinkingObsEnv())
    err = user_error(
        capsys,
        "train", "ppo", "tripod_test_shrinking_obs", "--out", tmp_path / "run", "--stop-iters", 3,
        "--num-envs", 1, "--set", "train_batch_size_per_learner=64", "--set", "minibatch_size=32",
    )  # fmt: skip
    assert "returned an observation of shape (2,) from step()" in err, err
    assert "Training stopped at iteration 0; no checkpoint was written." in err


@pytest.mark.parametrize(
    ("model_config", "match"),
    [
        (
            {"fcnet_activation": "relux"},
            r"model_config\['fcnet_activation'\] = 'relux' is not valid: Unknown",
        ),
        ({"fcnet_hiddens": [64, -1]}, r"= \[64, -1\] is not valid: expected a list of positive ints"),
        ({"conv_filters": [[16, 8]]}, r"is not valid: expected a list of \[out_channels, kernel, stride\]"),
        ({"use_lstm": "yes"}, r"model_config\['use_lstm'\] = 'yes' is not valid: expected True or False\.$"),
    ],
)
def test_bad_model_config_values_read_as_one_sentence(model_config, match):
    with pytest.raises(ValueError, match=match) as info:
        resolve_model_config(model_config)
    assert "; got" not in str(info.value) and ".." not in str(info.value)


class _NoSpacesEnv(gym.Env):
    """Forgot to declare observation_space / action_space."""

    def reset(self, *, seed=None, options=None):
        return np.zeros(4, np.float32), {}

    def step(self, action):
        return np.zeros(4, np.float32), 0.0, False, False, {}


def test_an_env_without_spaces_says_how_to_declare_them():
    from tripod.algorithms.ppo import PPOConfig
    from tripod.env.env_checks import EnvAPIError

    with pytest.raises(
        EnvAPIError, match=r"Env '_NoSpacesEnv' has no observation_space \(got none\)\. A gym"
    ):
        PPOConfig().environment(_NoSpacesEnv).build_algo()


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    """A finished one-iteration PPO CartPole run."""
    run = tmp_path_factory.mktemp("runs") / "run"
    argv = ["train", "ppo", "CartPole-v1", "--out", run, "--stop-iters", 1, "--num-envs", 1, "--no-preset",
            "--eval-episodes", 0, "--set", "train_batch_size_per_learner=64", "--set", "minibatch_size=32"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return run


def test_train_without_algo_and_env(capsys):
    assert "train needs ALGO and ENV (e.g. 'tripod train ppo CartPole-v1')" in user_error(capsys, "train")


def test_resume_with_another_algorithm_names_both(capsys, cartpole_run):
    err = user_error(capsys, "train", "dqn", "CartPole-v1", "--resume", cartpole_run, "--stop-iters", 2)
    assert f"{cartpole_run} is a ppo run, not dqn." in err


def test_evaluate_a_missing_path(capsys, tmp_path):
    assert f"{tmp_path / 'nope'} does not exist." in user_error(capsys, "evaluate", tmp_path / "nope")


def test_loading_the_wrong_kind_of_checkpoint_says_what_to_load_instead(cartpole_run, tmp_path):
    from tripod.algorithms.algorithm import Algorithm
    from tripod.core import RLModule
    from tripod.io.checkpoint import CheckpointError
    from tripod.run.run_dir import resolve_checkpoint

    ckpt = resolve_checkpoint(cartpole_run)
    with pytest.raises(
        CheckpointError, match=r"holds a 'algorithm' checkpoint, not a 'rl_module'\. It is an alg"
    ):
        RLModule.from_checkpoint(ckpt)
    module_dir = ckpt / "module" / "default_policy"
    assert RLModule.from_checkpoint(module_dir).observation_space.shape == (4,)  # where the message points
    with pytest.raises(
        CheckpointError, match=r"it is a module alone \(e\.g\. from tripod export\): load it with"
    ):
        Algorithm.from_checkpoint(module_dir)


def test_a_field_passed_to_a_method_that_sets_it_under_another_name():
    from tripod.algorithms.algorithm_config import UnknownSettingError
    from tripod.algorithms.ppo import PPOConfig

    with pytest.raises(
        UnknownSettingError,
        match=r"Did you mean 'metrics_num_episodes_for_smoothing'\? \('metrics_window' itself is a setting",
    ):
        PPOConfig().reporting(metrics_window=5)
    config = PPOConfig()
    config.metrics_window = 5  # what the message says to do instead
    assert config.metrics_window == 5
