"""TorchRLModule: an RLModule that is also a ``torch.nn.Module``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import torch
from torch import nn

from tripod.core.rl_module.rl_module import RLModule


def _as_set(names: str | Collection[str] | None) -> set[str] | None:
    if names is None:
        return None
    return {names} if isinstance(names, str) else set(names)


class TorchRLModule(nn.Module, RLModule):
    """An :class:`RLModule` whose networks are PyTorch modules.

    ``forward_inference`` and ``forward_exploration`` run the module in eval
    mode (dropout and batch-norm statistics off) and ``forward_train`` in train
    mode; the mode is switched only when it changes, so a call costs one
    attribute check. The default ``_forward_inference`` and
    ``_forward_exploration`` call ``_forward`` under ``torch.no_grad()``; a
    subclass's own override runs exactly as written.
    """

    framework = "torch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        nn.Module.__init__(self)
        RLModule.__init__(self, *args, **kwargs)

    # ------------------------------------------------------------------ forwards
    def forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Greedy forward pass (eval mode)."""
        if self.training:
            self.train(False)
        return self._forward_inference(batch, **kwargs)

    def forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Exploratory forward pass used while sampling (eval mode)."""
        if self.training:
            self.train(False)
        return self._forward_exploration(batch, **kwargs)

    def forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Forward pass for the loss (train mode, gradients on)."""
        if not self.training:
            self.train(True)
        return RLModule.forward_train(self, batch, **kwargs)

    def forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``module(batch)`` is ``forward_train(batch)``, as in RLlib."""
        return self.forward_train(batch, **kwargs)

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Runners already call under no_grad; entering it again would cost more than the
        # rest of the call path, so only do it when gradients are on.
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self._forward(batch, **kwargs)
        return self._forward(batch, **kwargs)

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self._forward(batch, **kwargs)
        return self._forward(batch, **kwargs)

    # -------------------------------------------------------------------- state
    def get_non_inference_attributes(self) -> list[str]:
        """Attribute names that an inference-only copy does not hold (value heads, targets).

        Override in modules that skip parts of the network when ``inference_only``.
        """
        names = []
        if hasattr(self, "get_target_network_pairs"):
            try:
                pairs = self.get_target_network_pairs()
            except AttributeError:  # make_target_networks() not called yet: no targets to drop
                pairs = []
            names += [_attr_name(self, target) for _, target in pairs]
        return [n for n in names if n]

    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        inference_only: bool = False,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        """The weights as ``{parameter_name: numpy array}``.

        Args:
            components: Keep only parameters under these attributes (top-level names
                such as ``"encoder"`` or dotted paths such as ``"encoder.critic_encoder"``).
            not_components: Drop parameters under these attributes.
            inference_only: Drop what an inference-only copy does not need
                (:meth:`get_non_inference_attributes`, dotted paths allowed as in RLlib).
        """
        keep, drop = _as_set(components), _as_set(not_components) or set()
        if inference_only and not self.inference_only:
            drop |= set(self.get_non_inference_attributes())
        state = {}
        for key, tensor in self.state_dict().items():
            if (keep is not None and not _under_any(key, keep)) or (drop and _under_any(key, drop)):
                continue
            state[key] = tensor.detach().cpu().numpy().copy()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Load weights from :meth:`get_state` (numpy arrays or tensors).

        An inference-only module ignores weights it does not hold; any other
        mismatch (missing or unknown names, wrong shapes) is an error.
        """
        if not isinstance(state, dict):
            raise TypeError(
                f"{type(self).__name__}.set_state() expects a dict of arrays from get_state(), "
                f"got {type(state).__name__}."
            )
        own = self.state_dict()
        unknown = [k for k in state if k not in own]
        if unknown and self._build_missing_target_networks():
            # A state saved from a learner's module holds target networks that this freshly
            # built module has not made yet (make_target_networks() is the learner's job).
            own = self.state_dict()
            unknown = [k for k in state if k not in own]
        if unknown and not self.inference_only:
            raise ValueError(
                f"{type(self).__name__}.set_state(): unknown parameter names {unknown[:5]} "
                f"(the module has {list(own)[:5]}...). Was the state saved from a different module class "
                "or model_config?"
            )
        partial = bool(unknown) or len(state) < len(own)
        new_state = {}
        for key, value in state.items():
            if key not in own:
                continue
            tensor = torch.as_tensor(value)
            if tuple(tensor.shape) != tuple(own[key].shape):
                raise ValueError(
                    f"{type(self).__name__}.set_state(): parameter '{key}' has shape {tuple(tensor.shape)} "
                    f"in the state but {tuple(own[key].shape)} in the module. The state was saved from a "
                    "module built for other spaces or another model_config."
                )
            new_state[key] = tensor
        self.load_state_dict(new_state, strict=not partial)

    def _build_missing_target_networks(self) -> bool:
        """Call ``make_target_networks()`` if this is a TargetNetworkAPI module without targets yet."""
        if self.inference_only or not callable(getattr(self, "make_target_networks", None)):
            return False
        try:
            self.get_target_network_pairs()
        except AttributeError:
            self.make_target_networks()
            return True
        return False


def _under_any(key: str, names: set[str]) -> bool:
    """Whether parameter ``key`` is ``name`` or lies under ``name.`` for one of ``names``."""
    return any(key == name or key.startswith(name + ".") for name in names)


def _attr_name(module: nn.Module, child: nn.Module) -> str | None:
    for name, value in module.named_children():
        if value is child:
            return name
    return None
