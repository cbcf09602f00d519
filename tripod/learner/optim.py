"""A small Adam optimizer that starts instantly.

Constructing any ``torch.optim`` optimizer imports ``torch._dynamo`` (about 2 s
on a laptop-class CPU), which dominates a short training run's start-up. This
Adam has the same maths (Kingma & Ba, with bias correction), the same
``param_groups`` / ``state_dict`` / ``load_state_dict`` / ``zero_grad`` surface
the Learner needs, and runs as one fused or multi-tensor kernel per step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class Adam:
    """Adam over one group of parameters.

    Args:
        params: The parameters to optimise.
        lr: Learning rate (``param_groups[0]["lr"]`` may be changed between steps).
        betas: Decay rates of the first and second moment estimates.
        eps: Term added to the denominator for numerical stability.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("Adam got an empty parameter list.")
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas} or eps={eps}.")
        self.param_groups = [{"lr": float(lr), "betas": tuple(betas), "eps": float(eps)}]
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        self._fused = (
            hasattr(torch, "_fused_adam_")
            and all(
                p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda")
                for p in self.params
            )
            and len({p.device for p in self.params}) == 1
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """Apply one Adam update to every parameter that has a gradient."""
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        exp_avg = [self.exp_avg[i] for i in idx]
        exp_avg_sq = [self.exp_avg_sq[i] for i in idx]
        steps = [self.steps[i] for i in idx]
        if self._fused:
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, grads, exp_avg, exp_avg_sq, [], steps,
                lr=lr, beta1=beta1, beta2=beta2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False,
            )  # fmt: skip
            return
        torch._foreach_add_(steps, 1)
        torch._foreach_lerp_(exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2)
        for p, m, v, t in zip(params, exp_avg, exp_avg_sq, steps):
            step = float(t)
            bias1 = 1 - beta1**step
            bias2 = 1 - beta2**step
            denom = (v.sqrt() / bias2**0.5).add_(eps)
            p.addcdiv_(m, denom, value=-lr / bias1)

    def state_dict(self) -> dict[str, Any]:
        """Moments, step counts and hyperparameters (tensors and plain values only)."""
        return {
            "state": {
                i: {
                    "step": self.steps[i].clone(),
                    "exp_avg": self.exp_avg[i].clone(),
                    "exp_avg_sq": self.exp_avg_sq[i].clone(),
                }
                for i in range(len(self.params))
            },
            "param_groups": [dict(self.param_groups[0], betas=list(self.param_groups[0]["betas"]))],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameters)."""
        saved = state["state"]
        if len(saved) != len(self.params):
            raise ValueError(
                f"Adam.load_state_dict(): the saved state has {len(saved)} parameters, the optimizer "
                f"{len(self.params)}. Was it saved for a different module?"
            )
        for i, p in enumerate(self.params):
            s = saved[i] if i in saved else saved[str(i)]
            for name, target in (("exp_avg", self.exp_avg), ("exp_avg_sq", self.exp_avg_sq)):
                value = torch.as_tensor(s[name])
                if value.shape != p.shape:
                    raise ValueError(
                        f"Adam.load_state_dict(): parameter {i} has shape {tuple(p.shape)}, saved "
                        f"{name} {tuple(value.shape)}."
                    )
                target[i].copy_(value)
            self.steps[i].fill_(float(torch.as_tensor(s["step"])))
        group = state["param_groups"][0]
        self.param_groups[0].update(
            lr=float(group["lr"]), betas=tuple(group["betas"]), eps=float(group["eps"])
        )
