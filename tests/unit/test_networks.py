"""Unit tests for tripod.core.networks (MLP, CNN, LSTM, flattening, model config)."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core.networks import (
    DEFAULT_MODEL_CONFIG,
    MLP,
    CNNEncoder,
    LSTMEncoder,
    ObsFlattener,
    build_encoder,
    flat_obs_dim,
    get_activation,
    is_image_space,
    resolve_model_config,
)

# ---------------------------------------------------------------- activations / MLP


@pytest.mark.parametrize(
    "name, cls",
    [
        ("relu", nn.ReLU),
        ("tanh", nn.Tanh),
        ("elu", nn.ELU),
        ("silu", nn.SiLU),
        ("swish", nn.SiLU),
        ("GELU", nn.GELU),
        ("linear", nn.Identity),
        (None, nn.Identity),
    ],
)
def test_get_activation(name, cls):
    assert isinstance(get_activation(name)(), cls)


def test_get_activation_unknown_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown activation 'relux'") as err:
        get_activation("relux")
    for valid in ("'relu'", "'tanh'", "'swish'", "'linear'"):
        assert valid in str(err.value)


def test_mlp_shapes_and_out_dim():
    net = MLP(4, [32, 16])
    assert net.out_dim == 16
    assert net(torch.zeros(5, 4)).shape == (5, 16)
    assert net(torch.zeros(2, 3, 4)).shape == (2, 3, 16)  # extra leading dims

    head = MLP(4, [32], activation="relu", out_dim=2)
    assert head.out_dim == 2
    assert isinstance(head[-1], nn.Linear)
    assert head(torch.zeros(7, 4)).shape == (7, 2)

    squashed = MLP(4, [], out_dim=3, output_activation="tanh")
    assert isinstance(squashed[-1], nn.Tanh)

    ident = MLP(6, [])
    assert ident.out_dim == 6
    x = torch.randn(3, 6)
    assert torch.equal(ident(x), x)


def test_mlp_output_init_std_and_orthogonal():
    net = MLP(64, [64], out_dim=4, output_init_std=0.01, orthogonal_init=True)
    out_layer = net[-1]
    assert torch.allclose(out_layer.weight.norm(dim=1), torch.full((4,), 0.01), atol=1e-6)
    assert torch.count_nonzero(out_layer.bias) == 0
    hidden = net[0].weight
    assert torch.allclose(hidden @ hidden.T, 2.0 * torch.eye(64), atol=1e-4)


def test_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive int"):
        MLP(4, [32, 0])
    with pytest.raises(ValueError, match="Unknown activation"):
        MLP(4, [32], activation="sigmoidz")


# ---------------------------------------------------------------- CNN


@pytest.mark.parametrize(
    "shape",
    [(84, 84, 3), (64, 64, 1), (42, 42, 4), (10, 10, 3), (7, 7, 3), (13, 29, 2), (96, 72, 3), (1, 1, 1)],
)
def test_cnn_default_filters_shapes(shape):
    enc = CNNEncoder(shape, scale=True)
    x = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    out = enc(x)
    assert out.shape == (2, enc.out_dim)
    assert out.dtype == torch.float32
    assert enc.out_dim == int(np.prod(enc.conv_out_shape))


def test_cnn_known_sizes():
    assert CNNEncoder((84, 84, 3)).conv_out_shape == (64, 7, 7)  # Nature CNN
    assert CNNEncoder((64, 64, 1)).out_dim == 64 * 6 * 6
    assert CNNEncoder((42, 42, 4)).out_dim == 64 * 3 * 3
    # RLlib's classic 84x84 stack: "same" padding except for the last layer.
    rllib = CNNEncoder((84, 84, 3), conv_filters=[[16, [8, 8], 4], [32, 4, 2], [256, 11, 1]])
    assert rllib.conv_out_shape == (256, 1, 1)
    assert rllib.out_dim == 256
    explicit = CNNEncoder((84, 84, 3), conv_filters=[[32, 8, 4, "valid"], [64, 4, 2, "same"], [8, 3, 1, 1]])
    assert explicit.conv_out_shape == (8, 10, 10)


def test_cnn_channel_last_and_scaling():
    torch.manual_seed(0)
    enc = CNNEncoder((12, 10, 3), conv_filters=[[4, 3, 1, "valid"]], activation="linear", scale=True)
    img = torch.randint(0, 256, (2, 12, 10, 3), dtype=torch.uint8)
    conv = enc.net[0]
    expected = conv(img.permute(0, 3, 1, 2).float() / 255.0).reshape(2, -1)
    assert torch.allclose(enc(img), expected, atol=1e-5)
    # numpy input and extra leading dims [B, T, H, W, C]
    seq = img.numpy()[None]
    assert torch.allclose(enc(seq)[0], expected, atol=1e-5)


def test_cnn_errors():
    with pytest.raises(ValueError, match="does not fit its 9x9 input"):
        CNNEncoder((84, 84, 3), conv_filters=[[32, 8, 4, "valid"], [64, 4, 2, "valid"], [64, 11, 1, "valid"]])
    with pytest.raises(ValueError, match=r"conv_filters\[1\]: kernel must be"):
        CNNEncoder((84, 84, 3), conv_filters=[[32, 8, 4], [64, "4", 2]])
    with pytest.raises(ValueError, match="channel-last image shape"):
        CNNEncoder((84, 84))
    enc = CNNEncoder((10, 10, 3))
    with pytest.raises(ValueError, match="channel-last"):
        enc(torch.zeros(2, 3, 10, 10))


# ---------------------------------------------------------------- LSTM


def test_lstm_sequence_equals_stepwise():
    torch.manual_seed(0)
    lstm = LSTMEncoder(6, 8)
    x = torch.randn(3, 5, 6)
    init = lstm.get_initial_state()
    assert set(init) == {"h", "c"} and init["h"].shape == (8,) and init["c"].shape == (8,)
    state = {k: v.unsqueeze(0).repeat(3, 1) for k, v in init.items()}
    state["h"] = state["h"] + 0.1  # non-zero start state is carried in as well

    out_all, final_all = lstm(x, state)
    assert out_all.shape == (3, 5, 8)

    s = state
    steps = []
    for t in range(5):
        out_t, s = lstm(x[:, t : t + 1], s)
        steps.append(out_t)
    assert torch.allclose(torch.cat(steps, dim=1), out_all, atol=1e-6)
    assert torch.allclose(s["h"], final_all["h"], atol=1e-6)
    assert torch.allclose(s["c"], final_all["c"], atol=1e-6)
    assert torch.allclose(out_all[:, -1], final_all["h"], atol=1e-6)


def test_lstm_none_state_is_zeros_and_errors():
    lstm = LSTMEncoder(4, 5)
    x = torch.randn(2, 3, 4)
    zeros = {"h": torch.zeros(2, 5), "c": torch.zeros(2, 5)}
    assert torch.allclose(lstm(x)[0], lstm(x, zeros)[0])
    with pytest.raises(ValueError, match=r"\[B, T, 4\]"):
        lstm(torch.randn(2, 4))
    with pytest.raises(ValueError, match="must have shape"):
        lstm(x, {"h": torch.zeros(5), "c": torch.zeros(5)})


# ---------------------------------------------------------------- ObsFlattener


def test_flatten_discrete_with_start():
    space = gym.spaces.Discrete(3, start=1)
    flat = ObsFlattener(space)
    out = flat(torch.tensor([1, 3, 2]))
    assert torch.equal(out, torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]]))
    assert flat.out_dim == flat_obs_dim(space) == 3


def test_flatten_multidiscrete():
    space = gym.spaces.MultiDiscrete([3, 2])
    flat = ObsFlattener(space)
    out = flat(np.array([[2, 0], [0, 1]]))
    assert torch.equal(out, torch.tensor([[0.0, 0, 1, 1, 0], [1, 0, 0, 0, 1]]))
    assert flat_obs_dim(space) == 5
    with pytest.raises(ValueError, match="outside MultiDiscrete"):
        flat(torch.tensor([[3, 0]]))


def test_flatten_dict_sorted_keys_and_tuple():
    space = gym.spaces.Dict(
        {
            "z": gym.spaces.Box(-1.0, 1.0, (2,)),
            "a": gym.spaces.Discrete(2),
            "m": gym.spaces.MultiBinary(3),
        }
    )
    flat = ObsFlattener(space)
    obs = {"z": torch.tensor([[0.5, -0.5]]), "a": torch.tensor([1]), "m": torch.tensor([[1, 0, 1]])}
    # Keys sorted: a (one-hot 2), m (3 bits), z (2 floats).
    assert torch.equal(flat(obs), torch.tensor([[0.0, 1, 1, 0, 1, 0.5, -0.5]]))
    assert flat.out_dim == 7

    tup = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Tuple((gym.spaces.Box(0, 1, (1, 2)),))))
    tflat = ObsFlattener(tup)
    out = tflat((np.array([0, 1]), [np.array([[[0.1, 0.2]], [[0.3, 0.4]]], dtype=np.float32)]))
    expected = torch.tensor([[1.0, 0, 0.1, 0.2], [0, 1, 0.3, 0.4]])
    assert torch.allclose(out, expected)
    assert flat_obs_dim(tup) == 4


def test_flatten_keeps_leading_dims_box_and_dtype():
    flat = ObsFlattener(gym.spaces.Box(0, 255, (2, 3), dtype=np.uint8))
    x = torch.arange(4 * 5 * 6, dtype=torch.uint8).reshape(4, 5, 2, 3)
    out = flat(x)
    assert out.shape == (4, 5, 6) and out.dtype == torch.float32
    assert torch.equal(out, x.reshape(4, 5, 6).float())
    assert flat.double()(x).dtype == torch.float64
    with pytest.raises(ValueError, match=r"shape \[\.\.\., 2, 3\]"):
        flat(torch.zeros(4, 3, 2))


def test_flatten_errors():
    with pytest.raises(ValueError, match="Text") as err:
        ObsFlattener(gym.spaces.Dict({"msg": gym.spaces.Text(5)}))
    assert "obs['msg']" in str(err.value)
    graph = gym.spaces.Graph(node_space=gym.spaces.Box(0, 1, (2,)), edge_space=None)
    with pytest.raises(ValueError, match="Graph"):
        flat_obs_dim(graph)
    flat = ObsFlattener(gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Discrete(2)}))
    with pytest.raises(ValueError, match="lacks key 'b'"):
        flat({"a": torch.tensor([0])})
    with pytest.raises(ValueError, match="outside Discrete"):
        ObsFlattener(gym.spaces.Discrete(2))(torch.tensor([2]))
    assert len(flat.state_dict()) == 0  # nothing but non-persistent helpers


# ---------------------------------------------------------------- model config


def test_resolve_model_config_defaults_and_merge():
    cfg = resolve_model_config(None)
    assert cfg == DEFAULT_MODEL_CONFIG
    cfg["fcnet_hiddens"].append(1)
    assert DEFAULT_MODEL_CONFIG["fcnet_hiddens"] == [256, 256]  # a copy
    cfg = resolve_model_config({"fcnet_hiddens": (64,), "use_lstm": True, "lstm_cell_size": np.int64(32)})
    assert cfg["fcnet_hiddens"] == [64] and cfg["use_lstm"] is True and cfg["lstm_cell_size"] == 32
    assert cfg["fcnet_activation"] == "tanh"


def test_resolve_model_config_unknown_key_suggests():
    with pytest.raises(ValueError) as err:
        resolve_model_config({"fcnet_hidden": [64]})
    msg = str(err.value)
    assert "Unknown model_config key 'fcnet_hidden'" in msg
    assert "Did you mean 'fcnet_hiddens'?" in msg
    assert "lstm_cell_size" in msg  # lists the valid keys
    with pytest.raises(ValueError) as err:
        resolve_model_config({"zzzz": 1})
    assert "Did you mean" not in str(err.value)


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("fcnet_hiddens", [256, -1], "list of positive ints"),
        ("fcnet_hiddens", 256, "list of positive ints"),
        ("fcnet_hiddens", [True], "list of positive ints"),
        ("fcnet_activation", "relux", "Unknown activation 'relux'"),
        ("conv_filters", [[16, 8]], r"conv_filters\[0\] must be"),
        ("use_lstm", "yes", "True or False"),
        ("lstm_cell_size", 0, "positive int"),
        ("max_seq_len", 2.5, "positive int"),
    ],
)
def test_resolve_model_config_bad_types(key, value, text):
    with pytest.raises(ValueError, match=text) as err:
        resolve_model_config({key: value})
    assert f"model_config['{key}']" in str(err.value)


# ---------------------------------------------------------------- build_encoder


def test_is_image_space():
    assert is_image_space(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8))
    assert not is_image_space(gym.spaces.Box(0, 1, (84, 84)))
    assert not is_image_space(gym.spaces.Box(-1, 1, (4,)))
    assert not is_image_space(gym.spaces.Discrete(3))


def test_build_encoder_picks_cnn_or_mlp():
    img = build_encoder(gym.spaces.Box(0, 255, (42, 42, 4), np.uint8), {"fcnet_hiddens": [64]})
    assert isinstance(img.base[0], CNNEncoder) and img.base[0].scale
    assert img.out_dim == 64 and not img.is_stateful()
    feats, state = img(torch.zeros(3, 42, 42, 4, dtype=torch.uint8))
    assert feats.shape == (3, 64) and state is None

    float_img = build_encoder(gym.spaces.Box(0.0, 1.0, (10, 10, 3)), {"fcnet_hiddens": []})
    assert isinstance(float_img.base[0], CNNEncoder) and not float_img.base[0].scale
    assert float_img.out_dim == float_img.base[0].out_dim

    vec = build_encoder(gym.spaces.Box(-1, 1, (4,)), None)
    assert isinstance(vec.base[0], ObsFlattener)
    assert vec.out_dim == 256
    assert isinstance(vec.base[1][1], nn.Tanh)
    assert vec(torch.zeros(5, 4))[0].shape == (5, 256)


def test_build_encoder_lstm():
    space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (3,)), "id": gym.spaces.Discrete(4)})
    enc = build_encoder(space, {"fcnet_hiddens": [16], "use_lstm": True, "lstm_cell_size": 8})
    assert enc.is_stateful() and enc.out_dim == 8
    init = enc.get_initial_state()
    assert init["h"].shape == (8,)
    obs = {"pos": torch.randn(2, 5, 3), "id": torch.randint(0, 4, (2, 5))}
    state = {k: v.expand(2, -1) for k, v in init.items()}
    feats, new_state = enc(obs, state)
    assert feats.shape == (2, 5, 8) and new_state["c"].shape == (2, 8)
    with pytest.raises(ValueError, match=r"\[B, T, \.\.\.\]"):
        enc({"pos": torch.randn(2, 3), "id": torch.zeros(2, dtype=torch.long)})
    # Target networks deep-copy encoders; the copy must work independently.
    clone = copy.deepcopy(enc)
    assert torch.allclose(clone(obs, state)[0], feats)


def test_build_encoder_rejects_bad_config_and_space():
    with pytest.raises(ValueError, match="Did you mean 'conv_filters'"):
        build_encoder(gym.spaces.Box(0, 1, (4,)), {"conv_filter": None})
    with pytest.raises(ValueError, match="Text"):
        build_encoder(gym.spaces.Text(4), {})


def test_symmetric_same_padding_is_the_convs_own_and_matches_explicit_zero_padding():
    from torch import nn as tnn

    from tripod.core.networks.cnn import CNNEncoder

    enc = CNNEncoder((10, 10, 4), conv_filters=[[16, 3, 1, "same"], [8, 2, 1, "same"]])
    kinds = [type(m).__name__ for m in enc.net]
    # 3x3: padding 1 each side, folded into the conv (an Identity keeps the indices); 2x2: 0 and 1, explicit.
    assert kinds == ["Identity", "Conv2d", "ReLU", "ZeroPad2d", "Conv2d", "ReLU"]
    assert sorted(enc.state_dict()) == ["net.1.bias", "net.1.weight", "net.4.bias", "net.4.weight"]
    x = torch.rand(3, 10, 10, 4)
    conv = enc.net[1]
    explicit = tnn.functional.conv2d(tnn.functional.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1)), conv.weight, conv.bias)
    torch.testing.assert_close(conv(x.permute(0, 3, 1, 2)), explicit)
