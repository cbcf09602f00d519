"""Every tripod path in the porting guide's table of RLlib paths imports (docs cannot drift)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "porting-from-rllib.md"


def _tripod_paths() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    table = text[text.index("| RLlib | tripod |") : text.index("## Porting a module")]
    return sorted(set(re.findall(r"`(tripod(?:\.\w+)+)`", table)))


def test_the_table_names_the_paths_a_port_needs():
    paths = _tripod_paths()
    for needed in (
        "tripod.algorithms.algorithm_config.AlgorithmConfig",
        "tripod.core.rl_module.default_model_config.DefaultModelConfig",
        "tripod.env.single_agent_env_runner.SingleAgentEnvRunner",
        "tripod.env.multi_agent_env_runner.MultiAgentEnvRunner",
        "tripod.env.env_runner_group.EnvRunnerGroup",
        "tripod.learner.learner_group.LearnerGroup",
    ):
        assert needed in paths


@pytest.mark.parametrize("path", _tripod_paths())
def test_every_tripod_path_in_the_table_imports(path):
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(path)  # a module path
        assert module is not None
    except ModuleNotFoundError:
        assert hasattr(importlib.import_module(module_name), attr), f"{path} does not exist"


def test_the_package_is_marked_typed():
    import tripod

    assert (Path(tripod.__file__).parent / "py.typed").is_file()
    pyproject = (GUIDE.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'tripod = ["py.typed"]' in pyproject  # shipped in wheels too
