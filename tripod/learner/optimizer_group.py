"""Several named optimizers that a Learner treats as one (e.g. SAC's actor, critic and alpha).

:class:`~tripod.learner.learner.Learner` keeps one optimizer per module. A module
that needs several (each with its own parameters and learning rate) returns an
:class:`OptimizerGroup` from ``configure_optimizer``: it zeroes, steps, saves and
loads all of its members, so the learner's plumbing (``get_state``/``set_state``,
one backward per update) works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["OptimizerGroup"]


class OptimizerGroup:
    """Named optimizers stepped together.

    Args:
        optimizers: ``{name: optimizer}``; each optimizer needs ``zero_grad``,
            ``step``, ``param_groups``, ``state_dict`` and ``load_state_dict``
            (tripod's :class:`~tripod.learner.optim.Adam` or any ``torch.optim`` one).

    ``group["critic"]`` is one member; ``param_groups`` lists the members' groups
    in order (so setting ``lr`` on all of them sets every member's).
    """

    def __init__(self, optimizers: Mapping[str, Any]) -> None:
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer.")
        self.optimizers = dict(optimizers)

    def __getitem__(self, name: str) -> Any:
        return self.optimizers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.optimizers

    def __iter__(self) -> Iterator[str]:
        return iter(self.optimizers)

    def items(self):
        """``(name, optimizer)`` pairs."""
        return self.optimizers.items()

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The parameter groups of all members, in order."""
        return [group for opt in self.optimizers.values() for group in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every member's parameters."""
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """Step every member."""
        for opt in self.optimizers.values():
            opt.step()

    def state_dict(self) -> dict[str, Any]:
        """``{name: member.state_dict()}``."""
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the saved names must be this group's names.

        Raises:
            ValueError: If the names differ (the state was saved for another learner).
        """
        if set(state) != set(self.optimizers):
            raise ValueError(
                f"OptimizerGroup.load_state_dict(): the saved optimizers are {sorted(state)}, this group "
                f"has {sorted(self.optimizers)}. Was the state saved by a different learner?"
            )
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])
