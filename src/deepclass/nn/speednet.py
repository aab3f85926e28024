"""``SpeedNet``: the CIFAR-10 network of deepclass's main job, in airbench's shape.

A patch-whitening 2x2 convolution (fixed weights computed from the training
images, trainable bias), GELU, then three conv groups (conv 3x3 -> max-pool 2
-> batchnorm -> GELU -> conv 3x3 -> batchnorm -> GELU), a global max-pool, a
bias-free linear layer and a fixed logit scale. The ideas and their settings
come from Keller Jordan's airbench and hlb-CIFAR10 (Tysam): whitening the
input patches makes the first layer an already-good feature extractor, the
identity (Dirac) initialisation of the convolutions and batchnorm with frozen
scale make ~10 epochs enough, and the logit scale of 1/9 replaces a
temperature search. The recipe (optimizer, schedule, augmentation, TTA) lives
in ``deepclass.lightning.presets`` ("best", "fast").

Inputs: ``(N, 3, 32, 32)`` float images normalised per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from deepclass.errors import ConfigError
from deepclass.registry import register_model


class Conv(nn.Conv2d):
    """3x3 'same' convolution without bias, initialised to pass its input through (Dirac)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        w = self.weight.data
        # the first c_in filters start as the identity, the rest keep the default init
        nn.init.dirac_(w[: min(w.size(0), w.size(1))])


class BatchNorm(nn.BatchNorm2d):
    """Batchnorm with a frozen unit scale and a trainable shift (airbench's choice).

    momentum: the fraction of the old running statistic kept each step (0.6), the
    course convention; torch's ``momentum`` argument is ``1 - momentum``.
    """

    def __init__(self, num_features: int, momentum: float = 0.6, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False


class ConvGroup(nn.Module):
    """conv -> max-pool 2 -> BN -> GELU -> conv -> BN -> GELU: ``(N, c_in, H, W) -> (N, c_out, H/2, W/2)``."""

    def __init__(self, c_in: int, c_out: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv1 = Conv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(c_out, bn_momentum)
        self.conv2 = Conv(c_out, c_out)
        self.norm2 = BatchNorm(c_out, bn_momentum)
        self.activ = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def image_patches(images: torch.Tensor, size: int) -> torch.Tensor:
    """All ``size x size`` patches of ``images (N, C, H, W)`` -> ``(N * (H-size+1) * (W-size+1), C, size, size)``."""
    c = images.shape[1]
    p = images.unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H', W', s, s)
    return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, size, size)


def whitening_filters(patches: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
    """Filters that whiten ``patches (M, C, k, k)``: ``(2 * C*k*k, C, k, k)``, float32.

    The eigenvectors of the patch covariance scaled by 1/sqrt(eigenvalue + eps),
    largest eigenvalue first, followed by their negatives (so a GELU after the
    layer keeps both signs of every component).
    """
    m, c, k, _ = patches.shape
    flat = patches.reshape(m, -1).double()
    cov = flat.T @ flat / m
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)
    filters = (eigvecs.T / torch.sqrt(eigvals.clamp_min(0) + eps)[:, None]).reshape(-1, c, k, k)
    return torch.cat([filters, -filters]).float()


class SpeedNet(nn.Module):
    """airbench-shaped CIFAR net; see the module docstring.

    input_shape: ``(C, H, W)`` of the normalised inputs (H, W >= 16).
    widths: output channels of the three conv groups.
    bn_momentum: running-statistics momentum (course convention, see ``BatchNorm``).
    logit_scale: the logits are multiplied by this.
    bias_lr_scale: lr multiplier of the batchnorm shifts (``optimizer_param_groups``).
    """

    whiten_kernel = 2

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        widths: Sequence[int] = (64, 256, 256),
        bn_momentum: float = 0.6,
        logit_scale: float = 1 / 9,
        bias_lr_scale: float = 64.0,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3 or min(input_shape[1:]) < 16:
            raise ConfigError(
                f"speednet: input_shape must be (C, H, W) with H, W >= 16, got {tuple(input_shape)}"
            )
        if len(widths) != 3 or any(int(w) <= 0 for w in widths):
            raise ConfigError(f"speednet: widths must be 3 positive ints, got {list(widths)}")
        if not 0.0 <= bn_momentum < 1.0:
            raise ConfigError(f"speednet: bn_momentum must be in [0, 1), got {bn_momentum}")
        c = int(input_shape[0])
        w1, w2, w3 = (int(w) for w in widths)
        whiten_width = 2 * c * self.whiten_kernel**2
        self.whiten = nn.Conv2d(c, whiten_width, self.whiten_kernel, padding=0, bias=True)
        self.whiten.weight.requires_grad = False  # set from the data by init_from_data
        self.activ = nn.GELU()
        self.layers = nn.Sequential(
            ConvGroup(whiten_width, w1, bn_momentum),
            ConvGroup(w1, w2, bn_momentum),
            ConvGroup(w2, w3, bn_momentum),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(w3, num_classes, bias=False)
        self.logit_scale = float(logit_scale)
        self.bias_lr_scale = float(bias_lr_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(N, C, H, W)`` normalised images -> logits ``(N, num_classes)``.

        The whitening convolution always runs in float32: its filters are
        scaled by up to 1/sqrt(eps) ~ 45, and in bf16 the weakest whitened
        components (what the small eigenvalues hold) come out with 10-20%
        rounding noise; the layer costs < 1% of the FLOPs. Its output goes on
        in the autocast dtype.
        """
        dev = x.device.type
        with torch.autocast(dev, enabled=False):
            x = self.whiten(x.float())
        if torch.is_autocast_enabled(dev):  # storing the result in bf16 is harmless
            x = x.to(torch.get_autocast_dtype(dev))
        x = self.layers(self.activ(x))
        return self.head(self.pool(x).flatten(1)) * self.logit_scale

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the whitening filters from normalised training images ``(N, C, H, W)``.

        A few thousand images are enough (the covariance is over all their
        2x2 patches); the trainer passes the first 5,000 training images.
        """
        if images.ndim != 4 or images.shape[1] != self.whiten.in_channels:
            raise ConfigError(
                f"speednet.init_from_data: images must be (N, {self.whiten.in_channels}, H, W), "
                f"got {tuple(images.shape)}"
            )
        filters = whitening_filters(image_patches(images.float().cpu(), self.whiten_kernel))
        self.whiten.weight.copy_(filters.to(self.whiten.weight))

    def optimizer_param_groups(self, *, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """Batchnorm shifts get ``lr * bias_lr_scale`` and the same lr * weight-decay product."""
        norm = [p for n, p in self.named_parameters() if "norm" in n and p.requires_grad]
        other = [p for n, p in self.named_parameters() if "norm" not in n and p.requires_grad]
        s = self.bias_lr_scale
        return [
            {"params": norm, "lr": lr * s, "weight_decay": weight_decay / s},
            {"params": other, "lr": lr, "weight_decay": weight_decay},
        ]


def flops_per_image(net: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds x 2 of one forward pass of ``net`` on one ``input_shape`` image.

    Counts convolutions and linear layers (the rest is < 1% for these nets).
    """
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += 2 * out[0].numel() * k

    def linear_hook(m: nn.Linear, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out[0].numel() * m.in_features

    handles = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            p = next(net.parameters())
            net(torch.zeros(1, *input_shape, dtype=p.dtype, device=p.device))
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return total


@register_model(
    "nn", "speednet", "airbench-shaped CIFAR net: whitening conv, 3 conv groups, GELU (main job)"
)
def build_speednet(
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    widths: Sequence[int] = (64, 256, 256),
    bn_momentum: float = 0.6,
    logit_scale: float = 1 / 9,
    bias_lr_scale: float = 64.0,
) -> nn.Module:
    """:class:`SpeedNet`."""
    return SpeedNet(input_shape, num_classes, widths, bn_momentum, logit_scale, bias_lr_scale)
