"""Module checkpoints: safetensors + JSON, atomic, never unpickled, with errors that name the path."""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, MultiRLModule, MultiRLModuleSpec, RLModule, RLModuleSpec, TorchRLModule
from tripod.core.apis import TargetNetworkAPI
from tripod.io.checkpoint import CheckpointError, ClassImportError

OBS = gym.spaces.Box(-2.0, np.array([1.0, 2.0, 3.0, np.inf], np.float32), (4,), np.float32)
ACT = gym.spaces.Discrete(3)


class Policy(TorchRLModule):
    def setup(self):
        hidden = self.model_config.get("fcnet_hiddens", [8])[0]
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, self.action_space.n))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


class Heuristic(RLModule):
    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: np.zeros(len(batch[Columns.OBS]), np.int64)}


class TargetPolicy(Policy, TargetNetworkAPI):
    def make_target_networks(self):
        self.target_net = self.make_target_copy(self.net)

    def get_target_network_pairs(self):
        return [(self.net, self.target_net)]

    def forward_target(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.target_net(batch[Columns.OBS])}


def build(cls=Policy, seed=0, **kwargs):
    torch.manual_seed(seed)
    spec_kwargs = {"observation_space": OBS, "action_space": ACT, "model_config": {"fcnet_hiddens": [16]}}
    spec_kwargs.update(kwargs)
    return RLModuleSpec(module_class=cls, **spec_kwargs).build()


BATCH = {Columns.OBS: torch.linspace(-1, 1, 20).reshape(5, 4)}


def logits(module):
    return module.forward_inference(BATCH)[Columns.ACTION_DIST_INPUTS]


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- round trips
def test_save_and_load_single_module_gives_identical_outputs(tmp_path):
    module = build(seed=1)
    module.steps.fill_(7)
    path = tmp_path / "ckpt"
    assert module.save_to_path(path) == str(path)
    for loaded in (RLModule.from_checkpoint(path), Policy.from_checkpoint(str(path))):
        assert type(loaded) is Policy
        assert loaded.observation_space == OBS and loaded.action_space == ACT
        assert loaded.model_config == {"fcnet_hiddens": [16]}
        assert torch.equal(logits(loaded), logits(module))
        assert int(loaded.steps) == 7
    # restore_from_path into an existing module.
    other = build(seed=2)
    assert not torch.equal(logits(other), logits(module))
    other.restore_from_path(path)
    assert torch.equal(logits(other), logits(module))


def test_save_and_load_multi_module_gives_identical_outputs(tmp_path):
    torch.manual_seed(3)
    multi = MultiRLModuleSpec(
        rl_module_specs={
            "p0": RLModuleSpec(Policy, OBS, ACT, model_config={"fcnet_hiddens": [4]}),
            "p1": RLModuleSpec(Policy, OBS, gym.spaces.Discrete(2)),
            "fixed": RLModuleSpec(Heuristic, OBS, ACT),
        }
    ).build()
    multi.save_to_path(tmp_path / "multi")
    loaded = MultiRLModule.from_checkpoint(tmp_path / "multi")
    assert isinstance(loaded, MultiRLModule) and list(loaded.keys()) == ["p0", "p1", "fixed"]
    assert isinstance(loaded["fixed"], Heuristic)
    batch = {"p0": BATCH, "p1": BATCH, "fixed": BATCH}
    a, b = multi.forward_inference(batch), loaded.forward_inference(batch)
    for mid in ("p0", "p1"):
        assert torch.equal(a[mid][Columns.ACTION_DIST_INPUTS], b[mid][Columns.ACTION_DIST_INPUTS])
    np.testing.assert_array_equal(a["fixed"][Columns.ACTIONS], b["fixed"][Columns.ACTIONS])
    # A MultiRLModuleSpec can load all or some modules from it.
    torch.manual_seed(9)
    spec = MultiRLModuleSpec(
        rl_module_specs={
            "p0": RLModuleSpec(Policy, OBS, ACT, model_config={"fcnet_hiddens": [4]}),
            "p1": RLModuleSpec(Policy, OBS, gym.spaces.Discrete(2)),
        },
        load_state_path=str(tmp_path / "multi"),
        modules_to_load={"p1"},
    )
    partial = spec.build()
    out = partial.forward_inference({"p0": BATCH, "p1": BATCH})
    assert torch.equal(out["p1"][Columns.ACTION_DIST_INPUTS], a["p1"][Columns.ACTION_DIST_INPUTS])
    assert not torch.equal(out["p0"][Columns.ACTION_DIST_INPUTS], a["p0"][Columns.ACTION_DIST_INPUTS])


def test_inference_only_and_target_network_modules_round_trip(tmp_path):
    runner = build(inference_only=True)
    runner.save_to_path(tmp_path / "runner")
    assert RLModule.from_checkpoint(tmp_path / "runner").inference_only is True

    learner = build(TargetPolicy, seed=4)
    learner.make_target_networks()
    with torch.no_grad():
        learner.target_net[0].weight.mul_(0.5)
    learner.save_to_path(tmp_path / "learner")
    loaded = RLModule.from_checkpoint(tmp_path / "learner")
    assert torch.equal(
        loaded.forward_target(BATCH)[Columns.ACTION_DIST_INPUTS],
        learner.forward_target(BATCH)[Columns.ACTION_DIST_INPUTS],
    )
    assert torch.equal(logits(loaded), logits(learner))


# ----------------------------------------------------------------------------- format
def test_metadata_is_json_with_class_spaces_config_and_versions(tmp_path):
    path = tmp_path / "ckpt"
    build().save_to_path(path)
    assert files_under(path) == [
        "manifest.json",
        "metadata.json",
        "module_state.json",
        "module_state.safetensors",
    ]
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["class"] == f"{Policy.__module__}.Policy"
    assert meta["kind"] == "rl_module"
    assert meta["observation_space"]["type"] == "Box" and meta["observation_space"]["shape"] == [4]
    assert meta["observation_space"]["high"][-1] == "inf"  # JSON has no infinity
    assert meta["action_space"] == {"type": "Discrete", "n": 3, "start": 0, "dtype": "int64"}
    assert meta["model_config"] == {"fcnet_hiddens": [16]}
    assert meta["inference_only"] is False and meta["learner_only"] is False
    for key in (
        "format_version",
        "tripod_version",
        "torch_version",
        "gymnasium_version",
        "numpy_version",
        "python_version",
    ):
        assert meta[key], key
    assert meta["torch_version"] == torch.__version__
    # Nothing pickled anywhere: every file is JSON or safetensors (JSON header).
    for name in files_under(path):
        data = (path / name).read_bytes()
        assert not data.startswith(b"\x80"), name  # pickle protocol marker
        if name.endswith(".json"):
            json.loads(data)
        else:
            header_len = int.from_bytes(data[:8], "little")
            json.loads(data[8 : 8 + header_len])


def test_multi_checkpoint_layout(tmp_path):
    multi = MultiRLModule(rl_module_specs={"a": RLModuleSpec(Policy, OBS, ACT)})
    multi.save_to_path(tmp_path / "m")
    assert files_under(tmp_path / "m") == [
        "a/manifest.json",
        "a/metadata.json",
        "a/module_state.json",
        "a/module_state.safetensors",
        "manifest.json",
        "metadata.json",
    ]
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["kind"] == "multi_rl_module" and meta["modules"] == ["a"]
    assert meta["class"] == "tripod.core.rl_module.multi_rl_module.MultiRLModule"


# ----------------------------------------------------------------------------- bad input
def test_missing_directory_names_the_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(CheckpointError, match=re.escape(str(missing))):
        RLModule.from_checkpoint(missing)
    with pytest.raises(CheckpointError, match="metadata.json is missing"):
        (tmp_path / "empty").mkdir()
        RLModule.from_checkpoint(tmp_path / "empty")


def test_truncated_safetensors_names_the_path(tmp_path):
    path = tmp_path / "ckpt"
    build().save_to_path(path)
    (path / "manifest.json").unlink()  # as written before manifests: the parser's own checks
    weights = path / "module_state.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(weights))}.*truncated"):
        RLModule.from_checkpoint(path)
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match=re.escape(str(weights))):
        RLModule.from_checkpoint(path)


def test_corrupted_metadata_names_the_path(tmp_path):
    path = tmp_path / "ckpt"
    build().save_to_path(path)
    (path / "manifest.json").unlink()  # as written before manifests: the parser's own checks
    meta_file = path / "metadata.json"
    text = meta_file.read_text()
    meta_file.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(meta_file))}.*not valid JSON"):
        RLModule.from_checkpoint(path)
    meta = json.loads(text)
    del meta["observation_space"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(path))}.*observation_space"):
        RLModule.from_checkpoint(path)
    meta_file.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=re.escape(str(meta_file))):
        RLModule.from_checkpoint(path)


class _CreatesMarker:
    """Unpickling this calls ``open(marker, "w")``: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_files_in_a_checkpoint_are_never_executed(tmp_path):
    path = tmp_path / "ckpt"
    module = build(seed=5)
    module.save_to_path(path)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesMarker(marker))
    for name in ("module_state.pkl", "model.pt", "state.pickle", "data.pkl"):
        (path / name).write_bytes(payload)
    # Extra files are ignored; loading works and runs nothing.
    assert torch.equal(logits(RLModule.from_checkpoint(path)), logits(module))
    # A pickle (or a torch.save file) in place of the weights is an error, not executed.
    weights = path / "module_state.safetensors"
    weights.write_bytes(payload)
    with pytest.raises(CheckpointError, match=re.escape(str(weights))):
        RLModule.from_checkpoint(path)
    torch.save({"x": _CreatesMarker(marker)}, weights)
    with pytest.raises(CheckpointError, match=re.escape(str(weights))):
        RLModule.from_checkpoint(path)
    # A pickle in place of the JSON files is an error too.
    (path / "metadata.json").write_bytes(payload)
    with pytest.raises(CheckpointError, match="metadata.json"):
        RLModule.from_checkpoint(path)
    assert not marker.exists()


def test_failed_save_leaves_the_old_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt"
    good = build(seed=6)
    good.save_to_path(path)
    before = {name: (path / name).read_bytes() for name in files_under(path)}

    bad = build(seed=7)
    bad.model_config["activation"] = nn.ReLU  # not JSON-serialisable
    with pytest.raises(ValueError, match="model_config cannot be saved as JSON"):
        bad.save_to_path(path)
    assert {name: (path / name).read_bytes() for name in files_under(path)} == before
    assert torch.equal(logits(RLModule.from_checkpoint(path)), logits(good))
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no temp dirs left behind

    # Failing midway: the first sub-module is already written when the second fails.
    multi_path = tmp_path / "multi"
    MultiRLModule(rl_module_specs={"a": RLModuleSpec(Policy, OBS, ACT)}).save_to_path(multi_path)
    multi_before = {name: (multi_path / name).read_bytes() for name in files_under(multi_path)}
    failing = MultiRLModule(
        rl_module_specs={
            "a": RLModuleSpec(Policy, OBS, ACT),
            "b": RLModuleSpec(Policy, OBS, ACT, model_config={"fcnet_hiddens": [4], "bad": object()}),
        }
    )
    with pytest.raises(ValueError, match="JSON"):
        failing.save_to_path(multi_path)
    assert {name: (multi_path / name).read_bytes() for name in files_under(multi_path)} == multi_before
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "multi"]

    # A successful save replaces the checkpoint.
    bad.model_config.pop("activation")
    bad.save_to_path(path)
    assert torch.equal(logits(RLModule.from_checkpoint(path)), logits(bad))
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "multi"]


def test_class_from_main_or_a_function_needs_module_class(tmp_path):
    class LocalPolicy(Policy):
        pass

    path = tmp_path / "local"
    module = build(LocalPolicy, seed=8)
    module.save_to_path(path)
    with pytest.raises(ClassImportError, match=r"inside a function.*module_class=") as info:
        RLModule.from_checkpoint(path)
    assert isinstance(info.value, CheckpointError)
    loaded = RLModule.from_checkpoint(path, module_class=LocalPolicy)
    assert torch.equal(logits(loaded), logits(module))

    # A class defined in a script run as __main__ cannot be found from another process.
    ScriptPolicy = type("ScriptPolicy", (Policy,), {"__module__": "__main__"})
    path = tmp_path / "script"
    with pytest.warns(
        UserWarning, match=r"ScriptPolicy is defined in the script run as __main__.*module_class="
    ):
        build(ScriptPolicy).save_to_path(path)
    assert json.loads((path / "metadata.json").read_text())["class"] == "__main__.ScriptPolicy"
    with pytest.raises(ClassImportError, match=r"__main__.*module_class="):
        RLModule.from_checkpoint(path)
    assert type(RLModule.from_checkpoint(path, module_class=ScriptPolicy)) is ScriptPolicy

    # In a MultiRLModule checkpoint, module_class maps module ids to classes.
    multi = MultiRLModule(
        rl_module_specs={"local": RLModuleSpec(LocalPolicy, OBS, ACT), "p": RLModuleSpec(Policy, OBS, ACT)}
    )
    multi.save_to_path(tmp_path / "multi")
    with pytest.raises(ClassImportError, match="module_class="):
        MultiRLModule.from_checkpoint(tmp_path / "multi")
    loaded = MultiRLModule.from_checkpoint(tmp_path / "multi", module_class={"local": LocalPolicy})
    assert type(loaded["local"]) is LocalPolicy and type(loaded["p"]) is Policy


class EncoderModule(TorchRLModule):
    def setup(self):
        self.enc = nn.Linear(4, 3)

    def _forward(self, batch, **kwargs):
        return {"emb": self.enc(batch[Columns.OBS])}


class HeadModule(TorchRLModule):
    def setup(self):
        self.head = nn.Linear(3, self.action_space.n)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.head(batch["emb"])}


class SharedEncoderMulti(MultiRLModule):
    def setup(self):
        super().setup()
        assert "encoder" in self._rl_modules, "needs its encoder sub-module at setup()"
        self.encoder = self._rl_modules["encoder"]

    def _forward(self, batch, **kwargs):
        return {
            mid: self._rl_modules[mid]._forward({"emb": self.encoder._forward(b)["emb"]})
            for mid, b in batch.items()
        }


def test_custom_multi_rl_module_subclass_round_trips(tmp_path):
    torch.manual_seed(10)
    multi = MultiRLModuleSpec(
        multi_rl_module_class=SharedEncoderMulti,
        model_config={"note": "shared"},
        rl_module_specs={
            "encoder": RLModuleSpec(EncoderModule, OBS),
            "p0": RLModuleSpec(HeadModule, action_space=ACT),
        },
    ).build()
    multi.save_to_path(tmp_path / "m")
    loaded = RLModule.from_checkpoint(tmp_path / "m")
    assert type(loaded) is SharedEncoderMulti and loaded.model_config == {"note": "shared"}
    a = multi.forward_inference({"p0": BATCH})["p0"][Columns.ACTION_DIST_INPUTS]
    b = loaded.forward_inference({"p0": BATCH})["p0"][Columns.ACTION_DIST_INPUTS]
    assert torch.equal(a, b)
