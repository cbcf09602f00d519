"""Import paths users know from RLlib hold the real classes.

Which dependencies importing tripod loads is checked in fresh interpreters in
tests/integration/test_import_dependencies.py; what the import costs, in benchmarks/import_time.py.
"""

from __future__ import annotations


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
