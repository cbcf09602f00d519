"""Fuzz every file of a checkpoint: a tampered checkpoint loads with the same outputs or fails
with a CheckpointError, and never runs a command it names (several hundred loads, about 8 s;
the targeted attacks are in tests/unit/test_checkpoint_security.py)."""

from __future__ import annotations

import json
import shutil
import subprocess  # noqa: F401  (imported on purpose: "already imported" alone must not make Popen loadable)
from pathlib import Path

import pytest
import torch

from tripod.algorithms.algorithm import Algorithm
from tripod.algorithms.ppo.ppo import PPOConfig
from tripod.core import Columns
from tripod.io.checkpoint import CheckpointError
from tripod.io.checkpoint_trust import MANIFEST_FILE, write_manifest

OBS = torch.linspace(-0.2, 0.2, 12).reshape(3, 4)


def tiny_config() -> PPOConfig:
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
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
def marker(tmp_path) -> Path:
    return tmp_path / "pwned"


def reseal(root: Path) -> None:
    """Rewrite every manifest under ``root`` (deepest first), as an attacker who edits files would."""
    dirs = sorted({p.parent for p in root.rglob(MANIFEST_FILE)}, key=lambda p: -len(p.parts))
    for directory in dirs:
        write_manifest(directory)


_INJECTED = (
    [],
    "x",
    None,
    10**30,
    -1,
    {"__import__": "subprocess.Popen"},
    {"__function__": {"module": "os", "qualname": "system"}},
)


#: Metadata fields whose values name classes or functions (what a loader must refuse to import).
REFERENCE_FIELDS = {"class", "env", "module_class", "policy_mapping_fn", "catalog_class"}


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path


def _replace(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _byte_variants(data: bytes):
    flipped = bytearray(data)
    if flipped:
        flipped[len(flipped) // 2] ^= 0x40
    return {"half": data[: len(data) // 2], "empty": b"", "flip": bytes(flipped)}


def _json_variants(data: bytes, marker: Path):
    tree = json.loads(data)
    leaves = list(_leaves(tree))
    step = max(1, len(leaves) // 8)
    for n, path in enumerate(leaves[::step]):
        variant = json.loads(data)
        _replace(variant, path, _INJECTED[n % len(_INJECTED)])
        yield f"leaf {'/'.join(map(str, path))}", json.dumps(variant).encode()
    # Every field that names code gets both kinds of code reference, whichever leaves the sample hit.
    for path in leaves:
        if path and path[-1] in REFERENCE_FIELDS:
            for injected in _INJECTED[-2:]:
                variant = json.loads(data)
                _replace(variant, path, injected)
                yield f"reference {'/'.join(map(str, path))}", json.dumps(variant).encode()
    if isinstance(tree.get("config"), dict):
        variant = json.loads(data)
        variant["config"].update(
            env={"__import__": "subprocess.Popen"}, env_config={"args": ["touch", str(marker)]}
        )
        yield "popen env", json.dumps(variant).encode()
    if "modules" in tree:
        yield "module out of root", json.dumps({**tree, "modules": ["../../outside"]}).encode()


def _try_load(path: Path, expected: torch.Tensor | None, what: str) -> str:
    """Load must give ``expected`` outputs (any outputs when None) or raise CheckpointError."""
    try:
        algo = Algorithm.from_checkpoint(path)
    except CheckpointError as err:
        return type(err).__name__
    except Exception as err:  # the point of the fuzz: nothing else may escape
        pytest.fail(f"{what}: {type(err).__name__} escaped instead of CheckpointError: {err}")
    try:
        if expected is not None:
            torch.testing.assert_close(logits(algo.get_module()), expected, rtol=0, atol=0, msg=what)
    finally:
        algo.stop()
    return "loaded"


def test_fuzz_every_file_of_a_checkpoint(saved, tmp_path, marker):
    """Tamper every file in turn; a load succeeds with the same outputs or raises CheckpointError.

    Sealed variants keep the manifest: any change must be caught. Resealed variants
    rewrite the manifests as an attacker would; they may load with other weights, but
    must still raise nothing but CheckpointError and never run a command.
    """
    source, expected = saved
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert len(files) >= 10
    n, outcomes = 0, {}
    for rel in files:
        data = (source / rel).read_bytes()
        variants = list(_byte_variants(data).items())
        if rel.suffix == ".json":
            variants += list(_json_variants(data, marker))
        for name, content in variants:
            for resealed in (False, True):
                if resealed and rel.name == MANIFEST_FILE:
                    continue  # resealing would rewrite the manifest being tampered with
                ckpt = tmp_path / f"v{n}"
                shutil.copytree(source, ckpt)
                (ckpt / rel).write_bytes(content)
                if resealed:
                    reseal(ckpt)
                outcome = _try_load(ckpt, None if resealed else expected, f"{rel} {name} resealed={resealed}")
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                shutil.rmtree(ckpt)
                n += 1
        ckpt = tmp_path / f"v{n}"
        shutil.copytree(source, ckpt)
        (ckpt / rel).unlink()
        (ckpt / rel).symlink_to(source / rel)
        with pytest.raises(CheckpointError, match="is a symbolic link"):
            Algorithm.from_checkpoint(ckpt)
        shutil.rmtree(ckpt)
    assert n > 100 and not marker.exists()
    # Both ways out occur: the fuzz reaches past the manifest into the loaders' own checks.
    assert outcomes["loaded"] >= 5 and outcomes["UntrustedCheckpointError"] >= 3, outcomes
