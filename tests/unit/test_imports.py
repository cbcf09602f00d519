"""Import paths users know from RLlib, and what importing tripod costs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

OPTIONAL = ["ray", "pettingzoo", "tensorboard", "matplotlib", "stable_baselines3"]


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


def test_rllib_module_paths_hold_the_real_classes():
    from tripod.core import Columns, MultiRLModule, MultiRLModuleSpec, RLModule, RLModuleSpec, TorchRLModule
    from tripod.core.apis import QNetAPI, TargetNetworkAPI, ValueFunctionAPI
    from tripod.core.columns import Columns as Columns2
    from tripod.core.rl_module import MultiRLModule as MultiRLModule3
    from tripod.core.rl_module import RLModule as RLModule3
    from tripod.core.rl_module import RLModuleSpec as RLModuleSpec3
    from tripod.core.rl_module.apis import QNetAPI as QNetAPI2
    from tripod.core.rl_module.apis import TargetNetworkAPI as TargetNetworkAPI2
    from tripod.core.rl_module.apis import ValueFunctionAPI as ValueFunctionAPI2
    from tripod.core.rl_module.apis.q_net_api import QNetAPI as QNetAPI3
    from tripod.core.rl_module.apis.target_network_api import TargetNetworkAPI as TargetNetworkAPI3
    from tripod.core.rl_module.apis.value_function_api import ValueFunctionAPI as ValueFunctionAPI3
    from tripod.core.rl_module.multi_rl_module import MultiRLModule as MultiRLModule2
    from tripod.core.rl_module.multi_rl_module import MultiRLModuleSpec as MultiRLModuleSpec2
    from tripod.core.rl_module.rl_module import RLModule as RLModule2
    from tripod.core.rl_module.rl_module import RLModuleSpec as RLModuleSpec2
    from tripod.core.rl_module.torch import TorchRLModule as TorchRLModule3
    from tripod.core.rl_module.torch.torch_rl_module import TorchRLModule as TorchRLModule2

    assert RLModule is RLModule2 is RLModule3
    assert RLModuleSpec is RLModuleSpec2 is RLModuleSpec3
    assert TorchRLModule is TorchRLModule2 is TorchRLModule3
    assert MultiRLModule is MultiRLModule2 is MultiRLModule3
    assert MultiRLModuleSpec is MultiRLModuleSpec2
    assert Columns is Columns2
    assert ValueFunctionAPI is ValueFunctionAPI2 is ValueFunctionAPI3
    assert TargetNetworkAPI is TargetNetworkAPI2 is TargetNetworkAPI3
    assert QNetAPI is QNetAPI2 is QNetAPI3
    # The classes live where RLlib keeps them (no re-export shims).
    assert RLModuleSpec.__module__ == "tripod.core.rl_module.rl_module"
    assert TorchRLModule.__module__ == "tripod.core.rl_module.torch.torch_rl_module"
    assert MultiRLModule.__module__ == "tripod.core.rl_module.multi_rl_module"
    assert ValueFunctionAPI.__module__ == "tripod.core.rl_module.apis.value_function_api"
    assert Columns.__module__ == "tripod.core.columns"


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


def test_import_tripod_core_costs_little_beyond_torch():
    """``import tripod.core`` minus ``import torch``: well under 0.2 s (about 0.05 s measured).

    Measured in a fresh interpreter: torch first, then tripod.core on top of it. Best of
    three processes, so a busy machine does not fail the test.
    """
    times = []
    for _ in range(3):
        out = run_python(
            """
            import time
            t0 = time.perf_counter()
            import torch
            t1 = time.perf_counter()
            import tripod.core
            t2 = time.perf_counter()
            print(t2 - t1)
            """
        )
        times.append(float(out))
    assert min(times) < 0.2, times
