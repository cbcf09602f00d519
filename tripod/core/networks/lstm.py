"""Single-layer LSTM encoder for batch-first ``[B, T, D]`` sequences."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["LSTMEncoder"]


class LSTMEncoder(nn.Module):
    """An LSTM layer with an explicit, dict-shaped recurrent state.

    ``forward(x, state)`` takes a batch of sequences ``x: [B, T, in_dim]`` and a
    state ``{"h": [B, cell_size], "c": [B, cell_size]}`` (the state before the
    first time step) and returns ``(out: [B, T, cell_size], new_state)``, where
    ``new_state`` has the same layout and holds the state after the last step.
    Running a sequence at once therefore equals running it step by step with
    the state carried along.

    :meth:`get_initial_state` returns an *unbatched* zero state
    (``{"h": [cell_size], "c": [cell_size]}``), RLlib's convention; stack it
    over the batch, or pass ``state=None`` to start every row from zeros.

    Args:
        in_dim: size of each time step's input.
        cell_size: size of the hidden and cell state.

    Attributes:
        in_dim, cell_size: as given.
        out_dim: equal to ``cell_size``.
    """

    def __init__(self, in_dim: int, cell_size: int) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("cell_size", cell_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"LSTMEncoder {name} must be a positive int, got {value!r}.")
        self.in_dim = in_dim
        self.cell_size = cell_size
        self.out_dim = cell_size
        self.lstm = nn.LSTM(in_dim, cell_size, num_layers=1, batch_first=True)

    def is_stateful(self) -> bool:
        """Always ``True``: the encoder carries a recurrent state."""
        return True

    def get_initial_state(self) -> dict[str, torch.Tensor]:
        """Return the unbatched zero state ``{"h": zeros(cell_size), "c": zeros(cell_size)}``."""
        p = self.lstm.weight_ih_l0
        return {
            "h": torch.zeros(self.cell_size, dtype=p.dtype, device=p.device),
            "c": torch.zeros(self.cell_size, dtype=p.dtype, device=p.device),
        }

    def forward(
        self, x: torch.Tensor, state: Mapping[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run the LSTM over ``x: [B, T, in_dim]`` starting from ``state``.

        Args:
            x: input sequences, batch first.
            state: ``{"h": [B, cell_size], "c": [B, cell_size]}``; ``None`` means zeros.

        Returns:
            ``(out, new_state)`` with ``out: [B, T, cell_size]`` and ``new_state``
            the state after the last time step.
        """
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"LSTMEncoder expects input [B, T, {self.in_dim}], got {tuple(x.shape)}. "
                "Add a time dimension of 1 for a single step (x.unsqueeze(1))."
            )
        if state is None:
            out, (h, c) = self.lstm(x)
        else:
            try:
                h0, c0 = state["h"], state["c"]
            except (KeyError, TypeError) as e:
                raise ValueError(
                    f"LSTMEncoder state must be a dict with keys 'h' and 'c', got {type(state).__name__}"
                    f"{' with keys ' + str(list(state.keys())) if isinstance(state, Mapping) else ''}."
                ) from e
            expected = (x.shape[0], self.cell_size)
            if tuple(h0.shape) != expected or tuple(c0.shape) != expected:
                raise ValueError(
                    f"LSTMEncoder state 'h' and 'c' must have shape [B, cell_size] = {list(expected)}, "
                    f"got {tuple(h0.shape)} and {tuple(c0.shape)}."
                )
            if x.shape[1] == 1:  # one step (sampling): the fused cell costs half of nn.LSTM's call
                lstm = self.lstm
                h, c = torch.lstm_cell(
                    x[:, 0], (h0, c0), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
                )
                return h.unsqueeze(1), {"h": h, "c": c}
            out, (h, c) = self.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
        return out, {"h": h.squeeze(0), "c": c.squeeze(0)}
