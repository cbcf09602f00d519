"""RLlib's module-authoring helper paths: tripod.utils, tripod.core.models/learner, tripod.models.

Each helper's behaviour, and that every ``from ray.rllib.X import Y`` of RLlib 2.60's seven example
RLModule files (``ray/rllib/examples/rl_modules/classes/``) imports as ``from tripod.X import Y``.
The example files are not read here: their import lines are listed below as data.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core.learner.utils import make_target_network, update_target_network
from tripod.core.rl_module.torch import TorchRLModule
from tripod.models.torch.misc import SlimConv2d, SlimFC, normc_initializer, same_padding, valid_padding
from tripod.utils.annotations import (
    OverrideToImplementCustomLogic,
    PublicAPI,
    is_overridden,
    override,
)
from tripod.utils.framework import try_import_tf, try_import_torch
from tripod.utils.spaces.space_utils import batch, flatten_space, get_base_struct_from_space, unbatch
from tripod.utils.torch_utils import FLOAT_MAX, FLOAT_MIN, convert_to_torch_tensor, one_hot

# ---------------------------------------------------------------- imports of RLlib's example modules

# Every `from ray.rllib.<module> import <names>` of the seven example files (module-level imports,
# plus the RLModuleSpec/MultiRLModuleSpec imports of their docstring examples), with `ray.rllib`
# replaced by `tripod`.
EXAMPLE_IMPORTS: dict[str, tuple[str, ...]] = {
    "tripod.core": ("Columns",),
    "tripod.core.columns": ("Columns",),
    "tripod.core.distribution.torch.torch_distribution": ("TorchCategorical",),
    "tripod.core.learner.utils": ("make_target_network",),
    "tripod.core.models.base": ("ENCODER_OUT",),
    "tripod.core.rl_module.apis": (
        "TARGET_NETWORK_ACTION_DIST_INPUTS",
        "InferenceOnlyAPI",
        "TargetNetworkAPI",
        "ValueFunctionAPI",
    ),
    "tripod.core.rl_module.apis.value_function_api": ("ValueFunctionAPI",),
    "tripod.core.rl_module.default_model_config": ("DefaultModelConfig",),
    "tripod.core.rl_module.multi_rl_module": ("MultiRLModule", "MultiRLModuleSpec"),
    "tripod.core.rl_module.rl_module": ("RLModule", "RLModuleSpec"),
    "tripod.core.rl_module.torch": ("TorchRLModule",),
    "tripod.core.rl_module.torch.torch_rl_module": ("TorchRLModule",),
    "tripod.models.torch.misc": ("normc_initializer", "same_padding", "valid_padding"),
    "tripod.utils.annotations": ("override",),
    "tripod.utils.framework": ("try_import_torch",),
    "tripod.utils.torch_utils": ("FLOAT_MIN",),
    "tripod.utils.typing": ("ModuleID", "NetworkType", "TensorType"),
    # action_masking_rlm.py
    "tripod.algorithms.ppo.torch.ppo_torch_rl_module": ("PPOTorchRLModule",),
}


@pytest.mark.parametrize(
    "module, name", [(module, name) for module, names in EXAMPLE_IMPORTS.items() for name in names]
)
def test_every_import_of_rllibs_example_modules_works_under_tripod(module, name):
    imported = importlib.import_module(module)
    assert hasattr(imported, name), f"from {module} import {name} fails"


def test_rllib_reexports_where_rllib_has_them():
    from tripod.core import Columns
    from tripod.core.columns import Columns as ColumnsAtPath
    from tripod.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS
    from tripod.core.rl_module.apis.value_function_api import ValueFunctionAPI
    from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule as TorchAtPath

    assert Columns is ColumnsAtPath and TorchRLModule is TorchAtPath
    assert TARGET_NETWORK_ACTION_DIST_INPUTS == "target_network_action_dist_inputs"
    assert isinstance(ValueFunctionAPI, type)


# ---------------------------------------------------------------- annotations


def test_override_returns_the_method_of_a_parent():
    class Module(TorchRLModule):
        @override(TorchRLModule)
        def setup(self):
            self.built = True

    assert Module.setup.__name__ == "setup"
    assert "setup" in Module.__dict__


def test_override_raises_on_a_method_the_parent_lacks():
    with pytest.raises(NameError, match="_forward_trian"):

        class Module(TorchRLModule):
            @override(TorchRLModule)
            def _forward_trian(self, batch, **kwargs):
                return {}


def test_override_needs_a_class():
    with pytest.raises(TypeError, match="parent class"):
        override("TorchRLModule")


def test_markers_return_the_object():
    def hook():
        return 1

    assert PublicAPI(hook) is hook
    assert is_overridden(hook)
    assert OverrideToImplementCustomLogic(hook) is hook and not is_overridden(hook)


# ---------------------------------------------------------------- framework


def test_try_import_torch_returns_torch_and_nn():
    assert try_import_torch() == (torch, nn)
    assert try_import_tf() == (None, None, None)
    with pytest.raises(ImportError, match="PyTorch only"):
        try_import_tf(error=True)


# ---------------------------------------------------------------- torch_utils


def test_float_min_max_are_finite_in_float32():
    t = torch.tensor([FLOAT_MIN, FLOAT_MAX], dtype=torch.float32)
    assert torch.isfinite(t).all()
    masked = torch.softmax(torch.tensor([1.0, 2.0]) + torch.tensor([0.0, FLOAT_MIN]), dim=-1)
    assert masked.tolist() == [1.0, 0.0]


def test_one_hot_discrete():
    out = one_hot(torch.tensor([0, 3]), gym.spaces.Discrete(4))
    assert out.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]


def test_one_hot_multi_discrete():
    out = one_hot(torch.tensor([[0, 1, 2, 3]]), gym.spaces.MultiDiscrete([5, 4, 4, 7]))
    assert out.shape == (1, 20)
    assert torch.nonzero(out[0]).flatten().tolist() == [0, 6, 11, 16]


def test_one_hot_rejects_other_spaces():
    with pytest.raises(ValueError, match="Discrete"):
        one_hot(torch.zeros(2), gym.spaces.Box(0, 1, (2,)))


def test_convert_to_torch_tensor_converts_nested_leaves():
    out = convert_to_torch_tensor({"a": np.zeros(2), "b": (1, [np.float16(2.0)]), "c": None})
    assert out["a"].dtype == torch.float32
    assert isinstance(out["b"], tuple) and out["b"][0].dtype == torch.int64
    assert out["b"][1][0].dtype == torch.float16 and out["c"] is None


# ---------------------------------------------------------------- space_utils


def test_batch_unbatch_round_trip():
    items = [{"a": i, "b": (np.full(2, i), float(i) / 2)} for i in range(3)]
    batched = batch(items)
    assert batched["a"].tolist() == [0, 1, 2]
    assert batched["b"][0].shape == (3, 2)
    back = unbatch(batched)
    assert len(back) == 3
    for item, again in zip(items, back):
        assert again["a"] == item["a"] and again["b"][1] == item["b"][1]
        np.testing.assert_array_equal(again["b"][0], item["b"][0])


def test_batch_concatenates_items_with_a_batch_dim_and_refuses_an_empty_list():
    out = batch([np.zeros((2, 3)), np.ones((1, 3))], individual_items_already_have_batch_dim=True)
    assert out.shape == (3, 3)
    with pytest.raises(ValueError, match="empty"):
        batch([])


def test_space_structs():
    space = gym.spaces.Dict(
        {"b": gym.spaces.Discrete(2), "a": gym.spaces.Tuple([gym.spaces.Box(0, 1, (2,))])}
    )
    assert flatten_space(space) == [space["a"][0], space["b"]]
    assert get_base_struct_from_space(space) == {"b": space["b"], "a": (space["a"][0],)}


# ---------------------------------------------------------------- target networks


def test_make_target_network_is_a_frozen_copy_with_equal_outputs():
    main = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    target = make_target_network(main)
    assert target is not main
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in main.parameters())
    x = torch.randn(5, 3)
    torch.testing.assert_close(target(x), main(x))
    with torch.no_grad():
        main[0].weight.add_(1.0)  # a copy, not shared weights
    assert not torch.equal(target[0].weight, main[0].weight)
    update_target_network(main_net=main, target_net=target, tau=1.0)
    torch.testing.assert_close(target(x), main(x))
    with pytest.raises(ValueError):
        make_target_network("not a network")


# ---------------------------------------------------------------- models.torch.misc


@pytest.mark.parametrize("size, kernel, stride", [(42, 4, 2), (11, 3, 1), (84, 8, 4), (7, 1, 1), (9, 2, 3)])
def test_same_padding_gives_ceil_in_over_stride(size, kernel, stride):
    padding, out_size = same_padding((size, size), kernel, stride)
    x = nn.ZeroPad2d(padding)(torch.zeros(1, 1, size, size))
    y = nn.Conv2d(1, 1, kernel, stride)(x)
    assert out_size == (-(-size // stride),) * 2 == tuple(y.shape[-2:])


@pytest.mark.parametrize("size, kernel, stride", [(42, 4, 2), (11, 11, 1), (84, 8, 4), (10, 3, 3)])
def test_valid_padding_matches_an_unpadded_conv(size, kernel, stride):
    y = nn.Conv2d(1, 1, kernel, stride)(torch.zeros(1, 1, size, size))
    assert valid_padding((size, size), kernel, stride) == tuple(y.shape[-2:])


def test_slim_conv2d_output_shape_and_activation():
    padding, out_size = same_padding((42, 42), 4, 2)
    layer = SlimConv2d(4, 16, 4, 2, padding, bias_init=0.5)
    y = layer(torch.randn(2, 4, 42, 42))
    assert y.shape == (2, 16, *out_size) and (y >= 0).all()
    linear = SlimConv2d(4, 8, 3, 1, None, activation_fn=None)
    assert linear(torch.randn(1, 4, 5, 5)).shape == (1, 8, 3, 3)
    assert torch.all(layer._model[1].bias == 0.5)


def test_slim_fc_and_normc_initializer():
    fc = SlimFC(3, 5, initializer=normc_initializer(0.01), activation_fn="tanh")
    torch.testing.assert_close(fc._model[0].weight.norm(dim=1), torch.full((5,), 0.01))
    assert fc(torch.randn(2, 3)).shape == (2, 5)
