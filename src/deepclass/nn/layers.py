"""Custom layers: ``NoisyLinear`` (seed 003's user-defined layer)."""

from __future__ import annotations

import torch
from torch import nn

from deepclass.checks import check_number, check_positive_int
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
        input_size = check_positive_int(input_size, "input_size", "NoisyLinear")
        output_size = check_positive_int(output_size, "output_size", "NoisyLinear")
        self.noise_stddev = check_number(noise_stddev, "noise_stddev", low=0, model="NoisyLinear")
        self.input_size, self.output_size = input_size, output_size
        self.w = nn.Parameter(torch.empty(input_size, output_size))
        nn.init.xavier_uniform_(self.w)
        self.b = nn.Parameter(torch.zeros(output_size))

    def forward(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        """x: ``(N, input_size)`` -> ``(N, output_size)``.

        training: add noise or not; None follows the module's mode
        (``self.training``: ``model.train()`` / ``model.eval()``), an explicit
        bool (the seed's ``forward(x, training)`` argument) wins.
        """
        if not isinstance(x, torch.Tensor):
            raise ConfigError(
                f"NoisyLinear: x must be a torch.Tensor, got {type(x).__name__} "
                "(torch.as_tensor(x, dtype=torch.float32) converts an array)"
            )
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ConfigError(
                f"NoisyLinear: x must be (N, {self.input_size}), got shape {tuple(x.shape)}"
            )
        if x.dtype != self.w.dtype or x.device != self.w.device:
            raise ConfigError(
                f"NoisyLinear: x must have the layer's dtype and device ({self.w.dtype} on "
                f"{self.w.device}), got {x.dtype} on {x.device}; convert x "
                f"(x.to({self.w.dtype})) or the layer (layer.to(x.dtype))"
            )
        if training is not None and not isinstance(training, bool):
            raise ConfigError(
                f"NoisyLinear: training must be True, False or None (follow model.train() / "
                f"model.eval()), got {training!r}"
            )
        if training is None:
            training = self.training
        if training and self.noise_stddev > 0:
            noise = torch.normal(0.0, self.noise_stddev, x.shape, dtype=x.dtype, device=x.device)
            x = x + noise
        return torch.addmm(self.b, x, self.w)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}, noise_stddev={self.noise_stddev}"
