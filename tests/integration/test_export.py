"""Export to ONNX and torch.export: each exported file runs (onnxruntime, ``torch.export.load``) and
gives the module's ``forward_inference`` outputs to 1e-5; the sidecar describes inputs, outputs and
spaces; the CLI exports one or all modules; bad input is refused without losing a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from tripod.algorithms.ppo import PPOConfig
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from tripod.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from tripod.cli import main
from tripod.core import Columns, MultiRLModule, RLModuleSpec, TorchRLModule
from tripod.envs import CartPoleHeuristicModule, MultiAgentCartPole
from tripod.export import ExportError, export_checkpoint, export_modules, to_onnx, to_pt2

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

ATOL = 1e-5
CARTPOLE = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
PENDULUM = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def map_by_index(agent_id, episode, **kwargs):
    """Agent i -> module "p{i}" (module level: the checkpoint stores it as an import path)."""
    return f"p{agent_id}"


class SeedStyleModule(TorchRLModule):
    """The tutorial's habit: a ``torch.distributions.Categorical`` as ``action_dist_inputs``."""

    def setup(self):
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))

    def _forward(self, batch, **kwargs):
        return {
            Columns.ACTION_DIST_INPUTS: torch.distributions.Categorical(logits=self.net(batch[Columns.OBS]))
        }


class TinyGRUModule(TorchRLModule):
    """A stateful module: obs ``[B, T, 4]`` and ``state_in {"h": [B, 8]}`` -> logits ``[B, T, 2]``, state_out."""

    def setup(self):
        self.cell = nn.GRUCell(4, 8)
        self.pi = nn.Linear(8, 2)

    def get_initial_state(self):
        return {"h": torch.full((8,), 0.1)}

    def _forward(self, batch, **kwargs):
        obs, h = batch[Columns.OBS], batch[Columns.STATE_IN]["h"]
        logits = []
        for t in range(obs.shape[1]):
            h = self.cell(obs[:, t], h)
            logits.append(self.pi(h))
        return {Columns.ACTION_DIST_INPUTS: torch.stack(logits, 1), Columns.STATE_OUT: {"h": h}}


class ShapeFixedModule(TorchRLModule):
    """Not exportable with a dynamic batch: it branches on the batch's size."""

    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        obs = batch[Columns.OBS]
        if obs.shape[0] == 3:
            obs = obs * 2
        return {Columns.ACTION_DIST_INPUTS: self.net(obs)}


def run_exported(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an exported file on named inputs: onnxruntime for .onnx, torch.export.load for .pt2."""
    sidecar = json.loads(path.with_suffix(".json").read_text())
    names_in = [i["name"] for i in sidecar["inputs"]]
    names_out = [o["name"] for o in sidecar["outputs"]]
    if path.suffix == ".onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == names_in
        assert [o.name for o in session.get_outputs()] == names_out
        outs = session.run(None, {name: feeds[name] for name in names_in})
    else:
        program = torch.export.load(str(path)).module()
        outs = [t.numpy() for t in program(*[torch.from_numpy(feeds[name]) for name in names_in])]
    return dict(zip(names_out, outs, strict=True))


def reference(module, batch) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = module.forward_inference(batch)
    dist = out.get(Columns.ACTION_DIST_INPUTS)
    if isinstance(dist, torch.distributions.Categorical):
        out[Columns.ACTION_DIST_INPUTS] = dist.logits
    return {k: v.numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}


def assert_close(got: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert got[name].shape == value.shape and got[name].dtype == value.dtype, name
        np.testing.assert_allclose(got[name], value, atol=ATOL, rtol=0)


DEFAULT_MODULES = {
    "ppo_discrete": (DefaultPPOTorchRLModule, CARTPOLE, gym.spaces.Discrete(2), "action_dist_inputs"),
    "ppo_box": (
        DefaultPPOTorchRLModule,
        gym.spaces.Box(-1, 1, (3,), np.float32),
        PENDULUM,
        "action_dist_inputs",
    ),
    "dqn": (DefaultDQNTorchRLModule, CARTPOLE, gym.spaces.Discrete(2), "actions"),
    "sac": (DefaultSACTorchRLModule, gym.spaces.Box(-1, 1, (3,), np.float32), PENDULUM, "actions"),
}


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("name", list(DEFAULT_MODULES))
def test_default_modules_export_and_match_forward_inference(name, fmt, tmp_path):
    cls, obs_space, act_space, output = DEFAULT_MODULES[name]
    torch.manual_seed(0)
    module = cls(observation_space=obs_space, action_space=act_space, model_config={"fcnet_hiddens": [16]})
    path = (to_onnx if fmt == "onnx" else to_pt2)(module, tmp_path / f"{name}.{fmt}")
    assert module.training  # a copy was exported in eval mode; the module itself is untouched
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert [o["name"] for o in sidecar["outputs"]] == [output]
    assert sidecar["inputs"] == [{"name": "obs", "shape": ["batch", *obs_space.shape], "dtype": "float32",
                                  "meaning": "observations, one row per env"}]  # fmt: skip
    assert sidecar["action_space"]["type"] == type(act_space).__name__
    for rows in (1, 7):  # the batch dimension is dynamic
        obs = np.random.default_rng(rows).standard_normal((rows, *obs_space.shape)).astype(np.float32)
        assert_close(
            run_exported(path, {"obs": obs}), reference(module, {Columns.OBS: torch.from_numpy(obs)})
        )


def test_sidecar_says_how_to_act_for_box_and_discrete_actions(tmp_path):
    ppo_box = DefaultPPOTorchRLModule(observation_space=CARTPOLE, action_space=PENDULUM)
    rule = json.loads(to_pt2(ppo_box, tmp_path / "box.pt2").with_suffix(".json").read_text())
    assert rule["greedy_action"] == {"output": "action_dist_inputs", "distribution": "DiagGaussian",
                                     "greedy": "mean", "offset": None, "clip": {"low": -2.0, "high": 2.0}}  # fmt: skip
    assert (
        "concat(mean, log_std)" in rule["outputs"][0]["meaning"] and "clips" in rule["outputs"][0]["meaning"]
    )
    assert rule["action_space"] == {"type": "Box", "shape": [1], "dtype": "float32", "low": -2.0, "high": 2.0}
    sac = DefaultSACTorchRLModule(observation_space=CARTPOLE, action_space=PENDULUM)
    rule = json.loads(to_pt2(sac, tmp_path / "sac.pt2").with_suffix(".json").read_text())["greedy_action"]
    assert rule["greedy"] == "identity" and rule["clip"] == {"low": -2.0, "high": 2.0}
    discrete = DefaultPPOTorchRLModule(
        observation_space=CARTPOLE, action_space=gym.spaces.Discrete(3, start=1)
    )
    side = json.loads(to_pt2(discrete, tmp_path / "d.pt2").with_suffix(".json").read_text())
    assert side["greedy_action"]["greedy"] == "argmax" and side["greedy_action"]["offset"] == 1
    assert side["outputs"][0]["meaning"].startswith("logits of a Categorical over Discrete(3, start=1)")
    assert side["sha256"] and side["file"] == "d.pt2" and side["tripod_export"] == 1


def test_custom_module_returning_a_torch_distribution_exports_its_logits(tmp_path):
    module = SeedStyleModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    path = to_onnx(module, tmp_path / "seed.onnx")
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert_close(run_exported(path, {"obs": obs}), reference(module, {Columns.OBS: torch.from_numpy(obs)}))


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_stateful_module_threads_named_state_in_and_out(fmt, tmp_path):
    torch.manual_seed(0)
    module = TinyGRUModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    path = (to_onnx if fmt == "onnx" else to_pt2)(module, tmp_path / f"gru.{fmt}")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["stateful"] is True
    assert [(i["name"], i["shape"]) for i in sidecar["inputs"]] == [
        ("obs", ["batch", 1, 4]),
        ("state_in_h", ["batch", 8]),
    ]
    assert [(o["name"], o["shape"]) for o in sidecar["outputs"]] == [
        ("action_dist_inputs", ["batch", 1, 2]), ("state_out_h", ["batch", 8])]  # fmt: skip
    assert sidecar["initial_state"] == {"state_in_h": pytest.approx([0.1] * 8)}
    rows, rng = 2, np.random.default_rng(0)
    h_exported = h_module = np.tile(np.asarray(sidecar["initial_state"]["state_in_h"], np.float32), (rows, 1))
    for _ in range(3):  # three steps, each feeding state_out back as state_in
        obs = rng.standard_normal((rows, 1, 4)).astype(np.float32)
        got = run_exported(path, {"obs": obs, "state_in_h": h_exported})
        expected = reference(
            module, {Columns.OBS: torch.from_numpy(obs), Columns.STATE_IN: {"h": torch.from_numpy(h_module)}}
        )
        np.testing.assert_allclose(got["action_dist_inputs"], expected[Columns.ACTION_DIST_INPUTS], atol=ATOL)
        h_exported, h_module = (
            got["state_out_h"],
            module.forward_inference(
                {Columns.OBS: torch.from_numpy(obs), Columns.STATE_IN: {"h": torch.from_numpy(h_module)}}
            )[Columns.STATE_OUT]["h"]
            .detach()
            .numpy(),
        )
        np.testing.assert_allclose(h_exported, h_module, atol=ATOL)


def test_default_recurrent_module_exports_every_state_leaf(tmp_path):
    from tripod.export.graph import build_graph

    try:
        module = DefaultPPOTorchRLModule(
            observation_space=CARTPOLE,
            action_space=gym.spaces.Discrete(2),
            model_config={"use_lstm": True, "lstm_cell_size": 8},
        )
    except NotImplementedError:
        pytest.skip("the default PPO module does not build an LSTM yet")
    path = to_onnx(module, tmp_path / "lstm.onnx")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    state_in = [i["name"] for i in sidecar["inputs"] if i["name"].startswith("state_in_")]
    state_out = [o["name"] for o in sidecar["outputs"] if o["name"].startswith("state_out_")]
    assert state_in and sorted(n.replace("state_in_", "") for n in state_in) == sorted(
        n.replace("state_out_", "") for n in state_out
    )
    assert set(sidecar["initial_state"]) == set(state_in)
    graph = build_graph(module)  # its reference: module.forward_inference on these example inputs
    feeds = {spec.name: t.numpy() for spec, t in zip(graph.inputs, graph.example, strict=True)}
    got = run_exported(path, feeds)
    for spec, expected in zip(graph.outputs, graph.reference, strict=True):
        np.testing.assert_allclose(got[spec.name], expected, atol=ATOL, rtol=0)


def test_dict_observations_become_one_input_per_leaf_and_the_mask_holds(tmp_path):
    space = gym.spaces.Dict({"action_mask": gym.spaces.Box(0, 1, (3,), np.float32),
                             "observations": gym.spaces.Box(-1, 1, (5,), np.float32)})  # fmt: skip
    module = DefaultPPOTorchRLModule(observation_space=space, action_space=gym.spaces.Discrete(3))
    path = to_onnx(module, tmp_path / "masked.onnx")
    feeds = {"obs_action_mask": np.array([[1, 0, 1], [0, 1, 0]], np.float32),
             "obs_observations": np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)}  # fmt: skip
    got = run_exported(path, feeds)
    obs = {"action_mask": torch.from_numpy(feeds["obs_action_mask"]),
           "observations": torch.from_numpy(feeds["obs_observations"])}  # fmt: skip
    assert_close(got, reference(module, {Columns.OBS: obs}))
    assert got["action_dist_inputs"].argmax(-1).tolist() in ([0, 1], [2, 1])  # masked actions never win


def test_unsupported_modules_are_refused_with_what_to_do(tmp_path):
    multi = MultiRLModule(
        rl_module_specs={"a": RLModuleSpec(DefaultPPOTorchRLModule, CARTPOLE, gym.spaces.Discrete(2))}
    )
    with pytest.raises(
        ExportError, match=r"is a MultiRLModule: export its modules one by one .*'a'.*export_modules"
    ):
        to_onnx(multi, tmp_path / "m.onnx")
    heuristic = CartPoleHeuristicModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    with pytest.raises(ExportError, match="is not a TorchRLModule"):
        to_pt2(heuristic, tmp_path / "h.pt2")
    text = SeedStyleModule(observation_space=gym.spaces.Text(5), action_space=gym.spaces.Discrete(2))
    with pytest.raises(
        ExportError, match=r"observation space is Text.*Supported: Box, Discrete, .*Dict/Tuple"
    ):
        to_pt2(text, tmp_path / "t.pt2")
    fixed = ShapeFixedModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    with pytest.raises(ExportError, match=r"could not be exported to pt2 with a dynamic batch dimension"):
        to_pt2(fixed, tmp_path / "f.pt2")
    with pytest.raises(ExportError, match=r"format 'onnx' writes a \.onnx file; name it e\.g\. policy\.onnx"):
        to_onnx(
            SeedStyleModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2)),
            tmp_path / "x.pt2",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written


def test_to_onnx_replaces_only_its_own_files(tmp_path):
    module = SeedStyleModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"my own model")
    with pytest.raises(ExportError, match="not written by tripod's export"):
        to_onnx(module, mine)
    assert mine.read_bytes() == b"my own model"
    path = to_onnx(module, tmp_path / "policy.onnx")
    to_onnx(module, path)  # its own export: replaced
    with pytest.raises(ExportError, match="pass overwrite=True"):
        to_onnx(module, path, overwrite=False)
    with pytest.raises(ExportError, match="sidecar of policy.onnx"):
        to_pt2(module, tmp_path / "policy.pt2")  # would share policy.json
    path.write_bytes(path.read_bytes() + b"\0")  # changed since: no longer tripod's
    with pytest.raises(ExportError, match="or was changed since"):
        to_onnx(module, path)


def test_missing_onnx_packages_name_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript now raises ImportError
    module = SeedStyleModule(observation_space=CARTPOLE, action_space=gym.spaces.Discrete(2))
    with pytest.raises(
        ImportError, match=r"needs the onnxscript package, which .*pip install 'tripod-rl\[onnx\]'"
    ):
        to_onnx(module, tmp_path / "p.onnx")
    assert main(["export", str(tmp_path / "ckpt"), "--format", "onnx", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'tripod-rl[onnx]'" in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- from checkpoints, CLI
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    algo = (
        PPOConfig().environment("CartPole-v1")
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]}).debugging(seed=0).build_algo()
    )  # fmt: skip
    algo.train()
    path = tmp_path_factory.mktemp("export") / "ckpt"
    algo.save_to_path(path)
    algo.stop()
    return path


@pytest.fixture(scope="module")
def multi_checkpoint(tmp_path_factory) -> Path:
    algo = (
        PPOConfig().environment(MultiAgentCartPole, env_config={"num_agents": 3})
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .multi_agent(policies={"p0": None, "p1": None, "p2": RLModuleSpec(module_class=CartPoleHeuristicModule)},
                     policy_mapping_fn=map_by_index, policies_to_train=["p0", "p1"])
        .debugging(seed=0).build_algo()
    )  # fmt: skip
    path = tmp_path_factory.mktemp("export_multi") / "ckpt"
    algo.save_to_path(path)
    algo.stop()
    return path


def export_multi(checkpoint: Path, *args: str) -> int:
    """``tripod export CHECKPOINT --trust-checkpoint ARGS``: loading may use the policy_mapping_fn the
    checkpoint names (this test module's, already imported)."""
    return main(["export", str(checkpoint), "--trust-checkpoint", *args])


def module_of(checkpoint: Path, module_id: str = "default_policy"):
    from tripod.core import RLModule

    return RLModule.from_checkpoint(checkpoint / "module" / module_id)


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_cli_exports_a_checkpoint(checkpoint, tmp_path, fmt, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(checkpoint), "--format", fmt, "--out", str(out)]) == 0
    assert f"Exported default_policy to {out / f'default_policy.{fmt}'}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "default_policy.json",
        f"default_policy.{fmt}",
        "metadata.json",
    ]
    obs = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    expected = reference(module_of(checkpoint), {Columns.OBS: torch.from_numpy(obs)})
    assert_close(run_exported(out / f"default_policy.{fmt}", {"obs": obs}), expected)
    assert main(["export", str(checkpoint), "--format", fmt, "--out", str(out)]) == 2
    assert "already holds a tripod export; pass --overwrite" in capsys.readouterr().err
    other = "pt2" if fmt == "onnx" else "onnx"
    assert main(["export", str(checkpoint), "--format", other, "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "default_policy.json",
        f"default_policy.{other}",
        "metadata.json",
    ]


def test_cli_all_exports_every_torch_module_of_a_multi_agent_checkpoint(multi_checkpoint, tmp_path, capsys):
    out = tmp_path / "all"
    assert export_multi(multi_checkpoint, "--format", "onnx", "--all", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "Skipped p2: not torch modules" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json",
        "p0.json",
        "p0.onnx",
        "p1.json",
        "p1.onnx",
    ]
    obs = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    for module_id in ("p0", "p1"):
        expected = reference(module_of(multi_checkpoint, module_id), {Columns.OBS: torch.from_numpy(obs)})
        assert_close(run_exported(out / f"{module_id}.onnx", {"obs": obs}), expected)
        assert json.loads((out / f"{module_id}.json").read_text())["module_id"] == module_id
    one = tmp_path / "one"
    assert export_multi(multi_checkpoint, "--format", "pt2", "--module-id", "p1", "--out", str(one)) == 0
    assert sorted(p.name for p in one.iterdir()) == ["metadata.json", "p1.json", "p1.pt2"]
    safetensors = tmp_path / "st"
    assert export_multi(multi_checkpoint, "--all", "--out", str(safetensors)) == 0
    assert json.loads((safetensors / "metadata.json").read_text())["kind"] == "multi_rl_module"


def test_cli_bad_module_id_and_foreign_out_dir_are_one_line_errors(multi_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert export_multi(multi_checkpoint, "--format", "onnx", "--module-id", "p9", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown module id 'p9'; this checkpoint holds 'p0', 'p1', 'p2'" in err
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for extra in ([], ["--overwrite"]):
        for fmt in ("onnx", "pt2", "safetensors"):
            assert export_multi(multi_checkpoint, "--format", fmt, "--out", str(out), *extra) == 2
            err = capsys.readouterr().err
            assert "refusing to replace it" in err and "never deletes files it did not write" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("a file")
    assert (
        export_multi(multi_checkpoint, "--format", "pt2", "--all", "--out", str(tmp_path / "file" / "policy"))
        == 2
    )
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and f"cannot write export {tmp_path / 'file' / 'policy'}: {tmp_path / 'file'} is a file, not a directory"
        in err
    )
    with pytest.raises(SystemExit):  # argparse: --all and --module-id exclude each other
        export_multi(multi_checkpoint, "--all", "--module-id", "p0", "--out", str(out))
    assert "not allowed with argument" in capsys.readouterr().err


def test_export_checkpoint_and_export_modules_from_python(checkpoint, multi_checkpoint, tmp_path):
    result = export_checkpoint(checkpoint, tmp_path / "py", format="pt2")
    assert result["modules"] == {"default_policy": tmp_path / "py" / "default_policy.pt2"}
    with pytest.raises(ExportError, match=r"itself, inside it or contains it"):
        export_checkpoint(checkpoint, checkpoint / "inside", format="pt2")
    export = tmp_path / "py2"
    export.mkdir()
    paths = export_modules({"a": module_of(multi_checkpoint, "p0"), "b": module_of(multi_checkpoint, "p1")},
                           export, format="onnx")  # fmt: skip
    assert sorted(paths) == ["a", "b"]
    (export / "a.json").write_text("{}")  # changed by hand: not tripod's any more
    with pytest.raises(ExportError, match="a.json was changed after tripod wrote it"):
        export_modules({"a": module_of(multi_checkpoint, "p0")}, export, format="onnx", overwrite=True)
    with pytest.raises(ExportError, match="cannot name a file"):
        export_modules({"../up": module_of(multi_checkpoint, "p0")}, tmp_path / "py3", format="pt2")
