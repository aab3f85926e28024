"""Custom layers: ``NoisyLinear`` (seed 003's user-defined layer)."""

from __future__ import annotations

import math

import torch
from torch import nn

from deepclass.errors import ConfigError


class NoisyLinear(nn.Module):
    """A linear layer that adds Gaussian noise to its *input* while training.

    ``y = (x + eps) @ w + b`` with ``eps ~ N(0, noise_stddev^2)`` drawn afresh
    on every training call (from torch's global generator, as the seed's
    ``torch.normal``), and ``y = x @ w + b`` otherwise: the noise is a
    regulariser, so evaluation is deterministic.

    Parameters: ``w (input_size, output_size)`` Xavier-uniform (note the
    layout: transposed with respect to ``nn.Linear.weight``) and ``b
    (output_size,)`` zeros.
    """

    def __init__(self, input_size: int, output_size: int, noise_stddev: float = 0.1) -> None:
        super().__init__()
        for v, n in ((input_size, "input_size"), (output_size, "output_size")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"NoisyLinear: {n} must be a positive int, got {v!r}")
        if (
            isinstance(noise_stddev, bool)
            or not isinstance(noise_stddev, (int, float))
            or not math.isfinite(noise_stddev)
            or noise_stddev < 0
        ):
            raise ConfigError(
                f"NoisyLinear: noise_stddev must be a finite number >= 0, got {noise_stddev!r}"
            )
        self.input_size, self.output_size = input_size, output_size
        self.noise_stddev = float(noise_stddev)
        self.w = nn.Parameter(torch.empty(input_size, output_size))
        nn.init.xavier_uniform_(self.w)
        self.b = nn.Parameter(torch.zeros(output_size))

    def forward(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        """x: ``(N, input_size)`` -> ``(N, output_size)``.

        training: add noise or not; None follows the module's mode
        (``self.training``: ``model.train()`` / ``model.eval()``), an explicit
        bool (the seed's ``forward(x, training)`` argument) wins.
        """
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ConfigError(
                f"NoisyLinear: x must be (N, {self.input_size}), got shape {tuple(x.shape)}"
            )
        if training is None:
            training = self.training
        if training and self.noise_stddev > 0:
            noise = torch.normal(0.0, self.noise_stddev, x.shape, dtype=x.dtype, device=x.device)
            x = x + noise
        return torch.addmm(self.b, x, self.w)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}, noise_stddev={self.noise_stddev}"
