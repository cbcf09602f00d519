"""The state API both env runners share: inference-only weights in, counters out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RunnerStateMixin:
    """``get_state``/``set_state`` for runners holding ``self.module`` and a lifetime step counter."""

    module: Any
    num_env_steps_sampled_lifetime: int

    def get_state(self) -> dict[str, Any]:
        """``{"rl_module": inference-only weights, "num_env_steps_sampled_lifetime": int}``.

        For a multi-agent runner the weights are ``{module_id: weights}``.
        """
        return {
            "rl_module": self.module.get_state(inference_only=True),
            "num_env_steps_sampled_lifetime": self.num_env_steps_sampled_lifetime,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load weights under ``"rl_module"`` (multi-agent: modules not named keep theirs) and counters."""
        if "rl_module" in state:
            self.module.set_state(state["rl_module"])
        if "num_env_steps_sampled_lifetime" in state:
            self.num_env_steps_sampled_lifetime = int(state["num_env_steps_sampled_lifetime"])
