"""The Ray actor that holds one env runner of a :class:`~tripod.distributed.env_runner_group.RemoteEnvRunnerGroup`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from tripod.env.env_creation import restore_env_registrations

__all__ = ["EnvRunnerActor"]


class EnvRunnerActor:
    """One env runner in its own process (used as ``ray.remote(EnvRunnerActor)``).

    Args:
        make_runner: ``make_runner(worker_index) -> EnvRunner`` (pickled by Ray; classes and
            functions from the driver's ``__main__`` travel by value).
        worker_index: The runner's index (1..N): its env and sampling seeds derive from it.
        registrations: :func:`~tripod.env.env_creation.env_registrations` of the driver, so
            names registered there with ``register_env`` resolve here too.
        num_threads: ``torch.set_num_threads`` for the runner's forward passes.
    """

    def __init__(
        self,
        make_runner: Callable[[int], Any],
        worker_index: int,
        registrations: dict[str, Any],
        num_threads: int | None = 1,
    ) -> None:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        restore_env_registrations(registrations)
        self._runner = make_runner(worker_index)
        self._weights_seq_no = 0

    def ping(self) -> bool:
        """True once the runner is built (construction errors surface here)."""
        return True

    def sample(self, kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any] | None, int]:
        """``(result, metrics, weights_seq_no)``: with ``num_timesteps`` the runner's
        ``{module_id: batch}`` and its metrics of this call; with ``num_episodes`` the episodes'
        results and None. ``weights_seq_no`` tags the weights the runner sampled with."""
        if kwargs.get("num_episodes") is not None:
            return self._runner.sample(**kwargs), None, self._weights_seq_no
        batch = self._runner.sample_batches(**kwargs)
        return batch, self._runner.get_metrics(), self._weights_seq_no

    def set_state(self, state: Mapping[str, Any]) -> None:
        """:meth:`EnvRunner.set_state`, remembering the ``weights_seq_no`` sent with the weights."""
        self._weights_seq_no = int(state.get("weights_seq_no", self._weights_seq_no))
        self._runner.set_state(state)

    def apply(self, func: Callable[[Any], Any]) -> Any:
        """``func(runner)`` (``foreach_env_runner``)."""
        return func(self._runner)

    def get_spaces(self) -> tuple[Any, Any]:
        """The runner's ``(observation_space, action_space)``."""
        return self._runner.get_spaces()

    def get_state(self) -> dict[str, Any]:
        """The runner's :meth:`EnvRunner.get_state`."""
        return self._runner.get_state()

    def get_rng_state(self) -> dict[str, Any]:
        """The runner's :meth:`EnvRunner.get_rng_state`."""
        return self._runner.get_rng_state()

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """The runner's :meth:`EnvRunner.set_rng_state`."""
        self._runner.set_rng_state(state)

    def stop(self) -> None:
        """Close the runner's envs."""
        self._runner.stop()
