"""Importing tripod loads no optional dependency (ray, pettingzoo, tensorboard, matplotlib,
stable_baselines3, onnx, onnxruntime, onnxscript, wandb, mlflow, yaml, moviepy) and, for plain `import tripod`, not even torch. Each check runs a fresh
interpreter (a few seconds each). The wall-clock cost of the import is a benchmark:
benchmarks/import_time.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OPTIONAL = [
    "ray", "pettingzoo", "tensorboard", "matplotlib", "stable_baselines3", "onnx", "onnxruntime", "onnxscript",
    "wandb", "mlflow", "yaml", "moviepy",
]


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_tripod_loads_no_optional_dependency_and_no_torch():
    loaded = json.loads(
        run_python(
            f"""
            import json, sys
            import tripod
            print(json.dumps([m for m in {OPTIONAL + ["torch"]!r} if m in sys.modules]))
            """
        )
    )
    assert loaded == []


def test_import_tripod_core_loads_no_optional_dependency():
    loaded = json.loads(
        run_python(
            f"""
            import json, sys
            import tripod.core, tripod.core.apis
            print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))
            """
        )
    )
    assert loaded == []


def test_import_tripod_env_and_an_algorithm_does_not_import_pettingzoo():
    code = "import sys, tripod, tripod.env, tripod.algorithms.ppo; print('pettingzoo' in sys.modules)"
    assert run_python(code).strip() == "False"


def test_import_tripod_export_and_the_cli_loads_no_onnx():
    loaded = json.loads(
        run_python(
            f"""
            import json, sys
            import tripod.export, tripod.cli.parser
            print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))
            """
        )
    )
    assert loaded == []
