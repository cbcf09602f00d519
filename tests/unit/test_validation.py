"""Validation of module outputs: clear errors that name the module, the method and the fix."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.distribution.torch.torch_distribution import TorchCategorical, TorchDiagGaussian
from tripod.core.rl_module.validation import ModuleOutputError, OutputValidator, check_module_output

OBS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = gym.spaces.Discrete(2)
BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


class NumpyArgmaxModule(TorchRLModule):
    """The seed tutorial's inference: ``np.argmax`` over a whole batch of logits."""

    def setup(self):
        self.policy = nn.Linear(4, self.action_space.n)

    def _forward_inference(self, batch):
        with torch.no_grad():
            return {"actions": np.argmax(self.policy(batch["obs"]))}

    def _forward_exploration(self, batch):
        return {"actions": np.random.choice(self.action_space.n)}


def module(cls=NumpyArgmaxModule, space=ACT):
    return RLModuleSpec(module_class=cls, observation_space=OBS, action_space=space).build()


def check(out, batch_size=8, space=ACT, method="forward_exploration", mod=None):
    check_module_output(mod or module(space=ACT), method, out, batch_size=batch_size, action_space=space)


@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # np.argmax on a tensor
def test_tutorial_np_argmax_on_a_batch_names_class_method_and_fix():
    m = module()
    obs = {"obs": torch.randn(8, 4)}
    out = m.forward_inference(obs)
    with pytest.raises(ModuleOutputError) as info:
        check_module_output(m, "forward_inference", out, batch_size=8)
    msg = str(info.value)
    assert "NumpyArgmaxModule.forward_inference()" in msg
    assert "argmax(dim=-1)" in msg
    assert "single action" in msg and "batch of 8" in msg


def test_np_random_choice_for_a_batch_is_an_error():
    m = module()
    out = m.forward_exploration({"obs": torch.randn(8, 4)})
    with pytest.raises(
        ModuleOutputError, match=r"NumpyArgmaxModule\.forward_exploration\(\).*np\.random\.choice"
    ):
        check_module_output(m, "forward_exploration", out, batch_size=8)


def test_single_observation_single_action_is_fine():
    for out in ({Columns.ACTIONS: np.int64(1)}, {Columns.ACTIONS: torch.tensor([1])}):
        assert check(out, batch_size=1) is None  # accepted: a scalar or a [1] action for one observation
    # The same scalar for a batch of two is the np.argmax mistake, and is refused.
    with pytest.raises(ModuleOutputError, match="single action"):
        check({Columns.ACTIONS: np.int64(1)}, batch_size=2)
    with pytest.raises(ModuleOutputError, match="outside the action space"):
        check({Columns.ACTIONS: torch.tensor([2])}, batch_size=1)


def test_actions_outside_the_space():
    with pytest.raises(ModuleOutputError, match=r"actions \[2\] outside the action space Discrete\(2\)"):
        check({Columns.ACTIONS: torch.tensor([0, 1, 2, 0])}, batch_size=4)
    with pytest.raises(ModuleOutputError, match="outside the action space"):
        check({Columns.ACTIONS: np.array([-1, 0])}, batch_size=2)
    with pytest.raises(ModuleOutputError, match="expected integers"):
        check({Columns.ACTIONS: torch.tensor([0.2, 0.8])}, batch_size=2)
    md = gym.spaces.MultiDiscrete([2, 3])
    check({Columns.ACTIONS: np.array([[1, 2], [0, 0]])}, batch_size=2, space=md)
    with pytest.raises(ModuleOutputError, match="outside the action space"):
        check({Columns.ACTIONS: np.array([[1, 3], [0, 0]])}, batch_size=2, space=md)
    with pytest.raises(ModuleOutputError, match=r"expected \(2, 3\)"):
        check({Columns.ACTIONS: np.zeros((2, 2), np.float32)}, batch_size=2, space=BOX)


def test_wrong_number_of_action_rows():
    with pytest.raises(ModuleOutputError, match=r"shape \(3,\) for a batch of 8.*argmax\(dim=-1\)"):
        check({Columns.ACTIONS: torch.zeros(3, dtype=torch.long)})


def test_action_dist_inputs_width():
    check({Columns.ACTION_DIST_INPUTS: torch.zeros(8, 2)})
    with pytest.raises(ModuleOutputError, match=r"shape \(8, 3\); expected \(8, 2\)"):
        check({Columns.ACTION_DIST_INPUTS: torch.zeros(8, 3)})
    with pytest.raises(ModuleOutputError, match=r"expected \(8, 6\) for action space Box"):
        check({Columns.ACTION_DIST_INPUTS: torch.zeros(8, 3)}, space=BOX)
    check({Columns.ACTION_DIST_INPUTS: torch.zeros(8, 6)}, space=BOX)
    with pytest.raises(ModuleOutputError, match="expected"):
        check({Columns.ACTION_DIST_INPUTS: torch.zeros(5, 2)})
    with pytest.raises(ModuleOutputError, match=r"torch\.as_tensor"):
        check({Columns.ACTION_DIST_INPUTS: np.zeros((8, 2), np.float32)})
    with pytest.raises(ModuleOutputError, match="logits torch.Tensor"):
        check({Columns.ACTION_DIST_INPUTS: [0.0, 1.0]})


def test_torch_distributions():
    check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=torch.zeros(8, 2))})
    with pytest.raises(ModuleOutputError, match="Categorical over 3 actions.*has 2"):
        check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=torch.zeros(8, 3))})
    with pytest.raises(ModuleOutputError, match=r"Categorical over 3 actions"):
        check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(probs=torch.full((8, 3), 1 / 3))})
    with pytest.raises(ModuleOutputError, match=r"batch_shape \(4,\) for a batch of 8"):
        check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=torch.zeros(4, 2))})
    # One distribution for a whole batch (the tutorial's unbatched habit) is caught.
    with pytest.raises(ModuleOutputError, match=r"batch_shape \(\) for a batch of 8"):
        check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=torch.zeros(2))})
    check({Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=torch.zeros(2))}, batch_size=1)


def test_tripod_distributions_are_accepted_and_checked():
    check({Columns.ACTION_DIST_INPUTS: TorchCategorical.from_logits(torch.zeros(8, 2))})
    check({Columns.ACTION_DIST_INPUTS: TorchDiagGaussian.from_logits(torch.zeros(8, 6))}, space=BOX)
    with pytest.raises(ModuleOutputError, match=r"\(8, 3\); expected \(8, 2\)"):
        check({Columns.ACTION_DIST_INPUTS: TorchCategorical.from_logits(torch.zeros(8, 3))})


def test_nan_and_inf_name_the_key():
    with pytest.raises(
        ModuleOutputError,
        match=r"NumpyArgmaxModule\.forward_exploration\(\) .*NaN or inf in 'action_dist_inputs'",
    ):
        check({Columns.ACTION_DIST_INPUTS: torch.tensor([[float("nan"), 0.0]] * 8)})
    with pytest.raises(ModuleOutputError, match="NaN or inf in 'vf_preds'"):
        check(
            {
                Columns.ACTIONS: torch.zeros(8, dtype=torch.long),
                Columns.VF_PREDS: torch.full((8,), float("inf")),
            }
        )
    with pytest.raises(ModuleOutputError, match="NaN or inf in 'state_out/h'"):
        check(
            {
                Columns.ACTIONS: torch.zeros(8, dtype=torch.long),
                Columns.STATE_OUT: {"h": torch.full((8, 2), float("nan"))},
            }
        )
    with pytest.raises(ModuleOutputError, match="NaN or inf in 'action_dist_inputs'"):
        logits = torch.zeros(8, 2)
        logits[3, 1] = float("nan")
        check(
            {Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=logits, validate_args=False)}
        )
    with pytest.raises(ModuleOutputError, match="NaN or inf in 'action_logp'"):
        check({Columns.ACTIONS: np.zeros(8, np.int64), Columns.ACTION_LOGP: np.full(8, np.nan)})


def test_non_dict_output_and_missing_action_keys():
    with pytest.raises(ModuleOutputError, match=r"returned list .* must return a dict"):
        check([1, 2])
    with pytest.raises(ModuleOutputError, match=r"returned Tensor of shape \(8, 2\).*must return a dict"):
        check(torch.zeros(8, 2))
    with pytest.raises(ModuleOutputError, match="neither 'actions' nor 'action_dist_inputs'"):
        check({Columns.VF_PREDS: torch.zeros(8)})
    check_module_output(
        module(), "forward_train", {Columns.VF_PREDS: torch.zeros(8)}, batch_size=8, require_action=False
    )


def test_output_validator_checks_once_per_method_and_batch_size():
    """By design the validator checks the first output of each (method, batch size) only.

    Validation runs on the hot path of every runner and learner, so it is done once per
    shape change, not per step: a later output of an already-seen size is trusted, even
    garbage. Shape-dependent mistakes (the common ones, like np.argmax over a batch) show
    on the first call; ``reset()`` re-arms the checks, e.g. after weights are replaced.
    """
    validator = OutputValidator(module())
    good = {Columns.ACTION_DIST_INPUTS: torch.zeros(8, 2)}
    garbage = {Columns.ACTIONS: np.int64(7)}
    validator.check("forward_exploration", good, 8)
    validator.check("forward_exploration", garbage, 8)  # same size: not re-checked (by design)
    with pytest.raises(ModuleOutputError):  # a new batch size is checked
        validator.check("forward_exploration", garbage, 4)
    with pytest.raises(ModuleOutputError):  # so is another method
        validator.check("forward_inference", garbage, 8)
    validator.reset()
    with pytest.raises(ModuleOutputError):
        validator.check("forward_exploration", garbage, 8)
    # A failed check is not remembered as seen.
    with pytest.raises(ModuleOutputError):
        validator.check("forward_exploration", garbage, 8)


def test_output_validator_uses_its_action_space():
    validator = OutputValidator(module(), action_space=gym.spaces.Discrete(5))
    validator.check("forward_inference", {Columns.ACTIONS: torch.tensor([4, 3])}, 2)
    with pytest.raises(ModuleOutputError, match="Discrete"):
        OutputValidator(module()).check("forward_inference", {Columns.ACTIONS: torch.tensor([4, 3])}, 2)
