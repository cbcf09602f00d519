"""RLlib 2.60's own example RLModules, run on tripod with only their imports changed.

The seven files under ``ray/rllib/examples/rl_modules/classes/`` of the installed
``ray==2.60.0`` wheel (the ``test`` extra installs it) are read at test time, every
``ray.rllib`` is replaced by ``tripod`` in memory and nothing else, and the result is
executed as a module. ray itself is never imported or started: the package is only
located with ``importlib.util.find_spec``. The files are never copied into this repository.

Each example is built the way RLlib's own example scripts build it (same spaces and
``model_config``), its forwards are run and checked, and the ones meant for PPO train
a few iterations on tripod's PPO. ``test_loads`` reports, file by file, which examples
load on the current tree.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from tripod.core.columns import Columns
from tripod.core.rl_module.multi_rl_module import MultiRLModule, MultiRLModuleSpec
from tripod.core.rl_module.rl_module import RLModuleSpec

EXAMPLES_DIR = ("rllib", "examples", "rl_modules", "classes")
EXAMPLE_FILES = [
    "vpg_torch_rlm.py",
    "custom_action_distribution_rlm.py",
    "lstm_containing_rlm.py",
    "tiny_atari_cnn_rlm.py",
    "action_masking_rlm.py",
    "rock_paper_scissors_heuristic_rlm.py",
    "vpg_using_shared_encoder_rlm.py",
]


def ray_examples_dir() -> Path | None:
    """The installed ray package's example-module folder, found without importing ray."""
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *EXAMPLES_DIR)


def load_example(file_name: str) -> types.ModuleType:
    """Read one of RLlib's example files, rewrite ``ray.rllib`` to ``tripod`` in memory, run it."""
    folder = ray_examples_dir()
    if folder is None or not (folder / file_name).is_file():
        pytest.skip("ray==2.60.0 is not installed: pip install -e '.[test]' (its files are read, never run)")
    path = folder / file_name
    source = path.read_text(encoding="utf-8").replace("ray.rllib", "tripod")
    name = "rllib_example_on_tripod_" + file_name.removesuffix(".py")
    if name in sys.modules:
        return sys.modules[name]
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(compile(source, f"{path} (ray.rllib -> tripod)", "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def assert_ray_not_imported() -> None:
    """The examples run on tripod alone: nothing of RLlib is imported (other tests of the suite may
    have imported ray itself, for tripod's remote runners)."""
    rllib = sorted(name for name in sys.modules if name == "ray.rllib" or name.startswith("ray.rllib."))
    assert not rllib, f"the harness must only read RLlib's files, never import them: {rllib[:5]}"


def obs_batch(space: gym.Space, batch: int, seed: int = 0) -> torch.Tensor:
    space.seed(seed)
    return torch.as_tensor(np.stack([space.sample() for _ in range(batch)]))


def run_forwards(module, make_batch, batch_sizes=(1, 32)) -> dict:
    """All three forwards at each batch size, on a fresh batch each (modules may edit their input)."""
    outs = {}
    for b in batch_sizes:
        for phase in ("forward_inference", "forward_exploration", "forward_train"):
            outs[(phase, b)] = getattr(module, phase)(make_batch(b))
    return outs


# ---------------------------------------------------------------------------------- loading
@pytest.mark.parametrize("file_name", EXAMPLE_FILES)
def test_loads(file_name):
    module = load_example(file_name)
    assert any(isinstance(v, type) for v in vars(module).values())
    assert_ray_not_imported()


# ------------------------------------------------------------------------------- vpg_torch_rlm
def test_vpg_torch_forwards():
    mod = load_example("vpg_torch_rlm.py")
    obs_space, act_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32), gym.spaces.Discrete(2)
    module = RLModuleSpec(
        module_class=mod.VPGTorchRLModule,
        observation_space=obs_space,
        action_space=act_space,
        model_config={"hidden_dim": 32},
    ).build()
    outs = run_forwards(module, lambda b: {Columns.OBS: obs_batch(obs_space, b)})
    for (_, b), out in outs.items():
        assert out[Columns.ACTION_DIST_INPUTS].shape == (b, 2)
    dist = module.get_exploration_action_dist_cls().from_logits(
        outs[("forward_exploration", 32)]["action_dist_inputs"]
    )
    assert dist.sample().shape == (32,)


# ----------------------------------------------------------------- custom_action_distribution_rlm
CARTPOLE_OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def test_custom_action_distribution_forwards():
    mod = load_example("custom_action_distribution_rlm.py")
    module = mod.CustomActionDistributionRLModule(
        observation_space=CARTPOLE_OBS,
        action_space=gym.spaces.Discrete(4),
        model_config={"action_dist_temperature": 5.0},
    )
    outs = run_forwards(module, lambda b: {Columns.OBS: obs_batch(CARTPOLE_OBS, b)})
    for (phase, b), out in outs.items():
        assert out[Columns.ACTION_DIST_INPUTS].shape == (b, 4)
        if phase == "forward_train":
            assert out[Columns.EMBEDDINGS].shape == (b, 256)
    assert module.compute_values({Columns.OBS: obs_batch(CARTPOLE_OBS, 32)}).shape == (32,)
    dist_cls = module.get_train_action_dist_cls()
    assert dist_cls.__name__ == "TorchCategoricalWithTemp"
    logits = outs[("forward_train", 32)][Columns.ACTION_DIST_INPUTS]
    # The temperature divides the logits: at 5.0 the distribution is flatter than plain softmax.
    hot = torch.distributions.Categorical(logits=logits).entropy()
    cool = dist_cls.from_logits(logits).entropy()
    assert torch.all(cool >= hot - 1e-6)


def test_custom_action_distribution_trains_with_ppo():
    mod = load_example("custom_action_distribution_rlm.py")
    from tripod.algorithms.ppo import PPOConfig

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=2)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=mod.CustomActionDistributionRLModule,
                model_config={"action_dist_temperature": 2.0, "hidden_dim": 32},
            )
        )
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
        for _ in range(3):
            result = algo.train()
        after = algo.get_module().state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        assert np.isfinite(result["learners"]["default_policy"]["total_loss"])
    finally:
        algo.stop()


# -------------------------------------------------------------------------- lstm_containing_rlm
LSTM_OBS = gym.spaces.Box(-1.0, 1.0, (25,), np.float32)


def lstm_batch(module, b: int, t: int = 5) -> dict:
    state = {k: torch.from_numpy(v).unsqueeze(0).repeat(b, 1) for k, v in module.get_initial_state().items()}
    obs = torch.rand(b, t, LSTM_OBS.shape[0])
    return {Columns.OBS: obs, Columns.STATE_IN: state}


def test_lstm_forwards():
    mod = load_example("lstm_containing_rlm.py")
    module = RLModuleSpec(
        module_class=mod.LSTMContainingRLModule,
        observation_space=LSTM_OBS,
        action_space=gym.spaces.Discrete(4),
        model_config={"lstm_cell_size": 32, "dense_layers": [64, 64], "max_seq_len": 20},
    ).build()
    assert module.is_stateful()
    outs = run_forwards(module, lambda b: lstm_batch(module, b))
    for (phase, b), out in outs.items():
        assert out[Columns.ACTION_DIST_INPUTS].shape == (b, 5, 4)
        assert out[Columns.STATE_OUT]["h"].shape == (b, 32)
        assert out[Columns.STATE_OUT]["c"].shape == (b, 32)
        if phase == "forward_train":
            assert module.compute_values(lstm_batch(module, b), out[Columns.EMBEDDINGS]).shape == (b, 5)


def test_lstm_with_target_network_forwards():
    mod = load_example("lstm_containing_rlm.py")
    module = mod.LSTMContainingRLModuleWithTargetNetwork(
        observation_space=LSTM_OBS, action_space=gym.spaces.Discrete(4), model_config={"lstm_cell_size": 32}
    )
    module.make_target_networks()
    pairs = module.get_target_network_pairs()
    assert pairs and all(a is not b for a, b in pairs)
    out = module.forward_target(lstm_batch(module, 3))
    assert out["target_network_action_dist_inputs"].shape == (3, 5, 4)


def test_lstm_trains_with_ppo():
    mod = load_example("lstm_containing_rlm.py")
    from tripod.algorithms.ppo import PPOConfig

    config = (
        PPOConfig()
        .environment("CartPole-v1")
        .training(train_batch_size_per_learner=200, minibatch_size=100, num_epochs=1)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=mod.LSTMContainingRLModule,
                model_config={"lstm_cell_size": 16, "dense_layers": [16], "max_seq_len": 10},
            )
        )
    )
    algo = config.build_algo()
    try:
        algo.train()
    finally:
        algo.stop()


# ---------------------------------------------------------------------------- tiny_atari_cnn_rlm
@pytest.mark.parametrize(
    "shape, model_config",
    [
        ((42, 42, 4), {}),  # the class docstring's set-up
        (  # custom_cnn_rl_module.py's set-up (42x42 frames, its conv_filters)
            (42, 42, 4),
            {"conv_filters": [[16, 4, 2, "same"], [32, 4, 2, "same"], [256, 11, 1, "valid"]]},
        ),
    ],
    ids=["docstring", "example-script"],
)
def test_tiny_atari_cnn_forwards(shape, model_config):
    mod = load_example("tiny_atari_cnn_rlm.py")
    space = gym.spaces.Box(-1.0, 1.0, shape, np.float32)
    module = RLModuleSpec(
        module_class=mod.TinyAtariCNN,
        observation_space=space,
        action_space=gym.spaces.Discrete(6),
        model_config=model_config,
    ).build()
    outs = run_forwards(module, lambda b: {Columns.OBS: torch.rand(b, *shape)}, batch_sizes=(1, 4))
    for (phase, b), out in outs.items():
        assert out[Columns.ACTION_DIST_INPUTS].shape == (b, 6)
        if phase == "forward_train":
            assert module.compute_values(
                {Columns.OBS: torch.rand(b, *shape)}, out[Columns.EMBEDDINGS]
            ).shape == (b,)
    module.make_target_networks()
    assert module.get_target_network_pairs()
    target = module.forward_target({Columns.OBS: torch.rand(2, *shape)})
    assert target["target_network_action_dist_inputs"].shape == (2, 6)


# ----------------------------------------------------------------------------- action_masking_rlm
class MaskedPicker(gym.Env):
    """A one-hot target among 6 actions and a mask of allowed actions (half the others masked).

    Picking the target pays +1; a masked action is counted in ``violations``. 10 steps.
    """

    n = 6
    violations = 0

    def __init__(self, config=None):
        self.observation_space = gym.spaces.Dict(
            {
                "action_mask": gym.spaces.Box(0.0, 1.0, (self.n,), np.float32),
                "observations": gym.spaces.Box(-1.0, 1.0, (self.n,), np.float32),
            }
        )
        self.action_space = gym.spaces.Discrete(self.n)

    def _obs(self):
        self.target = int(self.np_random.integers(self.n))
        others = [a for a in range(self.n) if a != self.target]
        self.mask = np.ones(self.n, np.float32)
        self.mask[self.np_random.choice(others, size=len(others) // 2, replace=False)] = 0.0
        onehot = np.zeros(self.n, np.float32)
        onehot[self.target] = 1.0
        return {"action_mask": self.mask.copy(), "observations": onehot}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        if self.mask[int(action)] == 0:
            MaskedPicker.violations += 1
        reward = 1.0 if int(action) == self.target else 0.0
        self.t += 1
        return self._obs(), reward, False, self.t >= 10, {}


# action_masking_rl_module.py's model_config
MASKING_MODEL_CONFIG = {"head_fcnet_hiddens": [64, 64], "head_fcnet_activation": "relu"}


def test_action_masking_forwards():
    mod = load_example("action_masking_rlm.py")
    env = MaskedPicker()
    module = RLModuleSpec(
        module_class=mod.ActionMaskingTorchRLModule,
        observation_space=env.observation_space,
        action_space=env.action_space,
        model_config=MASKING_MODEL_CONFIG,
    ).build()

    def batch(b):
        obs = obs_batch(env.observation_space["observations"], b)
        mask = torch.ones(b, env.n)
        mask[:, 0] = 0.0
        return {Columns.OBS: {"action_mask": mask, "observations": obs}}

    for b in (1, 32):
        for phase in ("forward_inference", "forward_exploration"):
            logits = getattr(module, phase)(batch(b))[Columns.ACTION_DIST_INPUTS]
            assert logits.shape == (b, env.n)
            assert torch.all(logits[:, 0] < -1e30)
        # The learner's order: compute_values moves the mask beside the observations, then forward_train.
        train_batch = batch(b)
        assert module.compute_values(train_batch).shape == (b,)
        assert set(train_batch) == {Columns.OBS, "action_mask"}
        out = module.forward_train(train_batch)
        assert torch.all(out[Columns.ACTION_DIST_INPUTS][:, 0] < -1e30)


def test_action_masking_trains_with_ppo():
    mod = load_example("action_masking_rlm.py")
    from tripod.algorithms.ppo import PPOConfig

    MaskedPicker.violations = 0
    config = (
        PPOConfig()
        .environment(MaskedPicker)
        .env_runners(num_envs_per_env_runner=4)
        .training(train_batch_size_per_learner=400, minibatch_size=100, num_epochs=2, lr=3e-3)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=mod.ActionMaskingTorchRLModule, model_config=MASKING_MODEL_CONFIG
            )
        )
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        for _ in range(3):
            result = algo.train()
        assert np.isfinite(result["learners"]["default_policy"]["total_loss"])
    finally:
        algo.stop()
    assert MaskedPicker.violations == 0, "a masked action was taken"


# ------------------------------------------------------------------ rock_paper_scissors_heuristic_rlm
RPS_OBS, RPS_ACT = gym.spaces.Discrete(4), gym.spaces.Discrete(3)


@pytest.mark.parametrize("class_name", ["AlwaysSameHeuristicRLM", "BeatLastHeuristicRLM"])
def test_rps_heuristic_forwards(class_name):
    mod = load_example("rock_paper_scissors_heuristic_rlm.py")
    module = RLModuleSpec(
        module_class=getattr(mod, class_name), observation_space=RPS_OBS, action_space=RPS_ACT
    ).build()
    assert not isinstance(module, torch.nn.Module)
    for b in (1, 32):
        obs = np.array([3] * b)  # 3: the observation right after reset
        for phase in ("forward_inference", "forward_exploration"):
            out = getattr(module, phase)({Columns.OBS: obs})
            assert set(out) == {Columns.ACTIONS}
            assert out[Columns.ACTIONS].shape == (b,)
            assert np.isin(out[Columns.ACTIONS], [0, 1, 2]).all()
    if class_name == "BeatLastHeuristicRLM":
        out = module.forward_inference({Columns.OBS: np.array([0, 1, 2])})
        assert out[Columns.ACTIONS].tolist() == [1, 2, 0]
    with pytest.raises(NotImplementedError, match="not trainable"):
        module.forward_train({Columns.OBS: np.array([0])})


def test_rps_heuristics_beside_a_learned_module():
    """As in rock_paper_scissors_heuristic_vs_learned.py: heuristics and a torch module in one MultiRLModule."""
    vpg = load_example("vpg_torch_rlm.py")
    rps = load_example("rock_paper_scissors_heuristic_rlm.py")
    obs_box = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    multi = MultiRLModuleSpec(
        rl_module_specs={
            "always_same": RLModuleSpec(
                module_class=rps.AlwaysSameHeuristicRLM, observation_space=RPS_OBS, action_space=RPS_ACT
            ),
            "beat_last": RLModuleSpec(
                module_class=rps.BeatLastHeuristicRLM, observation_space=RPS_OBS, action_space=RPS_ACT
            ),
            "learned": RLModuleSpec(
                module_class=vpg.VPGTorchRLModule,
                observation_space=obs_box,
                action_space=RPS_ACT,
                model_config={"hidden_dim": 16},
            ),
        }
    ).build()
    batch = {
        "always_same": {Columns.OBS: np.array([3, 3])},
        "beat_last": {Columns.OBS: np.array([0, 2])},
        "learned": {Columns.OBS: obs_batch(obs_box, 2)},
    }
    for phase in ("forward_inference", "forward_exploration"):
        out = getattr(multi, phase)(batch)
        assert out["always_same"][Columns.ACTIONS].shape == (2,)
        assert out["beat_last"][Columns.ACTIONS].tolist() == [1, 0]
        assert out["learned"][Columns.ACTION_DIST_INPUTS].shape == (2, 3)
    # Only the learned module has weights; the heuristics are carried along without any.
    assert set(multi.get_state(["learned"])) == {"learned"}
    assert sum(p.numel() for p in multi.parameters()) == sum(p.numel() for p in multi["learned"].parameters())


# --------------------------------------------------------------------- vpg_using_shared_encoder_rlm
EMBEDDING_DIM = 64


def shared_encoder_spec(mod) -> MultiRLModuleSpec:
    """The spec of the class docstring / shared_encoder_cartpole.py (spaces filled in as the config would)."""
    obs, act = CARTPOLE_OBS, gym.spaces.Discrete(2)
    return MultiRLModuleSpec(
        multi_rl_module_class=mod.VPGMultiRLModuleWithSharedEncoder,
        rl_module_specs={
            mod.SHARED_ENCODER_ID: RLModuleSpec(
                module_class=mod.SharedEncoder,
                model_config={"embedding_dim": EMBEDDING_DIM},
                observation_space=obs,
                action_space=act,
            ),
            "p0": RLModuleSpec(
                module_class=mod.VPGPolicyAfterSharedEncoder,
                model_config={"embedding_dim": EMBEDDING_DIM, "hidden_dim": 1024},
                observation_space=obs,
                action_space=act,
            ),
            "p1": RLModuleSpec(
                module_class=mod.VPGPolicyAfterSharedEncoder,
                model_config={"embedding_dim": EMBEDDING_DIM, "hidden_dim": 64},
                observation_space=obs,
                action_space=act,
            ),
        },
    )


def test_shared_encoder_multi_rl_module_forwards():
    mod = load_example("vpg_using_shared_encoder_rlm.py")
    multi = shared_encoder_spec(mod).build()
    assert isinstance(multi, mod.VPGMultiRLModuleWithSharedEncoder) and isinstance(multi, MultiRLModule)
    assert multi.encoder is multi[mod.SHARED_ENCODER_ID]
    # The alias does not register the encoder's weights a second time.
    assert not any(k.startswith("encoder.") for k in multi.state_dict())

    def batch(b):
        return {pid: {Columns.OBS: obs_batch(CARTPOLE_OBS, b, seed=i)} for i, pid in enumerate(("p0", "p1"))}

    for (_, b), out in run_forwards(multi, batch).items():
        assert set(out) == {"p0", "p1"}
        for pid in ("p0", "p1"):
            assert out[pid][Columns.ACTION_DIST_INPUTS].shape == (b, 2)
    # forward_train builds a graph through the shared encoder: both policies' losses reach it.
    out = multi.forward_train(batch(8))
    (out["p0"][Columns.ACTION_DIST_INPUTS].sum() + out["p1"][Columns.ACTION_DIST_INPUTS].sum()).backward()
    assert all(p.grad is not None for p in multi.encoder.parameters())
    # The state round-trips per module id, the shared encoder included.
    state = multi.get_state()
    assert set(state) == {mod.SHARED_ENCODER_ID, "p0", "p1"}
    other = shared_encoder_spec(mod).build()
    other.set_state(state)
    x = batch(4)
    torch.testing.assert_close(
        multi.forward_inference(x)["p1"][Columns.ACTION_DIST_INPUTS],
        other.forward_inference(batch(4))["p1"][Columns.ACTION_DIST_INPUTS],
    )


def test_individual_encoder_modules_forwards():
    """shared_encoder_cartpole.py's baseline: VPGPolicyNoSharedEncoder in a plain MultiRLModule."""
    mod = load_example("vpg_using_shared_encoder_rlm.py")
    spec = RLModuleSpec(
        module_class=mod.VPGPolicyNoSharedEncoder,
        model_config={"embedding_dim": EMBEDDING_DIM, "hidden_dim": 64},
        observation_space=CARTPOLE_OBS,
        action_space=gym.spaces.Discrete(2),
    )
    multi = MultiRLModuleSpec(rl_module_specs={"p0": spec, "p1": spec}).build()
    outs = run_forwards(
        multi, lambda b: {pid: {Columns.OBS: obs_batch(CARTPOLE_OBS, b)} for pid in ("p0", "p1")}
    )
    for (_, b), out in outs.items():
        assert out["p0"][Columns.ACTION_DIST_INPUTS].shape == (b, 2)


def test_shared_encoder_checkpoint_round_trip(tmp_path):
    mod = load_example("vpg_using_shared_encoder_rlm.py")
    multi = shared_encoder_spec(mod).build()
    multi.save_to_path(str(tmp_path / "multi"))
    other = MultiRLModule.from_checkpoint(str(tmp_path / "multi"))
    assert type(other) is mod.VPGMultiRLModuleWithSharedEncoder
    x = {pid: {Columns.OBS: obs_batch(CARTPOLE_OBS, 4)} for pid in ("p0", "p1")}
    y = {pid: {Columns.OBS: obs_batch(CARTPOLE_OBS, 4)} for pid in ("p0", "p1")}
    torch.testing.assert_close(
        multi.forward_inference(x)["p0"][Columns.ACTION_DIST_INPUTS],
        other.forward_inference(y)["p0"][Columns.ACTION_DIST_INPUTS],
    )
