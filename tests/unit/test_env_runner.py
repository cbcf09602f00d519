"""SingleAgentEnvRunner: batch layout, episode boundaries, bootstrapping, metrics and errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.validation import ModuleOutputError
from tripod.data.postprocessing import build_next_values
from tripod.env import EnvError, EnvRunner, SingleAgentEnvRunner, register_env
from tripod.env.single_agent_env_runner import SingleAgentEnvRunner as RLlibPathRunner

OBS, ACTIONS = Columns.OBS, Columns.ACTIONS


# ----------------------------------------------------------------------------- test envs
class CountingEnv(gym.Env):
    """Observation ``[sub-env id, episode number, steps taken in the episode]``; reward = steps taken.

    Episodes last ``config["length"]`` steps (or ``config["lengths"][sub-env id]``); even
    episodes terminate, odd ones are truncated. The sub-env id is the reset seed (the runner
    seeds sub-env ``i`` with ``seed + i``, so with ``seed=0`` it is ``i``).
    """

    def __init__(self, config=None):
        self.config = dict(config or {})
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, (3,), np.float32
        )  # a restarted env's id is its (large) seed
        self.action_space = gym.spaces.Discrete(2)
        self.env_id, self.episode, self.t = 0, -1, 0

    def _obs(self):
        return np.array([self.env_id, self.episode, self.t], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.env_id = seed
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        lengths = self.config.get("lengths")
        length = lengths[self.env_id] if lengths else self.config.get("length", 3)
        crash = self.config.get("crash")
        if crash is not None and not crash["done"] and self.env_id == crash["env"] and self.t == crash["t"]:
            crash["done"] = True
            raise RuntimeError("boom")
        nan_at = self.config.get("nan_at")
        ended = self.t >= length
        terminated = ended and self.episode % 2 == 0
        obs = self._obs()
        if nan_at is not None and (self.env_id, self.episode, self.t) == tuple(nan_at):
            obs[2] = np.nan
        return obs, float(self.t), terminated, ended and not terminated, {}


def _counting_next_step_vector_env(num_envs=1, **kwargs):
    fns = [lambda: CountingEnv(kwargs)] * num_envs
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


gym.register(
    "TripodTestCountingNextStep-v0",
    entry_point=CountingEnv,
    vector_entry_point=_counting_next_step_vector_env,
)


class EchoBoxEnv(gym.Env):
    """Box actions in [-1, 1]; the observation is the action the env received."""

    observation_space = gym.spaces.Box(-5, 5, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action.astype(np.float32)), action
        return np.asarray(action, np.float32), 0.0, False, False, {}


class MultiDiscreteEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 4])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        return np.zeros(2, np.float32), float(action.sum()), False, False, {}


class DictObsEnv(gym.Env):
    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Box(-10, 10, (2,), np.float32), "mode": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return {"pos": np.zeros(2, np.float32), "mode": 0}, {}

    def step(self, action):
        self.t += 1
        obs = {"pos": np.full(2, self.t, np.float32), "mode": self.t % 3}
        return obs, 1.0, False, self.t >= 4, {}


class DictActionEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Dict({"move": gym.spaces.Discrete(3), "force": gym.spaces.Box(-1, 1, (2,))})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        return np.zeros(2, np.float32), float(action["move"]), False, False, {}


# ----------------------------------------------------------------------------- test modules
def _dist_width(space):
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    return 2 * int(np.prod(space.shape))


class LinearModule(TorchRLModule):
    """Logits from one linear layer; ``model_config["bias"]`` fixes the output bias."""

    def setup(self):
        space = self.observation_space
        in_dim = space["pos"].shape[0] if isinstance(space, gym.spaces.Dict) else space.shape[-1]
        self.net = nn.Linear(in_dim, _dist_width(self.action_space))
        if "bias" in self.model_config:
            with torch.no_grad():
                self.net.weight.zero_()
                self.net.bias.copy_(torch.tensor(self.model_config["bias"]))

    def _forward(self, batch, **kwargs):
        obs = batch[OBS]
        obs = obs["pos"] if isinstance(obs, dict) else obs
        out = {Columns.ACTION_DIST_INPUTS: self.net(obs.float())}
        if self.model_config.get("vf"):
            out[Columns.VF_PREDS] = obs.float().sum(-1)
        return out


class TutorialStyleModule(TorchRLModule):
    """Returns ``np.argmax`` of a whole batch's logits in inference, like the seed notebook."""

    def setup(self):
        self.policy = nn.Linear(self.observation_space.shape[0], self.action_space.n)

    def _forward_inference(self, batch, **kwargs):
        return {ACTIONS: np.argmax(self.policy(batch[OBS]))}

    def _forward_exploration(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=self.policy(batch[OBS]))}


class CountingStateModule(TorchRLModule):
    """Stateful: its state counts the steps since the episode started."""

    def setup(self):
        self.dummy = nn.Parameter(torch.zeros(()))

    def get_initial_state(self):
        return {"count": torch.zeros(1)}

    def _forward(self, batch, **kwargs):
        obs = batch[OBS]
        assert obs.dim() == 3 and obs.shape[1] == 1, obs.shape  # [N, T=1, D]
        logits = torch.zeros(obs.shape[0], 1, self.action_space.n)
        return {
            Columns.ACTION_DIST_INPUTS: logits,
            Columns.STATE_OUT: {"count": batch[Columns.STATE_IN]["count"] + 1},
        }


class DictActionModule(TorchRLModule):
    """Returns Dict actions itself; with ``model_config["logits"]`` only logits (not supported)."""

    def setup(self):
        self.net = nn.Linear(2, 2)

    def _forward(self, batch, **kwargs):
        out = self.net(batch[OBS])
        if self.model_config.get("logits"):
            return {Columns.ACTION_DIST_INPUTS: out}
        return {ACTIONS: {"move": torch.full((out.shape[0],), 2), "force": torch.tanh(out)}}


def _runner(env, module_class=LinearModule, model_config=None, **kwargs):
    kwargs.setdefault("seed", 0)
    spec = RLModuleSpec(module_class=module_class, model_config=model_config)
    return SingleAgentEnvRunner(env, module_spec=spec, **kwargs)


# ----------------------------------------------------------------------------- batch layout
def test_runners_implement_rllibs_env_runner_interface():
    from tripod.env import MultiAgentEnvRunner

    assert SingleAgentEnvRunner is RLlibPathRunner
    assert issubclass(SingleAgentEnvRunner, EnvRunner) and issubclass(MultiAgentEnvRunner, EnvRunner)
    with pytest.raises(TypeError, match="abstract"):
        EnvRunner()


def test_cartpole_batch_shapes_dtypes_and_logp():
    runner = _runner("CartPole-v1", num_envs=4, model_config={"vf": True})
    batch = runner.sample(num_timesteps=38)  # T = ceil(38 / 4) = 10
    assert batch[OBS].shape == (10, 4, 4) and batch[OBS].dtype == np.float32
    assert batch[ACTIONS].shape == (10, 4) and batch[ACTIONS].dtype == np.int64
    assert batch[Columns.REWARDS].dtype == np.float32 and batch[Columns.REWARDS].shape == (10, 4)
    for key in (Columns.TERMINATEDS, Columns.TRUNCATEDS, Columns.LOSS_MASK):
        assert batch[key].dtype == bool and batch[key].shape == (10, 4)
    assert batch[Columns.LOSS_MASK].all()
    assert batch[Columns.ACTION_DIST_INPUTS].shape == (10, 4, 2)
    assert batch[Columns.VF_PREDS].shape == (10, 4)
    np.testing.assert_allclose(batch[Columns.VF_PREDS], batch[OBS].sum(-1), rtol=1e-5)
    logits = torch.from_numpy(batch[Columns.ACTION_DIST_INPUTS])
    expected = torch.log_softmax(logits, -1).gather(-1, torch.from_numpy(batch[ACTIONS])[..., None])[..., 0]
    np.testing.assert_allclose(batch[Columns.ACTION_LOGP], expected.numpy(), rtol=1e-5, atol=1e-6)
    assert batch[Columns.ACTION_LOGP].dtype == np.float32
    assert batch["bootstrap_index"].dtype == np.int64
    assert set(range(36, 40)) <= set(batch["bootstrap_index"].tolist())
    values = batch[Columns.VF_PREDS]
    boot_values = batch["bootstrap_obs"].sum(-1)
    assert build_next_values(values, boot_values, batch["bootstrap_index"]).shape == (10, 4)
    assert runner.get_spaces() == (runner.env.single_observation_space, runner.env.single_action_space)


def test_greedy_sampling_takes_the_argmax():
    runner = _runner("CartPole-v1", num_envs=2, model_config={"bias": [0.0, 1.0]})
    assert (runner.sample(num_timesteps=20, explore=False)[ACTIONS] == 1).all()
    explored = runner.sample(num_timesteps=400)[ACTIONS]
    assert 0.6 < explored.mean() < 0.85  # softmax([0, 1])[1] = 0.73


def test_pendulum_box_actions_keep_their_shape():
    batch = _runner("Pendulum-v1", num_envs=2).sample(num_timesteps=10)
    assert batch[ACTIONS].shape == (5, 2, 1) and batch[ACTIONS].dtype == np.float32
    assert batch[OBS].shape == (5, 2, 3)
    assert batch[Columns.ACTION_LOGP].shape == (5, 2)
    assert batch[Columns.ACTION_DIST_INPUTS].shape == (5, 2, 2)


def test_box_actions_are_clipped_for_the_env_only():
    runner = _runner(EchoBoxEnv, model_config={"bias": [5.0, -5.0, -10.0, -10.0]})
    batch = runner.sample(num_timesteps=6)
    np.testing.assert_allclose(batch[ACTIONS][:, 0], np.tile([5.0, -5.0], (6, 1)), atol=1e-3)
    np.testing.assert_array_equal(batch[OBS][1:, 0], np.tile([1.0, -1.0], (5, 1)))
    unclipped = _runner(EchoBoxEnv, model_config={"bias": [0.5, -0.5, -10.0, -10.0]}, clip_actions=False)
    np.testing.assert_allclose(unclipped.sample(num_timesteps=3)[OBS][1:, 0], [[0.5, -0.5]] * 2, atol=1e-3)


def test_multidiscrete_actions():
    batch = _runner(MultiDiscreteEnv, num_envs=3).sample(num_timesteps=12)
    actions = batch[ACTIONS]
    assert actions.shape == (4, 3, 2) and actions.dtype == np.int64
    assert (actions[..., 0] < 3).all() and (actions[..., 1] < 4).all() and (actions >= 0).all()
    np.testing.assert_array_equal(batch[Columns.REWARDS], actions.sum(-1))
    assert (batch[Columns.ACTION_LOGP] < 0).all()


def test_dict_observations_stay_nested():
    batch = _runner(DictObsEnv, num_envs=2).sample(num_timesteps=12)
    obs = batch[OBS]
    assert obs["pos"].shape == (6, 2, 2) and obs["mode"].shape == (6, 2)
    np.testing.assert_array_equal(obs["pos"][:, 0, 0], [0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(obs["mode"][:, 0], [0, 1, 2, 0, 0, 1])
    # Truncated at row 3 (t=4): bootstrap from the final observation, then the last row.
    np.testing.assert_array_equal(batch["bootstrap_index"], [6, 7, 10, 11])
    np.testing.assert_array_equal(batch["bootstrap_obs"]["pos"][:, 0], [4, 4, 2, 2])
    np.testing.assert_array_equal(batch["bootstrap_obs"]["mode"], [1, 1, 2, 2])


def test_dict_actions_from_the_module_or_a_clear_error():
    runner = _runner(DictActionEnv, module_class=DictActionModule, num_envs=3)
    batch = runner.sample(num_timesteps=6)
    assert batch[ACTIONS]["move"].shape == (2, 3) and batch[ACTIONS]["force"].shape == (2, 3, 2)
    assert (batch[Columns.REWARDS] == 2).all()
    assert runner.sample(num_timesteps=6, random_actions=True)[ACTIONS]["move"].shape == (2, 3)
    logits_only = _runner(DictActionEnv, module_class=DictActionModule, model_config={"logits": True})
    with pytest.raises(ModuleOutputError, match="no 'actions' for the Dict action space"):
        logits_only.sample(num_timesteps=2)


# ----------------------------------------------------------------------------- episode boundaries
@pytest.mark.parametrize("env", [CountingEnv, "TripodTestCountingNextStep-v0"])
def test_truncation_termination_and_bootstrap_obs(env):
    runner = _runner(env, num_envs=2, env_config={"length": 3}, vectorize_mode="vector")
    batch = runner.sample(num_timesteps=16)  # T = 8
    mask, obs = batch[Columns.LOSS_MASK], batch[OBS]
    if isinstance(env, str):  # NEXT_STEP: the step after an episode's end is a reset step, masked
        assert runner.env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
        np.testing.assert_array_equal(mask[:, 0], [1, 1, 1, 0, 1, 1, 1, 0])
        real = obs[mask].reshape(6, 2, 3)
    else:
        assert mask.all()
        real = obs
    # Real rows never show a final observation (t = 3) nor repeat one.
    assert real[..., 2].max() == 2
    np.testing.assert_array_equal(real[:6, 0, 2], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(real[:6, 0, 1], [0, 0, 0, 1, 1, 1])
    rows_term = np.flatnonzero(batch[Columns.TERMINATEDS][:, 0])
    rows_trunc = np.flatnonzero(batch[Columns.TRUNCATEDS][:, 0])
    assert len(rows_term) == 1 and len(rows_trunc) == 1
    assert obs[rows_term[0], 0, 1] == 0 and obs[rows_trunc[0], 0, 1] == 1  # episode 0 terminates, 1 truncates
    assert batch[Columns.REWARDS][~mask].sum() == 0
    index = batch["bootstrap_index"].tolist()
    boot = dict(zip(index, batch["bootstrap_obs"].tolist(), strict=True))
    assert rows_term[0] * 2 not in index  # terminated rows need no bootstrap
    # The truncated row bootstraps from the final observation [env 0, episode 1, t=3], not a reset obs.
    assert boot[rows_trunc[0] * 2] == [0.0, 1.0, 3.0]
    assert {7 * 2, 7 * 2 + 1} <= set(index)
    assert index == sorted(index)


def test_episode_stats_are_exact_and_continue_across_calls():
    runner = _runner(CountingEnv, num_envs=2, env_config={"length": 3})
    first = runner.sample(num_timesteps=20)  # T = 10: episodes end at rows 2, 5, 8
    metrics = runner.get_metrics()
    assert metrics["num_episodes"] == 6 and metrics["episode_returns"] == [6.0] * 6
    assert (
        metrics["episode_return_mean"]
        == metrics["episode_return_min"]
        == metrics["episode_return_max"]
        == 6.0
    )
    assert metrics["episode_len_mean"] == 3.0
    assert metrics["num_env_steps_sampled"] == 20 and metrics["num_env_restarts"] == 0
    second = runner.sample(num_timesteps=4)
    last = first["bootstrap_obs"][-2:]  # the observations after the last row
    np.testing.assert_array_equal(second[OBS][0], last)
    np.testing.assert_array_equal(second[OBS][:, 0], [[0, 3, 1], [0, 3, 2]])
    metrics = runner.get_metrics()
    assert metrics["episode_returns"] == [6.0, 6.0] and metrics["num_env_steps_sampled"] == 4
    empty = runner.get_metrics()
    assert empty["num_episodes"] == 0 and np.isnan(empty["episode_return_mean"])
    assert runner.get_state()["num_env_steps_sampled_lifetime"] == 24
    assert runner.sample(num_timesteps=2, force_reset=True)[OBS][0, :, 2].tolist() == [0, 0]


def test_next_step_vector_env_episode_stats_skip_reset_steps():
    runner = _runner(
        "TripodTestCountingNextStep-v0", num_envs=2, env_config={"length": 3}, vectorize_mode="vector"
    )
    runner.sample(num_timesteps=14)  # T = 7: episodes end at rows 2 and 6, row 3 is a reset step
    metrics = runner.get_metrics()
    assert metrics["episode_returns"] == [6.0] * 4 and metrics["episode_len_mean"] == 3.0
    assert metrics["num_env_steps_sampled"] == 12  # the reset steps are not transitions
    batch = runner.sample(num_timesteps=2)  # row 0 is the reset step after the episodes ended at row 6
    assert not batch[Columns.LOSS_MASK][0].any()


def test_cartpole_vectorised_env_returns_equal_lengths():
    runner = _runner("CartPole-v1", num_envs=8, vectorize_mode="vector")
    assert type(runner.env).__name__ == "CartPoleVectorEnv"
    batch = runner.sample(num_timesteps=8 * 150)
    metrics = runner.get_metrics()
    assert metrics["num_episodes"] > 10
    assert metrics["episode_returns"] == [float(n) for n in metrics["episode_returns"]]
    assert metrics["episode_len_mean"] == pytest.approx(np.mean(metrics["episode_returns"]))
    dones = batch[Columns.TERMINATEDS] | batch[Columns.TRUNCATEDS]
    np.testing.assert_array_equal(~batch[Columns.LOSS_MASK][1:], dones[:-1])
    assert metrics["num_env_steps_sampled"] == batch[Columns.LOSS_MASK].sum()


def test_num_episodes_gives_each_env_its_quota():
    runner = _runner(CountingEnv, num_envs=2, env_config={"lengths": [2, 5]})
    result = runner.sample(num_episodes=4)
    np.testing.assert_array_equal(result["episode_lens"], [2, 2, 5, 5])
    np.testing.assert_array_equal(result["episode_returns"], [3.0, 3.0, 15.0, 15.0])
    assert runner.get_metrics()["num_episodes"] == 0  # evaluation is not training data
    assert runner.sample(num_timesteps=2)[OBS][0, :, 2].tolist() == [0, 0]  # training starts afresh


def test_stateful_module_gets_state_in_reset_at_episode_start():
    runner = _runner(CountingEnv, module_class=CountingStateModule, num_envs=2, env_config={"length": 3})
    for _ in range(2):
        batch = runner.sample(num_timesteps=14)
        count = batch[Columns.STATE_IN]["count"]
        assert count.shape == (7, 2, 1)
        np.testing.assert_array_equal(count[..., 0], batch[OBS][..., 2])
        assert batch[ACTIONS].shape == (7, 2)


def test_random_actions_and_seeding():
    batch = _runner(MultiDiscreteEnv, num_envs=2).sample(num_timesteps=10, random_actions=True)
    assert batch[ACTIONS].shape == (5, 2, 2) and Columns.ACTION_LOGP not in batch

    def sample(seed):
        torch.manual_seed(0)  # the module's initial weights come from torch's global RNG
        return _runner("CartPole-v1", num_envs=3, seed=seed).sample(num_timesteps=60)

    a, b, c = sample(5), sample(5), sample(6)
    for key in (OBS, ACTIONS, Columns.ACTION_LOGP):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a[OBS], c[OBS])


def test_state_round_trip_and_weights():
    source, target = _runner("CartPole-v1"), _runner("CartPole-v1", seed=1)
    state = source.get_state()
    assert set(state) == {"rl_module", "num_env_steps_sampled_lifetime"}
    target.set_state(state)
    for key, value in target.get_weights().items():
        np.testing.assert_array_equal(value, state["rl_module"][key])
    target.set_weights({k: np.zeros_like(v) for k, v in state["rl_module"].items()})
    assert not any(v.any() for v in target.get_weights().values())
    assert source.module.inference_only
    source.stop()


# ----------------------------------------------------------------------------- errors
@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # np.argmax on a tensor
def test_tutorial_argmax_module_fails_with_the_validator_message():
    runner = _runner("CartPole-v1", module_class=TutorialStyleModule, num_envs=4)
    with pytest.raises(
        ModuleOutputError, match=r"TutorialStyleModule.forward_inference\(\).*argmax\(dim=-1\)"
    ):
        runner.sample(num_timesteps=8, explore=False)
    batch = runner.sample(num_timesteps=8)  # a torch Categorical works when exploring
    assert batch[ACTIONS].shape == (2, 4) and Columns.ACTION_LOGP in batch


def test_module_built_for_other_spaces_is_rejected():
    spec = RLModuleSpec(
        module_class=LinearModule,
        observation_space=gym.spaces.Box(-1, 1, (8,), np.float32),
        action_space=gym.spaces.Discrete(2),
    )
    with pytest.raises(
        ValueError, match=r"built for the observation space Box\(.*\(8,\).*'CartPole-v1' has .*\(4,\)"
    ):
        SingleAgentEnvRunner("CartPole-v1", module_spec=spec)
    with pytest.raises(ValueError, match="exactly one of module_spec"):
        SingleAgentEnvRunner("CartPole-v1")


def test_nan_observation_names_env_sub_env_and_step():
    runner = _runner(CountingEnv, num_envs=2, env_config={"length": 5, "nan_at": [1, 0, 2]})
    with pytest.raises(
        EnvError, match=r"Env 'CountingEnv' returned a NaN or inf observation in sub-env 1 at step 1"
    ):
        runner.sample(num_timesteps=10)


def test_env_exception_names_env_and_step():
    config = {"length": 3, "crash": {"env": 1, "t": 2, "done": False}}
    runner = _runner(CountingEnv, num_envs=2, env_config=config)
    with pytest.raises(
        EnvError, match=r"Env 'CountingEnv' raised RuntimeError in sub-env 1 at step 1 .*boom"
    ):
        runner.sample(num_timesteps=10)
    batch = runner.sample(num_timesteps=4)  # after an error the runner starts afresh
    np.testing.assert_array_equal(batch[OBS][0, :, 2], [0, 0])


def test_env_exception_with_restart_keeps_sampling():
    config = {"length": 3, "crash": {"env": 1, "t": 2, "done": False}}
    runner = _runner(CountingEnv, num_envs=2, env_config=config, restart_failed_sub_environments=True)
    batch = runner.sample(num_timesteps=12)  # T = 6; the crash happens at row 1
    assert batch[OBS].shape == (6, 2, 3)
    np.testing.assert_array_equal(batch[Columns.LOSS_MASK][:, 0], [1, 1, 1, 1, 1, 1])  # sub-env 0 goes on
    np.testing.assert_array_equal(batch[Columns.LOSS_MASK][:, 1], [1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(batch[Columns.TRUNCATEDS][1], [False, True])
    np.testing.assert_array_equal(batch[OBS][:, 0, 2], [0, 1, 2, 0, 1, 2])  # no cut in sub-env 0
    np.testing.assert_array_equal(batch[OBS][2:, 1, 2], [0, 1, 2, 0])  # fresh episodes after the restart
    index = batch["bootstrap_index"].tolist()
    assert 3 in index  # the cut row bootstraps from its own (last) observation
    np.testing.assert_array_equal(batch["bootstrap_obs"][index.index(3)], batch[OBS][1, 1])
    metrics = runner.get_metrics()
    assert metrics["num_env_restarts"] == 1
    assert metrics["episode_returns"] == [6.0, 6.0, 6.0]  # the cut episode is not reported
    assert metrics["num_env_steps_sampled"] == 11


def test_register_env_by_name_and_unknown_id():
    register_env("tripod_test_counting", lambda config: CountingEnv(config))
    batch = _runner("tripod_test_counting", env_config={"length": 2}).sample(num_timesteps=4)
    np.testing.assert_array_equal(batch[OBS][:, 0, 2], [0, 1, 0, 1])
    with pytest.raises(
        ValueError, match=r"Unknown env 'CartPole-v9'.*Did you mean 'CartPole-v1'.*register_env"
    ):
        _runner("CartPole-v9")


def test_bad_sample_arguments():
    runner = _runner("CartPole-v1")
    with pytest.raises(ValueError, match="not both"):
        runner.sample(num_timesteps=4, num_episodes=1)
    with pytest.raises(ValueError, match="num_timesteps must be a positive int"):
        runner.sample(num_timesteps=0)


# ----------------------------------------------------------------------------- restarting one sub-env
class CrashEveryK(CountingEnv):
    """A CountingEnv (episodes of 5 steps) whose ``step`` raises on every ``k``-th call when ``k`` is set."""

    def __init__(self, k=None):
        super().__init__({"length": 5})
        self.k, self.calls = k, 0

    def step(self, action):
        self.calls += 1
        if self.k and self.calls % self.k == 0:
            raise RuntimeError("sub-env crashed")
        return super().step(action)


def test_restart_rebuilds_only_the_failed_sub_env_and_keeps_the_others_episodes():
    made = []

    def creator(env_config):  # sub-env 0 is healthy; sub-env 1 and every rebuilt env crash every 3rd step
        made.append(CrashEveryK(k=3 if made else None))
        return made[-1]

    runner = _runner(creator, num_envs=2, vectorize_mode="sync", restart_failed_sub_environments=True)
    healthy = runner.env.envs[0]
    batch = runner.sample(num_timesteps=40)  # T = 20; sub-env 1 crashes at rows 2, 5, 8, 11, 14, 17
    crash_rows = [2, 5, 8, 11, 14, 17]
    assert len(made) == 2 + len(crash_rows)  # one new env per failure, not a new vector env
    assert runner.env.envs[0] is healthy
    np.testing.assert_array_equal(batch[Columns.LOSS_MASK][:, 0], np.ones(20, bool))
    np.testing.assert_array_equal(batch[OBS][:, 0, 2], [0, 1, 2, 3, 4] * 4)  # no cut in sub-env 0
    np.testing.assert_array_equal(np.flatnonzero(~batch[Columns.LOSS_MASK][:, 1]), crash_rows)
    assert (
        batch[Columns.TRUNCATEDS][crash_rows, 1].all() and not batch[Columns.TRUNCATEDS][crash_rows, 0].any()
    )
    metrics = runner.get_metrics()
    assert metrics["num_env_restarts"] == len(crash_rows)
    assert metrics["episode_returns"] == [15.0] * 4  # sub-env 0's complete episodes; cut ones not reported


def test_native_vector_env_restarts_as_a_whole_and_counts_it():
    config = {"length": 3, "crash": {"env": 1, "t": 2, "done": False}}
    runner = _runner(
        "TripodTestCountingNextStep-v0", num_envs=2, env_config=config, vectorize_mode="vector",
        restart_failed_sub_environments=True,
    )  # fmt: skip
    first = runner.env
    batch = runner.sample(num_timesteps=12)  # T = 6; the crash happens at row 1
    assert runner.env is not first and isinstance(first, gym.vector.SyncVectorEnv)
    assert not batch[Columns.LOSS_MASK][1].any()  # gymnasium's vector env cannot restart one sub-env
    assert runner.get_metrics()["num_env_restarts"] == 1


def test_nan_observation_stops_even_with_restart_and_says_so():
    runner = _runner(
        CountingEnv,
        num_envs=2,
        env_config={"length": 5, "nan_at": [1, 0, 2]},
        restart_failed_sub_environments=True,
    )
    with pytest.raises(
        EnvError, match=r"NaN or inf observation in sub-env 1 .*even with restart_failed_sub_env"
    ):
        runner.sample(num_timesteps=10)
