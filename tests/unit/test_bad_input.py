"""Bad input that used to be accepted silently or to end in a raw traceback (issue 9 §3).

Observations that do not fit the declared space, envs written for the old gym API,
impossible config values, typos in config names, replay buffers bigger than the
machine and value functions of the wrong shape: each gets a clear error (or one
warning) that names what was wrong and how to fix it.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.dqn.dqn import DQNConfig
from tripod.algorithms.pg.pg import PGConfig
from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.algorithms.sac.sac import SACConfig
from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.apis import ValueFunctionAPI
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.data.prioritized_replay_buffer import PrioritizedReplayBuffer
from tripod.data.replay_buffer import ReplayBuffer, ReplayBufferMemoryError
from tripod.env import SingleAgentEnvRunner, make_vector_env
from tripod.env.env_checks import ObservationSpaceError, ObservationWarning, OldGymAPIError
from tripod.env.vector_env import SyncVectorEnv


# ============================================================================ observations
class ObsEnv(gym.Env):
    """Declares ``Box(-1, 1, (4,), float32)`` and returns ``make_obs(t)`` at step ``t`` (0: reset)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)
    make_obs = staticmethod(lambda t: np.zeros(4, np.float32))

    def __init__(self, config=None):
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.make_obs(0), {}

    def step(self, action):
        self.t += 1
        return self.make_obs(self.t), 1.0, False, self.t >= 5, {}


def obs_env(fn, name):
    return type(name, (ObsEnv,), {"make_obs": staticmethod(fn)})


class Linear(TorchRLModule):
    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def runner(env, **kwargs):
    kwargs.setdefault("vectorize_mode", "sync")
    return SingleAgentEnvRunner(env, module_spec=RLModuleSpec(module_class=Linear), seed=0, **kwargs)


def test_obs_of_the_wrong_shape_at_reset_is_an_error():
    env = obs_env(lambda t: np.zeros(1, np.float32), "ShortObsEnv")
    venv = SyncVectorEnv([env, env], name="ShortObsEnv")
    with pytest.raises(ObservationSpaceError, match=r"Env 'ShortObsEnv' returned an observation of shape \(1,\)"
                       r" from reset\(\) in sub-env 0.*expects shape \(4,\)"):  # fmt: skip
        venv.reset(seed=0)


def test_obs_of_the_wrong_shape_at_step_is_an_error_through_the_runner():
    env = obs_env(lambda t: np.zeros(4 if t < 3 else 2, np.float32), "ShrinkingEnv")
    r = runner(env, num_envs=2)
    with pytest.raises(ObservationSpaceError, match=r"shape \(2,\) from step\(\) in sub-env 0.*\(4,\)"):
        r.sample(num_timesteps=20)
    r.stop()


class ShortVectorEnv(gym.vector.VectorEnv):
    """A native vector env that declares Box(4,) observations but returns [N, 1] after the reset."""

    def __init__(self, num_envs=2, **kwargs):
        self.num_envs = num_envs
        self.single_observation_space = ObsEnv.observation_space
        self.single_action_space = ObsEnv.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def reset(self, *, seed=None, options=None):
        return np.zeros((self.num_envs, 4), np.float32), {}

    def step(self, actions):
        z = np.zeros(self.num_envs)
        return np.zeros((self.num_envs, 1), np.float32), z, z.astype(bool), z.astype(bool), {}


gym.register("TripodTestShortVector-v0", entry_point=ObsEnv, vector_entry_point=ShortVectorEnv)


def test_obs_of_the_wrong_shape_from_a_native_vector_env_is_an_error():
    r = runner("TripodTestShortVector-v0", num_envs=2, vectorize_mode="vector")
    assert isinstance(r.env, ShortVectorEnv)
    with pytest.raises(ObservationSpaceError, match=r"Env 'TripodTestShortVector-v0' returned observations of "
                       r"shape \(2, 1\) from step\(\).*expects \(2, 4\)"):  # fmt: skip
        r.sample(num_timesteps=4)
    r.stop()


class Float64VectorEnv(ShortVectorEnv):
    def step(self, actions):
        z = np.zeros(self.num_envs)
        return np.zeros((self.num_envs, 4), np.float64), z, z.astype(bool), z.astype(bool), {}


gym.register("TripodTestFloat64Vector-v0", entry_point=ObsEnv, vector_entry_point=Float64VectorEnv)


def test_obs_of_another_dtype_from_a_native_vector_env_warn_once():
    r = runner("TripodTestFloat64Vector-v0", num_envs=2, vectorize_mode="vector")
    with pytest.warns(ObservationWarning, match=r"Env 'TripodTestFloat64Vector-v0' returned float64 "
                      r"observations from step\(\), but its observation_space declares float32") as record:  # fmt: skip
        r.sample(num_timesteps=20)
    assert sum(issubclass(w.category, ObservationWarning) for w in record) == 1
    r.stop()


class DictObsEnv(ObsEnv):
    observation_space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (3,), np.float32)})

    def reset(self, *, seed=None, options=None):
        return {"pos": np.zeros(2, np.float32)}, {}


def test_a_nested_obs_leaf_of_the_wrong_shape_is_an_error():
    venv = SyncVectorEnv([DictObsEnv], name="DictObsEnv")
    with pytest.raises(ObservationSpaceError, match=r"Env 'DictObsEnv': the observation from reset\(\) in "
                       r"sub-env 0\['pos'\] has shape \(2,\), but the observation_space expects \(3,\)"):  # fmt: skip
        venv.reset(seed=0)


class ShortObsEnv(ObsEnv):
    make_obs = staticmethod(lambda t: np.zeros(1, np.float32))


def test_obs_of_the_wrong_shape_in_async_workers_is_an_error():
    venv = make_vector_env(ShortObsEnv, num_envs=2, vectorize_mode="async")
    try:
        with pytest.raises(ObservationSpaceError, match=r"Env 'ShortObsEnv' returned an observation of "
                           r"shape \(1,\) from reset\(\).*expects shape \(4,\)"):  # fmt: skip
            venv.reset(seed=0)
    finally:
        venv.close(terminate=True)


def test_old_gym_api_in_async_workers_is_an_error():
    venv = make_vector_env(OldStepEnv, num_envs=1, vectorize_mode="async")
    try:
        venv.reset(seed=0)
        with pytest.raises(
            OldGymAPIError, match=r"Env 'OldStepEnv' uses the pre-0.26 gym API: step\(\) returned 4"
        ):
            venv.step(np.zeros(1, np.int64))
    finally:
        venv.close(terminate=True)


@pytest.mark.parametrize(
    ("make", "got"),
    [
        (lambda t: np.zeros(4, np.float64), "float64 observations"),
        (lambda t: np.zeros(4, np.int64), "int64 observations"),
        (lambda t: [0.0, 0.0, 0.0, 0.0], "observations as a list"),
    ],
)
def test_obs_of_another_dtype_warn_once(make, got):
    env = obs_env(make, "CastEnv")
    venv = SyncVectorEnv([env, env], name="CastEnv")
    with pytest.warns(ObservationWarning) as record:
        venv.reset(seed=0)
        for _ in range(6):
            venv.step(np.zeros(2, np.int64))
    messages = [str(w.message) for w in record if issubclass(w.category, ObservationWarning)]
    assert len(messages) == 1, messages
    assert f"Env 'CastEnv' returned {got} from reset(), but its observation_space" in messages[0]
    assert "declares float32; tripod casts them to float32" in messages[0]
    assert venv.reset(seed=0)[0].dtype == np.float32


def test_obs_outside_the_bounds_warn_once():
    env = obs_env(lambda t: np.full(4, 0.5 * t, np.float32), "DriftEnv")
    r = runner(env, num_envs=2)
    with pytest.warns(ObservationWarning, match=r"Env 'DriftEnv' returned observations outside its "
                      r"observation_space.*1\.5 at index"):  # fmt: skip
        r.sample(num_timesteps=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ObservationWarning)
        r.sample(num_timesteps=20)  # once only
    r.stop()


def test_good_obs_give_no_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = runner("CartPole-v1", num_envs=2)
        batch = r.sample(num_timesteps=400)
        r.stop()
    assert not [w for w in caught if issubclass(w.category, ObservationWarning)]
    assert batch[Columns.OBS].shape == (200, 2, 4)  # the whole sample was taken
    assert batch[Columns.TERMINATEDS].any()  # including resets, where a bad first obs would show


# ============================================================================ old gym API
class OldResetEnv(ObsEnv):
    def reset(self, *, seed=None, options=None):
        return np.zeros(4, np.float32)  # gym < 0.26: no info


class OldStepEnv(ObsEnv):
    def step(self, action):
        return np.zeros(4, np.float32), 1.0, False, {}  # gym < 0.26: one done flag


class NoSeedResetEnv(ObsEnv):
    def reset(self):  # gym < 0.22: seed() is a separate method
        return np.zeros(4, np.float32)


@pytest.mark.parametrize("env", [OldResetEnv, OldStepEnv, NoSeedResetEnv])
def test_old_gym_api_envs_get_a_clear_error(env):
    with pytest.raises(OldGymAPIError) as info:
        venv = make_vector_env(env, num_envs=2, vectorize_mode="sync")
        venv.reset(seed=0)
        venv.step(np.zeros(2, np.int64))
    msg = str(info.value)
    assert f"Env '{env.__name__}'" in msg and "pre-0.26 gym API" in msg
    assert (
        "reset() returns (obs, info)" in msg
        and "step() returns (obs, reward, terminated, truncated, info)" in msg
    )
    assert "shimmy" in msg


def test_old_gym_api_is_detected_behind_gymnasium_wrappers():
    env = gym.wrappers.TimeLimit(OldStepEnv(), max_episode_steps=10)
    venv = SyncVectorEnv([lambda: env], name="wrapped")
    venv.reset(seed=0)
    with pytest.raises(OldGymAPIError, match=r"Env 'wrapped'.*step\(\) returned 4 values"):
        venv.step(np.zeros(1, np.int64))


# ============================================================================ config values
@pytest.mark.parametrize(
    ("config", "match"),
    [
        (lambda: PPOConfig().training(lr=float("nan")), r"lr must be a finite number, got nan"),
        (lambda: PPOConfig().training(lr=float("inf")), r"lr must be a finite number, got inf"),
        (lambda: PPOConfig().training(lr=[[0, 1e-3], [100, float("nan")]]), r"lr .*finite"),
        (lambda: PPOConfig().training(gamma=float("nan")), r"gamma must be a finite number, got nan"),
        (lambda: PPOConfig().training(grad_clip=float("inf")), r"grad_clip must be a finite number"),
        (lambda: PPOConfig().training(clip_param=float("nan")), r"clip_param must be a finite number"),
        (lambda: PPOConfig().training(entropy_coeff=-0.1), r"entropy_coeff must be >= 0"),
        (lambda: PPOConfig().training(kl_target=0), r"kl_target must be a number > 0"),
        (lambda: PGConfig().training(vf_loss_coeff=float("inf")), r"vf_loss_coeff must be a finite number"),
        (lambda: DQNConfig().training(tau=float("nan")), r"tau must be a finite number"),
        (lambda: DQNConfig().training(epsilon=float("nan")), r"epsilon must be a finite number"),
        (
            lambda: DQNConfig().training(training_intensity=float("inf")),
            r"training_intensity must be a finite",
        ),
        (lambda: SACConfig().training(actor_lr=float("inf")), r"actor_lr must be a finite number"),
        (
            lambda: SACConfig().training(target_entropy=float("nan")),
            r"target_entropy must be a finite number",
        ),
        (lambda: SACConfig().training(initial_alpha=0), r"initial_alpha must be a number > 0"),
        (lambda: PPOConfig().training(train_batch_size_per_learner=2.5), r"must be an int >= 1, got 2.5"),
        (
            lambda: PPOConfig().environment(42),
            r"env must be a gymnasium id such as 'CartPole-v1', an env class",
        ),
        (
            lambda: PPOConfig().env_runners(num_envs_per_env_runner=0),
            r"num_envs_per_env_runner must be an int >= 1",
        ),
        (
            lambda: PPOConfig().evaluation(evaluation_duration=float("inf")),
            r"evaluation_duration must be a finite",
        ),
        (
            lambda: DQNConfig().training(replay_buffer_config={"capacity": float("nan")}),
            r"replay_buffer_capacity must",
        ),
        (
            lambda: DQNConfig().training(prioritized_replay_beta=[[0, 0.4], [10, float("inf")]]),
            r"finite number",
        ),
    ],
)
def test_impossible_numbers_are_config_errors(config, match):
    with pytest.raises(ConfigError, match=match):
        config()


def test_nan_assigned_directly_fails_at_build():
    config = PPOConfig().environment("CartPole-v1")
    config.lr = float("nan")
    with pytest.raises(ConfigError, match="lr must be a finite number, got nan"):
        config.build_algo()


@pytest.mark.parametrize("seed", [-1, 2**70, 1.5, "1"])
def test_bad_seeds_are_config_errors(seed):
    with pytest.raises(ConfigError, match=r"seed must be None or an int in \[0, 2\*\*63 - 1\]"):
        PPOConfig().debugging(seed=seed)


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("cuda:abc", r"device 'cuda:abc' is not a torch device: expected 'cpu', 'cuda' or 'cuda:<index>'"),
        ("gpu", r"device 'gpu' is not a torch device.*Did you mean 'cuda'"),
        ("cuda:-1", r"device 'cuda:-1' is not a torch device"),
    ],
)
def test_malformed_devices_are_config_errors(device, match):
    with pytest.raises(ConfigError, match=match):
        PPOConfig().resources(device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_fails_at_build():
    config = PPOConfig().environment("CartPole-v1").resources(device="cuda")
    with pytest.raises(ConfigError, match=r"device='cuda' but this torch .* has no CUDA.*device='cpu'"):
        config.validate()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_missing_cuda_index_fails_at_build():
    n = torch.cuda.device_count()
    config = PPOConfig().environment("CartPole-v1").resources(device=f"cuda:{n}")
    with pytest.raises(ConfigError, match=rf"device='cuda:{n}' but this machine has {n} CUDA device"):
        config.validate()


# ============================================================================ typos
def test_assigning_an_unknown_attribute_suggests_the_setting():
    config = PPOConfig()
    with pytest.raises(AttributeError, match=r"PPOConfig has no setting 'lr_rate'. Did you mean 'lr'\?"):
        config.lr_rate = 1e-3
    with pytest.raises(ConfigError, match=r"has no setting 'learning_rate'. Did you mean 'lr'\?"):
        config.learning_rate = 1e-3
    with pytest.raises(AttributeError, match=r"has no setting 'clip_parm'. Did you mean 'clip_param'\?"):
        config.clip_parm = 0.1
    config.lr = 1e-3  # real settings, private attributes and copies still work
    config._scratch = 1
    copied = config.copy()
    assert copied.lr == 1e-3 and copied._scratch == 1


def test_assigning_a_read_only_property_says_so():
    with pytest.raises(AttributeError, match=r"is_multi_agent is read-only"):
        PPOConfig().is_multi_agent = True


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda c: c.training(lr_rate=1e-3),
            r"PPOConfig.training\(\) has no setting 'lr_rate'. Did you mean 'lr'",
        ),
        (lambda c: c.training(learning_rate=1e-3), r"Did you mean 'lr'"),
        (lambda c: c.training(entropy_coef=0.01), r"Did you mean 'entropy_coeff'"),
        (
            lambda c: c.env_runners(num_envs=4),
            r"env_runners\(\) has no setting 'num_envs'.*num_envs_per_env_runner",
        ),
        (lambda c: c.env_runners(lr=1e-3), r"'lr' is set with .training\(lr=...\), not .env_runners\(\)"),
        (lambda c: c.environment("CartPole-v1", env_cfg={}), r"Did you mean 'env_config'"),
        (lambda c: c.debugging(sed=1), r"debugging\(\) has no setting 'sed'. Did you mean 'seed'"),
        (lambda c: c.resources(num_gpus=1), r"resources\(\) has no setting 'num_gpus'.*device"),
        (lambda c: c.rl_module(model_cfg={}), r"Did you mean 'model_config'"),
        (lambda c: c.evaluation(evaluation_num_episodes=5), r"Did you mean 'evaluation_duration'"),
        (lambda c: c.reporting(metrics_window=5), r"Did you mean 'metrics_num_episodes_for_smoothing'"),
        (lambda c: c.multi_agent(policy=["a"]), r"Did you mean 'policies'"),
    ],
)
def test_unknown_keywords_of_fluent_methods_suggest_the_right_one(call, match):
    with pytest.raises(ConfigError, match=match) as info:
        call(PPOConfig())
    assert isinstance(info.value, TypeError)  # still a TypeError, as Python's own message was


def test_off_policy_fluent_methods_suggest_too():
    with pytest.raises(ConfigError, match=r"DQNConfig.training\(\) has no setting 'replay_capacity'. "
                       r"Did you mean 'replay_buffer_capacity'"):  # fmt: skip
        DQNConfig().training(replay_capacity=10)
    with pytest.raises(ConfigError, match=r"SACConfig.training\(\) has no setting 'actor_learning_rate'. "
                       r"Did you mean 'actor_lr'"):  # fmt: skip
        SACConfig().training(actor_learning_rate=1e-3)


def test_update_from_dict_suggests_for_loose_matches():
    with pytest.raises(ConfigError, match=r"PPOConfig has no setting 'lr_rate'. Did you mean 'lr'"):
        PPOConfig().update_from_dict({"lr_rate": 1e-3})
    with pytest.raises(
        ConfigError, match=r"no setting 'batch_size'. Did you mean 'train_batch_size_per_learner'"
    ):
        PPOConfig().update_from_dict({"batch_size": 64})
    with pytest.raises(ConfigError, match=r"no setting 'zzzz'\. Settings: "):
        PPOConfig().update_from_dict({"zzzz": 64})


# ============================================================================ replay buffer memory
def test_a_replay_buffer_bigger_than_the_machine_fails_at_once():
    big = gym.spaces.Box(-1, 1, (4000,), np.float32)
    with pytest.raises(ReplayBufferMemoryError, match=r"replay buffer of 1,000,000,000 transitions needs "
                       r"[\d.]+ [GTP]B.*only [\d.]+ [GMT]B.*available.*replay_buffer_capacity"):  # fmt: skip
        ReplayBuffer(10**9, big, gym.spaces.Discrete(2))
    with pytest.raises(ReplayBufferMemoryError, match="needs"):
        PrioritizedReplayBuffer(10**9, big, gym.spaces.Discrete(2))
    buffer = ReplayBuffer(1000, big, gym.spaces.Discrete(2))
    assert buffer.nbytes == 1000 * buffer.bytes_per_transition


def test_dqn_with_an_impossible_buffer_is_a_config_error():
    class BigObsEnv(ObsEnv):
        observation_space = gym.spaces.Box(-1, 1, (4000,), np.float32)
        make_obs = staticmethod(lambda t: np.zeros(4000, np.float32))

    config = DQNConfig().environment(BigObsEnv).training(replay_buffer_capacity=10**9)
    with pytest.raises(ConfigError, match=r"DQNConfig: A replay buffer of 1,000,000,000 transitions needs"):
        config.build_algo()


# ============================================================================ compute_values
class ColumnValues(TorchRLModule, ValueFunctionAPI):
    """A PPO-style module whose ``compute_values`` forgets to squeeze: [B, 1]."""

    def setup(self):
        self.pi = nn.Linear(4, 2)
        self.vf = nn.Linear(4, 1)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(batch[Columns.OBS])}

    def compute_values(self, batch, embeddings=None):
        return self.vf(batch[Columns.OBS])


def test_compute_values_not_a_tensor_is_an_error():
    from tripod.core.rl_module.validation import check_values

    spec = RLModuleSpec(ColumnValues, ObsEnv.observation_space, ObsEnv.action_space)
    module = spec.build()
    with pytest.raises(ModuleOutputError, match=r"compute_values\(\) returned list.*expected a torch.Tensor"):
        check_values(module, [1.0, 2.0], 2)
    check_values(module, torch.zeros(2), 2)
