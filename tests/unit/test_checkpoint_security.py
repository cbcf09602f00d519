"""Loading a checkpoint never runs code it names; paths stay inside it; every file is checked.

Each attack rewrites the checkpoint *and* its SHA-256 manifests (as an attacker
would: the manifest catches damage, not malice), then checks that loading fails
with a CheckpointError naming the reference and that the command never ran. The fuzz
that tampers with every file in turn is in tests/integration/test_checkpoint_fuzz.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # noqa: F401  (imported on purpose: "already imported" alone must not make Popen loadable)
import sys
import warnings
from pathlib import Path

import pytest
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.config_io import config_from_dict
from tripod.algorithms.pg.pg import PGConfig
from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from tripod.core import Columns, RLModule, RLModuleSpec
from tripod.env import register_env
from tripod.io.checkpoint import CheckpointError, ClassImportError
from tripod.io.checkpoint_trust import (
    MANIFEST_FILE,
    UntrustedCheckpointError,
    verify_manifest,
    write_manifest,
)

OBS = torch.linspace(-0.2, 0.2, 12).reshape(3, 4)
LATE = "checkpoint_late_import"  # tests/unit/checkpoint_late_import.py, imported only on purpose
TRUST = r"config_overrides=.*trusted=True \(command line: --trust-checkpoint\)"


def tiny_config(**training) -> PPOConfig:
    kw = dict(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
    kw.update(training)
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=1)
        .training(**kw)
        .rl_module(model_config={"fcnet_hiddens": [8]})
        .debugging(seed=0)
    )


def logits(module) -> torch.Tensor:
    with torch.no_grad():
        return module.forward_inference({Columns.OBS: OBS})[Columns.ACTION_DIST_INPUTS]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained tiny PPO CartPole checkpoint and its module's outputs."""
    algo = tiny_config().build_algo()
    algo.train()
    path = tmp_path_factory.mktemp("saved") / "ckpt"
    algo.save_to_path(path)
    expected = logits(algo.get_module())
    algo.stop()
    return path, expected


@pytest.fixture
def ckpt(saved, tmp_path) -> Path:
    path = tmp_path / "ckpt"
    shutil.copytree(saved[0], path, symlinks=True)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "pwned"


def reseal(root: Path) -> None:
    """Rewrite every manifest under ``root`` (deepest first), as an attacker who edits files would."""
    dirs = sorted({p.parent for p in root.rglob(MANIFEST_FILE)}, key=lambda p: -len(p.parts))
    for directory in dirs:
        write_manifest(directory)


def edit_json(path: Path, change) -> None:
    """Apply ``change`` (which edits the parsed JSON in place) to ``path``, then reseal the manifests."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    reseal(_checkpoint_root(path))


def _checkpoint_root(path: Path) -> Path:
    root = path.parent
    while (root.parent / MANIFEST_FILE).exists():
        root = root.parent
    return root


def set_config(ckpt: Path, **fields) -> None:
    edit_json(ckpt / "metadata.json", lambda meta: meta["config"].update(fields))


def load(ckpt: Path, **kwargs) -> Algorithm:
    algo = Algorithm.from_checkpoint(ckpt, **kwargs)
    algo.stop()
    return algo


# ------------------------------------------------------------------------------------- code refs
def test_popen_as_env_never_runs_the_command(ckpt, marker):
    set_config(ckpt, env={"__import__": "subprocess.Popen"}, env_config={"args": ["touch", str(marker)]})
    with pytest.raises(
        UntrustedCheckpointError, match=rf"'env' class 'subprocess.Popen'.*subclass of Env.*{TRUST}"
    ):
        load(ckpt)
    assert not marker.exists()


@pytest.mark.parametrize("module, qualname", [("subprocess", "run"), ("os", "system"), ("shutil", "rmtree")])
def test_function_refs_re_pointed_at_the_stdlib_are_refused(ckpt, marker, module, qualname):
    set_config(ckpt, env={"__function__": {"module": module, "qualname": qualname}}, env_config={})
    with pytest.raises(
        UntrustedCheckpointError,
        match=rf"'env' function '{module}:{qualname}'.*only an env creator registered",
    ):
        load(ckpt)
    set_config(
        ckpt, env="CartPole-v1", policy_mapping_fn={"__function__": {"module": module, "qualname": qualname}}
    )
    with pytest.raises(UntrustedCheckpointError, match=r"'policy_mapping_fn' function.*config_overrides="):
        load(ckpt)
    assert not marker.exists()


def test_refs_in_any_other_field_are_refused(ckpt):
    set_config(ckpt, env_config={"factory": {"__import__": "subprocess.Popen"}})
    with pytest.raises(UntrustedCheckpointError, match=r"'env_config' class 'subprocess.Popen'.*none is"):
        load(ckpt)


def test_config_class_must_be_an_algorithm_config(ckpt):
    edit_json(ckpt / "metadata.json", lambda m: m["config"].update(config_class="subprocess.Popen"))
    with pytest.raises(
        UntrustedCheckpointError, match=r"config class 'subprocess.Popen'.*only a subclass of PPOConfig"
    ):
        load(ckpt)
    edit_json(
        ckpt / "metadata.json", lambda m: m["config"].update(config_class="tripod.algorithms.pg.pg.PGConfig")
    )
    with pytest.raises(
        UntrustedCheckpointError, match=r"config class '.*PGConfig'.*only a subclass of PPOConfig"
    ):
        load(ckpt)


@pytest.mark.parametrize("ref", ["os.system", "subprocess.Popen", "builtins.eval"])
def test_algorithm_class_must_be_an_algorithm(ckpt, ref):
    edit_json(ckpt / "metadata.json", lambda m: m.update({"class": ref}))
    with pytest.raises(UntrustedCheckpointError, match=rf"algorithm class '{ref}'.*subclass of Algorithm"):
        load(ckpt)


@pytest.mark.parametrize("ref", ["os.system", "subprocess.Popen", "tripod.io.checkpoint.CheckpointError"])
def test_module_class_must_be_an_rl_module(ckpt, ref):
    sub = ckpt / "module" / "default_policy"
    edit_json(sub / "metadata.json", lambda m: m.update({"class": ref}))
    with pytest.raises(
        UntrustedCheckpointError, match=rf"module class '{ref}'.*subclass of RLModule.*module_class="
    ):
        RLModule.from_checkpoint(sub)
    edit_json(ckpt / "module" / "metadata.json", lambda m: m.update({"class": ref}))
    with pytest.raises(UntrustedCheckpointError, match=rf"MultiRLModule class '{ref}'"):
        RLModule.from_checkpoint(ckpt / "module")


def test_module_class_in_a_module_not_imported_needs_an_opt_in(ckpt, marker, monkeypatch, saved):
    monkeypatch.setenv("TRIPOD_TEST_IMPORT_MARKER", str(marker))
    assert LATE not in sys.modules
    sub = ckpt / "module" / "default_policy"
    edit_json(sub / "metadata.json", lambda m: m.update({"class": f"{LATE}.LateModule"}))
    with pytest.raises(
        UntrustedCheckpointError, match=rf"module '{LATE}' is not imported in this process.*{TRUST[16:]}"
    ):
        RLModule.from_checkpoint(sub)
    assert LATE not in sys.modules and not marker.exists()
    # Passing the class works without importing anything.
    assert (
        type(RLModule.from_checkpoint(sub, module_class=DefaultPPOTorchRLModule)) is DefaultPPOTorchRLModule
    )
    try:
        module = RLModule.from_checkpoint(sub, trusted=True)  # the opt-in imports it
        assert type(module).__name__ == "LateModule" and marker.exists()
        torch.testing.assert_close(logits(module), saved[1], rtol=0, atol=0)
    finally:
        sys.modules.pop(LATE, None)


def test_algorithm_module_class_override(ckpt, saved):
    spec = {
        "type": "single",
        "module_class": {"__import__": "__main__.ScriptModule"},
        "observation_space": None,
        "action_space": None,
        "inference_only": False,
        "learner_only": False,
        "model_config": {"fcnet_hiddens": [8]},
        "load_state_path": None,
    }
    set_config(ckpt, rl_module_spec=spec)
    with pytest.raises(
        ClassImportError, match=r"script run as __main__ has no attribute 'ScriptModule'.*module_class="
    ):
        load(ckpt)
    algo = load(ckpt, module_class=DefaultPPOTorchRLModule)
    torch.testing.assert_close(logits(algo.get_module()), saved[1], rtol=0, atol=0)


def _creator(config):
    import gymnasium as gym

    return gym.make("CartPole-v1")


def test_env_creator_must_be_registered(ckpt, saved):
    ref = {"__function__": {"module": __name__, "qualname": "_creator"}}
    set_config(ckpt, env=ref)
    with pytest.raises(UntrustedCheckpointError, match=r"_creator'.*registered with tripod.env.register_env"):
        load(ckpt)
    torch.testing.assert_close(logits(load(ckpt, trusted=True).get_module()), saved[1], rtol=0, atol=0)
    torch.testing.assert_close(
        logits(load(ckpt, config_overrides={"env": _creator}).get_module()), saved[1], rtol=0, atol=0
    )
    register_env("security_test_cartpole", _creator)
    torch.testing.assert_close(logits(load(ckpt).get_module()), saved[1], rtol=0, atol=0)


def test_env_creator_from_a_script_fails_clearly_in_another_process(ckpt):
    # What a checkpoint saved by `python train.py` with env=my_creator holds, loaded by another program.
    set_config(ckpt, env={"__function__": {"module": "__main__", "qualname": "my_creator"}})
    with pytest.raises(
        ClassImportError,
        match=r"script run as __main__ has no attribute 'my_creator'.*config_overrides=\{'env': your_function\}",
    ):
        load(ckpt)


@pytest.mark.parametrize(
    "env, module",
    [
        (f"{LATE}:LateEnv-v0", LATE),
        ("pettingzoo:checkpoint_late_import", LATE),
        ("no_such_module_x:Env-v0", "no_such_module_x"),
    ],
)
def test_env_strings_that_import_a_module_are_refused(ckpt, marker, monkeypatch, env, module):
    monkeypatch.setenv("TRIPOD_TEST_IMPORT_MARKER", str(marker))
    set_config(ckpt, env=env)
    with pytest.raises(
        UntrustedCheckpointError, match=rf"env '{env}'.*module '{module}', which is not imported"
    ):
        load(ckpt)
    assert not marker.exists() and LATE not in sys.modules


def test_load_state_path_outside_the_checkpoint_is_dropped(ckpt):
    meta = json.loads((ckpt / "metadata.json").read_text())
    meta["config"]["rl_module_spec"] = {
        "type": "single",
        "module_class": None,
        "observation_space": None,
        "action_space": None,
        "inference_only": False,
        "learner_only": False,
        "model_config": None,
        "load_state_path": "/etc",
    }
    assert config_from_dict(meta["config"], config_base=PPOConfig).rl_module_spec.load_state_path is None
    assert (
        config_from_dict(meta["config"], config_base=PPOConfig, trusted=True).rl_module_spec.load_state_path
        == "/etc"
    )


# ------------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("module_id", ["..", "../../etc", "/etc", "a/b", "", 3])
def test_module_ids_must_stay_inside_the_checkpoint(ckpt, module_id):
    edit_json(ckpt / "module" / "metadata.json", lambda m: m.update(modules=[module_id]))
    with pytest.raises(CheckpointError, match=r"names module .* not a plain name inside the checkpoint"):
        RLModule.from_checkpoint(ckpt / "module")
    with pytest.raises(CheckpointError, match=r"not a plain name inside the checkpoint"):
        load(ckpt)


def test_symlinked_directory_and_file_are_refused(ckpt, tmp_path):
    outside = tmp_path / "outside"
    shutil.move(ckpt / "module" / "default_policy", outside)
    (ckpt / "module" / "default_policy").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CheckpointError, match=r"default_policy is a symbolic link"):
        load(ckpt)
    with pytest.raises(CheckpointError, match=r"default_policy is a symbolic link"):
        RLModule.from_checkpoint(ckpt / "module")
    (ckpt / "module" / "default_policy").unlink()
    shutil.copytree(outside, ckpt / "module" / "default_policy")
    weights = ckpt / "module" / "default_policy" / "module_state.safetensors"
    weights.unlink()
    weights.symlink_to(outside / "module_state.safetensors")
    with pytest.raises(CheckpointError, match=r"module_state.safetensors is a symbolic link"):
        RLModule.from_checkpoint(ckpt / "module" / "default_policy")


def test_fifo_is_refused_without_blocking(ckpt):
    os.mkfifo(ckpt / "rng_state.json.fifo")
    with pytest.raises(CheckpointError, match=r"rng_state.json.fifo is a FIFO \(named pipe\)"):
        load(ckpt)
    os.unlink(ckpt / "rng_state.json.fifo")
    (ckpt / "rng_state.json").unlink()
    os.mkfifo(ckpt / "rng_state.json")  # opening it for reading would block forever
    with pytest.raises(CheckpointError, match=r"rng_state.json is a FIFO"):
        load(ckpt)


# -------------------------------------------------------------------------------------- manifest
def test_manifest_catches_bit_rot_truncation_and_added_files(ckpt, saved):
    assert verify_manifest(ckpt) is True
    manifest = json.loads((ckpt / MANIFEST_FILE).read_text())["files"]
    assert "metadata.json" in manifest and "module/manifest.json" in manifest
    weights = ckpt / "module" / "default_policy" / "module_state.safetensors"
    original = weights.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    weights.write_bytes(bytes(flipped))
    with pytest.raises(
        CheckpointError, match=r"module_state.safetensors is damaged: its SHA-256 does not match"
    ):
        load(ckpt)
    weights.write_bytes(original[:-10])
    with pytest.raises(CheckpointError, match=r"module_state.safetensors is damaged \(truncated\)"):
        load(ckpt)
    weights.write_bytes(original)
    (ckpt / "extra.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"extra.json is not listed in .*manifest.json"):
        load(ckpt)
    (ckpt / "extra.json").unlink()
    (ckpt / "notes.txt").write_text("mine")  # other files are ignored
    torch.testing.assert_close(logits(load(ckpt).get_module()), saved[1], rtol=0, atol=0)


def test_checkpoints_without_a_manifest_still_load(ckpt, saved):
    for manifest in ckpt.rglob(MANIFEST_FILE):
        manifest.unlink()
    assert verify_manifest(ckpt) is False
    torch.testing.assert_close(logits(load(ckpt).get_module()), saved[1], rtol=0, atol=0)


@pytest.mark.parametrize(
    "manifest, match",
    [
        ({"files": {"../outside": {"sha256": "0" * 64, "size": 1}}}, "a path out of the checkpoint"),
        ({"files": {"/etc/passwd": {"sha256": "0" * 64, "size": 1}}}, "a path out of the checkpoint"),
        ({"files": {"metadata.json": {"sha256": "xyz", "size": 1}}}, "its entry for 'metadata.json'"),
        ({"files": []}, "must hold an object with a 'files' table"),
    ],
)
def test_malformed_manifest(ckpt, manifest, match):
    (ckpt / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=match):
        load(ckpt)


# ------------------------------------------------------------------------------ damaged state
_BAD_OPTIMIZERS = {"dict": [["default_policy", {"dict": [["param_groups", []]]}]]}  # KeyError: 'state'


def _set_entry(tree: dict, key: str, value) -> None:
    for pair in tree["tree"]["dict"]:
        if pair[0] == key:
            pair[1] = value


def _drop_entry(tree: dict, key: str) -> None:
    tree["tree"]["dict"] = [pair for pair in tree["tree"]["dict"] if pair[0] != key]


@pytest.mark.parametrize(
    "name, change, match",
    [
        ("rng_state.json", lambda d: _drop_entry(d, "numpy"), r"rng_state.*is damaged"),
        (
            "learner_state.json",
            lambda d: _set_entry(d, "optimizers", _BAD_OPTIMIZERS),
            r"learner_state.*is damaged",
        ),
        (
            "metadata.json",
            lambda d: d["state"].update(iteration="7"),
            r"'state' entry 'iteration' must be an integer",
        ),
        ("metadata.json", lambda d: d["state"].pop("time_total_s"), r"'time_total_s' must be a number"),
        (
            "metadata.json",
            lambda d: d["state"].update(returns_window=["x"]),
            r"'returns_window' must be a list of numbers",
        ),
        ("metadata.json", lambda d: d.pop("state"), r"has no 'state' object"),
    ],
)
def test_damaged_state_entries_name_the_file(ckpt, name, change, match):
    edit_json(ckpt / name, change)
    with pytest.raises(CheckpointError, match=match):
        load(ckpt)


def test_rng_state_with_bad_values_names_the_file(ckpt):
    def corrupt(tree):
        for pair in tree["tree"]["dict"]:
            if pair[0] == "python":
                pair[1] = {"dict": [["version", 3], ["state", {"tuple": [1, 2]}], ["gauss", None]]}

    edit_json(ckpt / "rng_state.json", corrupt)
    with pytest.raises(CheckpointError, match=r"rng_state \(rng_state.json/.safetensors\) is damaged"):
        load(ckpt)


def test_restoring_another_algorithms_checkpoint_names_both(saved):
    pg = PGConfig().environment("CartPole-v1").training(train_batch_size_per_learner=64).build_algo()
    try:
        with pytest.raises(
            CheckpointError, match=r"written by PPO \(tripod.algorithms.ppo.ppo.PPO\).*this algorithm is PG"
        ):
            pg.restore_from_path(saved[0])
    finally:
        pg.stop()


def test_restoring_a_checkpoint_for_other_spaces_names_both(saved):
    other = tiny_config().environment("Acrobot-v1").build_algo()
    try:
        with pytest.raises(
            CheckpointError,
            match=r"observation_space Box\(.*\(4,\).*this algorithm's module has Box\(.*\(6,\)",
        ):
            other.restore_from_path(saved[0])
    finally:
        other.stop()


# -------------------------------------------------------------------------------------- warnings
def test_saving_classes_from_main_warns(tmp_path):
    script_module = type("ScriptModule", (DefaultPPOTorchRLModule,), {"__module__": "__main__"})
    algo = tiny_config().rl_module(rl_module_spec=RLModuleSpec(module_class=script_module)).build_algo()
    try:
        with pytest.warns(
            UserWarning, match=r"ScriptModule is defined in the script run as __main__.*module_class="
        ):
            algo.save_to_path(tmp_path / "a")
    finally:
        algo.stop()

    def script_creator(config):
        return _creator(config)

    script_creator.__module__ = "__main__"
    script_creator.__qualname__ = "script_creator"
    with pytest.warns(
        UserWarning, match=r"env script_creator is defined in the script.*config_overrides=\{'env'"
    ):
        tiny_config().environment(script_creator).to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_config().to_dict()  # nothing from __main__: no warning
