"""A configurable 2-D U-Net: the one network definition for training and inference.

The architecture is described by a plain dict (stored in every checkpoint) and built
by :func:`build_network`, so a checkpoint never needs code from its file to be rebuilt.

``UNet(2, 4, base_width=32, depth=5, dropout=0.2, batch_norm=False, up_mode="upsample_conv")``
is the reference tutorial's Keras network layer for layer (7,759,908 parameters):
3x3 convolutions + ReLU, ``he_normal`` initialisation, 2x2 max pooling, dropout at the
bottleneck, up-sampling + 2x2 convolution + concatenation on the way up, 1x1
convolution to the classes. The softmax is left to the loss / the caller (logits out),
which is numerically safer and equivalent.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

UP_MODES = ("upsample_conv", "transpose")


def _init_he_normal(module: nn.Module) -> None:
    """Keras ``he_normal`` (truncated normal, fan-in) for convolutions, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        fan_in = nn.init._calculate_correct_fan(module.weight, "fan_in")
        std = (2.0 / fan_in) ** 0.5 / 0.87962566103423978  # Keras' truncation correction
        nn.init.trunc_normal_(module.weight, 0.0, std, -2 * std, 2 * std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by (optional) batch norm and ReLU."""

    def __init__(self, in_ch: int, out_ch: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(nn.Conv2d(c_in, out_ch, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpBlock(nn.Module):
    """Double the resolution, halve the channels, concatenate the skip, convolve twice."""

    def __init__(self, in_ch: int, out_ch: int, batch_norm: bool, up_mode: str) -> None:
        super().__init__()
        if up_mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2)
        else:  # the tutorial's UpSampling2D + Conv2D(k=2, padding="same", relu)
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.ZeroPad2d((0, 1, 0, 1)),  # Keras "same" for an even kernel pads right/bottom only
                nn.Conv2d(in_ch, out_ch, 2),
                nn.ReLU(inplace=True),
            )
        self.conv = ConvBlock(2 * out_ch, out_ch, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """2-D U-Net; input height and width must be multiples of ``2 ** (depth - 1)``."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 4,
        base_width: int = 32,
        depth: int = 5,
        dropout: float = 0.2,
        batch_norm: bool = True,
        up_mode: str = "transpose",
        prior_channels: tuple[int, int] | list[int] | None = None,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"U-Net depth must be at least 2, got {depth}")
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
        widths = [base_width * 2**i for i in range(depth)]
        self.depth = depth
        self.down = nn.ModuleList()
        c_in = in_channels
        for w in widths:
            self.down.append(ConvBlock(c_in, w, batch_norm))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.up = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], batch_norm, up_mode) for i in reversed(range(depth - 1))
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.apply(_init_he_normal)
        # Optional shortcut from input channels [start, stop) straight to the logits (1x1, no
        # bias, zero at first): the click model's current labels and guidance, which should
        # sway the answer voxel by voxel without first travelling through the whole U-Net.
        self.prior_channels = tuple(int(c) for c in prior_channels) if prior_channels is not None else None
        if self.prior_channels is not None:
            start, stop = self.prior_channels
            if not 0 <= start < stop <= in_channels:
                raise ValueError(f"prior_channels must lie within the {in_channels} inputs, got {prior_channels}")
            self.prior = nn.Conv2d(stop - start, num_classes, 1, bias=False)
            nn.init.zeros_(self.prior.weight)

    @property
    def size_multiple(self) -> int:
        """Height and width of the input must be divisible by this."""
        return 1 << (self.depth - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        inputs = x
        for i, block in enumerate(self.down):
            if i:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = self.dropout(skips.pop())
        for block in self.up:
            x = block(x, skips.pop())
        if self.prior_channels is None:
            return self.head(x)
        start, stop = self.prior_channels
        return self.head(x) + self.prior(inputs[:, start:stop])


ARCHITECTURE_KEYS = (
    "in_channels", "num_classes", "base_width", "depth", "dropout", "batch_norm", "up_mode", "prior_channels",
)


def build_network(architecture: dict[str, Any]) -> nn.Module:
    """Build the network a checkpoint or a training config describes.

    ``architecture`` is ``{"type": "unet2d", "in_channels": ..., ...}``; unknown types or
    keys are refused with a message rather than silently ignored, because a checkpoint
    rebuilt with a different shape would load wrong weights or fail obscurely.
    """
    arch = dict(architecture)
    kind = arch.pop("type", "unet2d")
    if kind != "unet2d":
        raise ValueError(f"unknown architecture type {kind!r} (this version builds 'unet2d')")
    unknown = sorted(set(arch) - set(ARCHITECTURE_KEYS))
    if unknown:
        raise ValueError(f"unknown architecture key(s): {', '.join(unknown)}")
    if "in_channels" not in arch:
        raise ValueError("architecture lacks 'in_channels'")
    return UNet(**arch)


def fuse_batch_norm(network: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (in place; for inference only).

    Saves one pass over every feature map: about a tenth of the CPU time of a
    whole-volume prediction, with outputs equal up to float rounding.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    network.eval()
    for module in network.modules():
        if not isinstance(module, ConvBlock):
            continue
        layers = list(module)
        fused: list[nn.Module] = []
        i = 0
        while i < len(layers):
            if isinstance(layers[i], nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d):
                fused.append(fuse_conv_bn_eval(layers[i], layers[i + 1]))
                i += 2
            else:
                fused.append(layers[i])
                i += 1
        for name in list(module._modules):
            del module._modules[name]
        for j, layer in enumerate(fused):
            module.add_module(str(j), layer)
    return network


def count_parameters(network: nn.Module) -> int:
    """Number of trainable parameters (the tutorial reports 7,759,908 for its U-Net)."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
