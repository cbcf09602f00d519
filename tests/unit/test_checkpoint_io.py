"""Checkpoint I/O without pickle: spaces as JSON, state trees, atomic writes, load errors."""

from __future__ import annotations

import json
import math
import pathlib
import pickle

import numpy as np
import pytest
import torch
from gymnasium import spaces

from tripod.io.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    OverwriteError,
    atomic_directory,
    class_path,
    flatten_state,
    import_class,
    load_state,
    read_json,
    read_metadata,
    save_state,
    unflatten_state,
    write_json,
    write_metadata,
)
from tripod.io.spaces import space_from_dict, space_to_dict, spaces_equal


def _f32(*values):
    return np.array(values, dtype=np.float32)


SPACES = {
    "box_unbounded": spaces.Box(-np.inf, np.inf, (3,), np.float32),
    "box_mixed_inf": spaces.Box(
        np.array([-1.0, -np.inf, 0.1]), np.array([np.inf, 2.0, 0.2]), dtype=np.float64
    ),
    "box_f32_values": spaces.Box(_f32(-1.0, -np.inf, 0.1), _f32(np.inf, 2.0, 0.2)),
    "box_uint8_image": spaces.Box(0, 255, (4, 4, 3), np.uint8),
    "box_int_unbounded": spaces.Box(-np.inf, np.inf, (2,), np.int64),
    "box_int_half_bounded": spaces.Box(np.array([-np.inf, 2]), np.array([3, 4]), dtype=np.int64),
    "box_int16": spaces.Box(np.array([1, 2], np.int16), np.array([3, 4], np.int16), dtype=np.int16),
    "box_0d": spaces.Box(-5, 5, (), np.int32),
    "box_empty": spaces.Box(0, 1, (0, 3), np.float32),
    "box_bool": spaces.Box(0, 1, (3,), bool),
    "discrete": spaces.Discrete(5, start=-2),
    "discrete_int32": spaces.Discrete(3, dtype=np.int32),
    "multidiscrete": spaces.MultiDiscrete([3, 4, 5], start=[1, 0, -1]),
    "multidiscrete_2d": spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]), dtype=np.int32),
    "multibinary": spaces.MultiBinary(4),
    "multibinary_2d": spaces.MultiBinary([2, 3]),
    "dict_sorted": spaces.Dict({"b": spaces.Discrete(2), "a": spaces.Box(0, 1, (2,))}),
    "dict_ordered_nested": spaces.Dict(
        [("z", spaces.Discrete(2)), ("a", spaces.Tuple([spaces.Discrete(3), spaces.MultiBinary(2)]))]
    ),
    "tuple_empty": spaces.Tuple([]),
}


@pytest.mark.parametrize("name", SPACES)
def test_space_round_trip_through_strict_json(name):
    space = SPACES[name]
    text = json.dumps(space_to_dict(space), allow_nan=False)  # strict JSON: no Infinity literals
    back = space_from_dict(json.loads(text))
    assert back == space
    assert spaces_equal(back, space)
    assert type(back) is type(space)


def test_space_encoding_details():
    assert space_to_dict(SPACES["box_unbounded"])["low"] == "-inf"  # uniform bound: one scalar
    assert space_to_dict(SPACES["box_mixed_inf"])["high"] == ["inf", 2.0, 0.2]
    back = space_from_dict(space_to_dict(SPACES["box_int_half_bounded"]))
    assert back.bounded_below.tolist() == [False, True]  # gymnasium's "unbounded" flag survives
    assert list(space_from_dict(space_to_dict(SPACES["dict_ordered_nested"])).spaces) == ["z", "a"]


def test_spaces_equal_is_strict():
    box = spaces.Box(0, 1, (2,), np.float32)
    assert not spaces_equal(box, spaces.Box(0, 1, (2,), np.float64))
    box64 = spaces.Box(0, 1, (2,), np.float64)
    assert box64 == spaces.Box(0, 1 + 1e-9, (2,), np.float64)  # gymnasium: allclose
    assert not spaces_equal(box64, spaces.Box(0, 1 + 1e-9, (2,), np.float64))
    assert not spaces_equal(spaces.Discrete(3), spaces.Discrete(3, start=1))
    a_then_b = spaces.Dict([("a", spaces.Discrete(2)), ("b", spaces.Discrete(3))])
    b_then_a = spaces.Dict([("b", spaces.Discrete(3)), ("a", spaces.Discrete(2))])
    assert a_then_b == b_then_a and not spaces_equal(a_then_b, b_then_a)
    assert not spaces_equal(spaces.Tuple([box]), spaces.Tuple([box, box]))


class _MyBox(spaces.Box):
    pass


@pytest.mark.parametrize(
    "space, name",
    [
        (spaces.Text(5), "Text"),
        (spaces.Sequence(spaces.Discrete(2)), "Sequence"),
        (spaces.Tuple([spaces.Discrete(2), spaces.Text(3)]), "Text"),
        (_MyBox(0, 1, (2,)), "_MyBox"),
    ],
)
def test_unsupported_space_names_itself(space, name):
    with pytest.raises(ValueError, match=rf"{name}.*supported spaces are Box, Discrete"):
        space_to_dict(space)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"type": "Graph"}, "unknown space type 'Graph'"),
        ({"n": 3}, "unknown space type None"),
        ([1, 2], "expected a dict"),
        ({"type": "Discrete"}, "missing field 'n'"),
        ({"type": "Box", "shape": [2], "dtype": "float32", "low": 0.0}, "missing field 'high'"),
        ({"type": "Box", "shape": [2], "dtype": "nope", "low": 0, "high": 1}, "unknown dtype 'nope'"),
        ({"type": "Box", "shape": [2], "dtype": "float32", "low": "huge", "high": 1}, "unknown value 'huge'"),
        ({"type": "Box", "shape": [2], "dtype": "float32", "low": [0, 0, 0], "high": 1}, "shape"),
        ({"type": "Box", "shape": [2], "dtype": "uint8", "low": "-inf", "high": 1}, "infinite bounds"),
        ({"type": "Box", "shape": [2], "dtype": "float32", "low": 2, "high": 1}, "invalid Box"),
        ({"type": "Discrete", "n": "3"}, "expected an integer"),
        ({"type": "Dict", "spaces": [["a", {"type": "Discrete"}]]}, r"space\['a'\].*missing field 'n'"),
        ({"type": "Tuple", "spaces": [{"type": "Discrete", "n": 2}, {"type": "?"}]}, r"space\[1\]: unknown"),
    ],
)
def test_malformed_space_dict_is_a_clear_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        space_from_dict(data)


# --------------------------------------------------------------------------- state trees


def _assert_same(a, b, path="root"):
    """Equal values *and* identical types, recursively (dict key order and key types too)."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b], path
        for key in a:
            _assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}/{i}")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a.view(torch.uint8) if a.dtype.itemsize == 1 else a, b.view(a.dtype)), path
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b) and np.array_equal(a, b), path
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def _rich_state():
    return {
        "optimizer": {
            "state": {
                0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)},
                1: {"step": torch.tensor(7)},
            },
            "param_groups": [{"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "foreach": None}],
        },
        "torch": {
            str(dtype): torch.arange(6).reshape(2, 3).to(dtype)
            for dtype in (
                torch.float32,
                torch.float64,
                torch.float16,
                torch.bfloat16,
                torch.int64,
                torch.uint8,
            )
        },
        "torch_misc": {
            "bool": torch.tensor([True, False]),
            "0d": torch.tensor(2.5),
            "int32": torch.tensor([1, 2]),
        },
        "numpy": {
            "bool": np.array([True, False]),
            "int64": np.arange(4, dtype=np.int64),
            "float32": np.ones((2, 2), np.float32),
            "float64": np.zeros(3),
            "uint8": np.arange(5, dtype=np.uint8),
            "0d": np.array(1.5, dtype=np.float32),
            "empty": np.zeros((0, 4)),
            "transposed": np.arange(6.0).reshape(2, 3).T,
            "big_endian": np.arange(3, dtype=">i4").astype(np.int32),
        },
        "numpy_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True)],
        "python": {
            "int": 2**70,
            "float": 0.1,
            "bool": False,
            "none": None,
            "str": "x/y",
            "list": [1, [2.0, "z"]],
        },
        "special_floats": [math.inf, -math.inf, math.nan],
        "tricky/key": torch.zeros(1),
        "tricky": {"key": torch.ones(1)},
        5: torch.ones(2),
        "5": torch.ones(3),
        "empty_dict": {},
    }


def test_flatten_unflatten_round_trip_restores_exact_types():
    state = _rich_state()
    tensors, meta = flatten_state(state)
    assert all(isinstance(v, np.ndarray) for v in tensors.values())
    assert len(tensors) == len(set(tensors))
    assert "optimizer/state/0/exp_avg" in tensors  # keys joined with "/"
    meta = json.loads(json.dumps(meta, allow_nan=False))  # meta is strict JSON
    _assert_same(state, unflatten_state(tensors, meta))


def test_save_and_load_state_on_disk(tmp_path):
    state = _rich_state()
    save_state(tmp_path, "module_state", state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["module_state.json", "module_state.safetensors"]
    loaded = load_state(tmp_path, "module_state")
    _assert_same(state, loaded)
    loaded["numpy"]["float32"][0, 0] = 5.0  # loaded arrays are writable copies


def test_torch_optimizer_state_round_trip(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_state(tmp_path, "opt", opt.state_dict())
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    opt2.load_state_dict(load_state(tmp_path, "opt"))
    _assert_same(opt.state_dict(), opt2.state_dict())


@pytest.mark.parametrize(
    "state, message",
    [
        ({"a": {1.5: 1}}, r"key 1\.5 \(float\) at 'a'"),
        ({"a": {True: 1}}, "keys must be str or int"),
        ({"a": [{"s": {1, 2}}]}, r"type set at 'a/0/s'"),
        ({"a": np.array(["x"])}, "dtype <U1"),
        ({"a": np.zeros(2, dtype=np.complex128)}, "complex128"),
    ],
)
def test_flatten_rejects_unstorable_values_naming_the_path(state, message):
    with pytest.raises(TypeError, match=message):
        flatten_state(state)


def test_unflatten_detects_mismatched_arrays():
    tensors, meta = flatten_state({"w": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="missing from the tensor file"):
        unflatten_state({}, meta)
    with pytest.raises(ValueError, match="dtype float64, expected float32"):
        unflatten_state({"w": np.zeros((2, 3))}, meta)
    with pytest.raises(ValueError, match="shape"):
        unflatten_state({"w": np.zeros(6, np.float32)}, meta)
    with pytest.raises(ValueError, match="format version"):
        unflatten_state(tensors, {**meta, "format_version": 99})


# --------------------------------------------------------------------------- atomic writes


def test_atomic_directory_creates_and_replaces(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and not target.exists()
        write_metadata(tmp, {"kind": "test"})
        (tmp / "a.json").write_text("1")
    assert (target / "a.json").read_text() == "1"
    with atomic_directory(target) as tmp:  # a tripod checkpoint is replaced
        write_metadata(tmp, {"kind": "test"})
        (tmp / "b.json").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.json", "metadata.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temp dir or backup left behind


def test_atomic_directory_keeps_old_checkpoint_when_body_raises(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        write_metadata(tmp, {"kind": "test"})
        save_state(tmp, "state", {"w": torch.ones(3)})
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(target) as tmp:
        save_state(tmp, "state", {"w": torch.zeros(3)})
        raise RuntimeError("boom")
    assert torch.equal(load_state(target, "state")["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_atomic_directory_refuses_to_replace_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with (
        pytest.raises(OverwriteError, match="exists and is not a directory"),
        atomic_directory(tmp_path / "f"),
    ):
        pass
    assert (tmp_path / "f").read_text() == "x"


def test_write_json_is_strict_and_atomic(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": [1, 2.5, None]})
    with pytest.raises(ValueError):
        write_json(path, {"x": math.nan})
    assert read_json(path) == {"x": [1, 2.5, None]}  # failed write left the old file
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# --------------------------------------------------------------------------- load errors


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        save_state(tmp_path, "../escape", {})
    with pytest.raises(CheckpointError, match=r"checkpoint directory .*nowhere does not exist"):
        load_state(tmp_path / "nowhere", "state")
    with pytest.raises(CheckpointError, match=r"state\.json is missing"):
        load_state(tmp_path, "state")
    save_state(tmp_path, "state", {"w": torch.ones(1)})
    (tmp_path / "state.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"state\.safetensors is missing"):
        load_state(tmp_path, "state")


def test_interrupted_replace_points_to_backup(tmp_path):
    (tmp_path / ".ckpt.old-1234").mkdir()
    with pytest.raises(CheckpointError, match=r"previous version survives at .*\.ckpt\.old-1234"):
        read_metadata(tmp_path / "ckpt")


@pytest.mark.parametrize("keep", [0, 5, 20, -7])
def test_truncated_safetensors_is_a_checkpoint_error(tmp_path, keep):
    save_state(tmp_path, "state", {"w": torch.randn(100), "b": np.arange(10)})
    path = tmp_path / "state.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=r"state\.safetensors is truncated"):
        load_state(tmp_path, "state")


@pytest.mark.parametrize(
    "text", ['{"format_version": 1, "tree": ', "", "\x00\x01garbage", "[1, 2]", "[" * 100_000 + "]" * 100_000]
)
def test_corrupt_json_is_a_checkpoint_error(tmp_path, text):
    save_state(tmp_path, "state", {"w": torch.ones(2)})
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(CheckpointError, match=r"state(\.json| 'state')"):
        load_state(tmp_path, "state")


class _TouchOnUnpickle:
    """Pickle payload: unpickling it creates a marker file (proof that it was executed)."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_payload_is_live_when_unpickled(tmp_path):
    pickle.loads(pickle.dumps(_TouchOnUnpickle(tmp_path / "control")))
    assert (tmp_path / "control").exists()


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_disguised_as_safetensors_is_never_unpickled(tmp_path, writer):
    marker = tmp_path / "executed"
    ckpt = tmp_path / "ckpt"
    save_state(ckpt, "module_state", {"w": torch.ones(2)})
    payload = {"w": _TouchOnUnpickle(marker)}
    if writer == "pickle":
        (ckpt / "module_state.safetensors").write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, ckpt / "module_state.safetensors")
    with pytest.raises(CheckpointError, match="not a safetensors file|truncated or corrupt"):
        load_state(ckpt, "module_state")
    assert not marker.exists()


def test_pickle_files_in_checkpoint_are_ignored(tmp_path):
    marker = tmp_path / "executed"
    ckpt = tmp_path / "ckpt"
    with atomic_directory(ckpt) as tmp:
        write_metadata(tmp, {"kind": "rl_module"})
        save_state(tmp, "module_state", {"w": torch.ones(2)})
    (ckpt / "module_state.pkl").write_bytes(pickle.dumps(_TouchOnUnpickle(marker)))
    read_metadata(ckpt, expected_kind="rl_module")
    assert torch.equal(load_state(ckpt, "module_state")["w"], torch.ones(2))
    assert not marker.exists()


# --------------------------------------------------------------------------- metadata


def test_metadata_round_trip(tmp_path):
    written = write_metadata(tmp_path, {"kind": "rl_module", "module_class": "a.B", "format_version": 1})
    meta = read_metadata(tmp_path, expected_kind="rl_module")
    assert meta == written
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "rl_module"
    assert meta["torch_version"] == torch.__version__
    assert {"tripod_version", "gymnasium_version"} <= set(meta)
    with pytest.raises(ValueError, match="kind"):
        write_metadata(tmp_path, {"module_class": "a.B"})


def test_metadata_errors(tmp_path):
    with pytest.raises(CheckpointError, match="metadata.json is missing"):
        read_metadata(tmp_path)
    write_metadata(tmp_path, {"kind": "algorithm"})
    with pytest.raises(CheckpointError, match="kind 'algorithm'.*'rl_module' checkpoint was expected"):
        read_metadata(tmp_path, expected_kind="rl_module")
    path = tmp_path / "metadata.json"
    write_json(path, {"format_version": FORMAT_VERSION + 1, "kind": "rl_module"})
    with pytest.raises(CheckpointError, match="format version 2 is not supported.*upgrade tripod"):
        read_metadata(tmp_path)
    write_json(path, {"kind": "rl_module"})
    with pytest.raises(CheckpointError, match=r"missing required keys \['format_version'\]"):
        read_metadata(tmp_path)
    write_json(path, [1])
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        read_metadata(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        read_metadata(tmp_path / "file")


# --------------------------------------------------------------------------- classes


def test_class_path_round_trip():
    assert class_path(CheckpointError) == "tripod.io.checkpoint_files.CheckpointError"
    assert import_class(class_path(CheckpointError)) is CheckpointError
    assert import_class(class_path(torch.nn.Linear)) is torch.nn.Linear
    assert import_class("tripod.io.checkpoint:CheckpointError") is CheckpointError


def test_class_path_of_local_class_fails_clearly_on_import():
    class Local:
        pass

    with pytest.raises(CheckpointError, match="inside a function.*pass module_class"):
        import_class(class_path(Local))


@pytest.mark.parametrize(
    "path, message",
    [
        ("no_such_pkg.mod.Cls", "no module named 'no_such_pkg'"),
        ("tripod.io.checkpoint.Missing", "module 'tripod.io.checkpoint' has no attribute 'Missing'"),
        ("__main__.MyModule", "script run as __main__ has no attribute 'MyModule'.*pass module_class"),
        ("tripod.io.checkpoint.FORMAT_VERSION", "not a class"),
        ("", "invalid class path"),
    ],
)
def test_import_class_errors(path, message):
    with pytest.raises(CheckpointError, match=message) as info:
        import_class(path)
    assert isinstance(info.value, ImportError)


def test_atomic_writes_use_normal_permissions(tmp_path):
    import os
    import stat

    from tripod.io.checkpoint import atomic_directory, write_json

    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "ckpt") as tmp:
            write_json(tmp / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ckpt").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "ckpt" / "a.json").stat().st_mode) == 0o644
