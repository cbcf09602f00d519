"""SAC without training: spaces, config checks, the twin-Q ensemble and the default module
(training: tests/integration/test_sac_training.py)."""

import numpy as np
import pytest
import torch

from tripod.algorithms.algorithm_config import ConfigError
from tripod.algorithms.sac import DefaultSACTorchRLModule, SACConfig
from tripod.algorithms.sac.ensemble_mlp import EnsembleMLP
from tripod.core.columns import Columns


def test_sac_rejects_discrete_actions():
    with pytest.raises(
        ValueError, match=r"SAC needs a Box action space.*Discrete.*discrete SAC is not implemented"
    ):
        SACConfig().environment("CartPole-v1").build_algo()


def test_sac_config_checks():
    with pytest.raises(ConfigError, match="actor_lr must be a number > 0 or a schedule"):
        SACConfig().training(actor_lr=-1.0)
    with pytest.raises(ConfigError, match="target_entropy must be 'auto' or a number"):
        SACConfig().training(target_entropy="high")
    assert SACConfig().training(lr=None).lr is None  # RLlib style: SAC has per-network rates


def test_twin_ensemble_equals_two_separate_networks():
    net = EnsembleMLP(2, 5, [8, 8], 1)
    x = torch.randn(7, 5)
    out = net(x)
    for e in range(2):
        h = x
        for i in range(3):
            h = h @ getattr(net, f"weight{i}")[e] + getattr(net, f"bias{i}")[e]
            h = torch.relu(h) if i < 2 else h
        torch.testing.assert_close(out[e], h)


def test_default_module_actions_in_bounds_and_q_shapes():
    import gymnasium as gym

    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    act_space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    module = DefaultSACTorchRLModule(observation_space=obs_space, action_space=act_space, model_config={})
    module.make_target_networks()
    obs = torch.randn(64, 3)
    for method in (module.forward_exploration, module.forward_inference):
        a = method({Columns.OBS: obs})[Columns.ACTIONS]
        assert a.shape == (64, 2) and (a[:, 0].abs() <= 2).all() and ((a[:, 1] >= 0) & (a[:, 1] <= 1)).all()
    q = module.compute_q_values({Columns.OBS: obs, Columns.ACTIONS: a})
    assert q["qf_preds"].shape == q["qf_twin_preds"].shape == (64,)
    single = DefaultSACTorchRLModule(
        observation_space=obs_space, action_space=act_space, model_config={"twin_q": False}
    )
    assert set(single.compute_q_values({Columns.OBS: obs, Columns.ACTIONS: a})) == {"qf_preds"}
    inference = DefaultSACTorchRLModule(
        observation_space=obs_space, action_space=act_space, inference_only=True, model_config={}
    )
    assert not hasattr(inference, "qf")
