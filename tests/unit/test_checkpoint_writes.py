"""Writing checkpoints never loses a file tripod did not write, and cleans up after interrupted saves."""

from __future__ import annotations

import errno
import os
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tripod.core import Columns, RLModuleSpec, TorchRLModule
from tripod.core.rl_module.rl_module import RLModule
from tripod.io import checkpoint as ckpt_io
from tripod.io.checkpoint import (
    CheckpointSaveError,
    OverwriteError,
    atomic_directory,
    save_state,
    write_metadata,
)


class Tiny(TorchRLModule):
    def setup(self):
        self.net = nn.Linear(4, 2)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.net(batch[Columns.OBS])}


def tiny(seed=0) -> RLModule:
    torch.manual_seed(seed)
    obs = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    return RLModuleSpec(module_class=Tiny, observation_space=obs, action_space=gym.spaces.Discrete(2)).build()


def weight(module) -> torch.Tensor:
    return module.net.weight.detach().clone()


def hidden_entries(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- what may be replaced
def test_save_to_path_refuses_a_directory_of_user_files(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(
            OverwriteError, match=rf"{re.escape(str(target))} is not empty and is not a tripod"
        ):
            tiny().save_to_path(target, overwrite=overwrite)
    assert (target / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp dir left behind


def test_module_save_replaces_a_previous_export_unless_overwrite_is_false(tmp_path):
    path = tmp_path / "policy"
    tiny(0).save_to_path(path)
    tiny(1).save_to_path(path)  # replacing tripod's own checkpoint of the same kind is the default
    assert torch.equal(weight(RLModule.from_checkpoint(path)), weight(tiny(1)))
    with pytest.raises(
        OverwriteError, match=r"already holds a tripod 'rl_module' checkpoint; pass overwrite=True"
    ):
        tiny(2).save_to_path(path, overwrite=False)
    assert torch.equal(weight(RLModule.from_checkpoint(path)), weight(tiny(1)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy"]


def test_save_refuses_a_checkpoint_of_another_kind_and_one_with_foreign_files(tmp_path):
    other = tmp_path / "algo"
    with atomic_directory(other) as tmp:
        write_metadata(tmp, {"kind": "algorithm"})
    with pytest.raises(OverwriteError, match=r"holds a tripod 'algorithm' checkpoint, not 'multi_rl_module'"):
        tiny().save_to_path(other, overwrite=True)
    export = tmp_path / "export"
    tiny().save_to_path(export)
    (export / "NOTES.md").write_text("my notes")
    with pytest.raises(OverwriteError, match=r"plus files tripod did not write \(NOTES.md\)"):
        tiny(1).save_to_path(export, overwrite=True)
    assert (export / "NOTES.md").read_text() == "my notes"


def test_save_refuses_the_current_directory_and_a_file(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(OverwriteError, match=r"is the current directory or contains it"):
        tiny().save_to_path(".")
    with pytest.raises(OverwriteError, match=r"is the current directory or contains it"):
        tiny().save_to_path(tmp_path)
    assert os.listdir(work) == [] and sorted(os.listdir(tmp_path)) == ["work"]
    (work / "f").write_text("x")
    with pytest.raises(OverwriteError, match=r"f exists and is not a directory"):
        tiny().save_to_path("f")
    assert (work / "f").read_text() == "x"


def test_an_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    tiny().save_to_path(tmp_path / "empty", overwrite=False)
    assert (tmp_path / "empty" / "metadata.json").is_file()


# ----------------------------------------------------------------------------- failed writes
def test_a_failed_rename_is_a_checkpoint_save_error_naming_path_and_os_error(tmp_path, monkeypatch):
    path = tmp_path / "policy"
    tiny(0).save_to_path(path)

    def read_only(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(src))

    monkeypatch.setattr(os, "rename", read_only)
    with pytest.raises(
        CheckpointSaveError, match=rf"cannot write checkpoint {re.escape(str(path))}: Read-only"
    ):
        tiny(1).save_to_path(path)
    monkeypatch.undo()
    assert torch.equal(weight(RLModule.from_checkpoint(path)), weight(tiny(0)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy"]


def test_a_file_where_the_parent_directory_goes_is_a_checkpoint_save_error(tmp_path):
    (tmp_path / "checkpoints").write_text("not a directory")
    with pytest.raises(CheckpointSaveError, match=r"cannot write checkpoint .*checkpoints/policy: "):
        tiny().save_to_path(tmp_path / "checkpoints" / "policy")


# ----------------------------------------------------------------------------- interrupted saves
def _checkpoint(path, value: float) -> None:
    with atomic_directory(path) as tmp:
        write_metadata(tmp, {"kind": "test"})
        save_state(tmp, "state", {"w": torch.full((2,), value)})


def test_a_backup_is_put_back_when_a_save_died_between_the_renames(tmp_path):
    target = tmp_path / "ckpt"
    _checkpoint(target, 1.0)
    os.rename(target, tmp_path / ".ckpt.old-0123456789ab")  # killed after the first rename
    (tmp_path / ".ckpt.tmp-dead").mkdir()  # ... with the new copy unfinished
    with (
        pytest.warns(UserWarning, match=r"ckpt was missing after an interrupted save; put the previous"),
        pytest.raises(RuntimeError, match="boom"),
        atomic_directory(target),
    ):
        raise RuntimeError("boom")
    assert torch.equal(ckpt_io.load_state(target, "state")["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # leftovers gone once ckpt is complete


def test_temp_dirs_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "ckpt"
    (tmp_path / ".ckpt.tmp-killed").mkdir()
    (tmp_path / ".ckpt.tmp-killed" / "state.json").write_text("{")
    (tmp_path / ".other.tmp-keep").mkdir()  # not a leftover of this target: untouched
    (tmp_path / "user.tmp-data").mkdir()
    _checkpoint(target, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-keep", "ckpt", "user.tmp-data"]
    assert hidden_entries(tmp_path) == [".other.tmp-keep"]
