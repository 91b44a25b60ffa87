"""Convolution blocks: each a conv (or transposed conv), a normalisation and an activation."""
from __future__ import annotations

import torch
from torch import nn

from ml.nets.normalization import make_norm


class ScaledTanh(nn.Module):
    """`scale * tanh(x)`: ELEGANT's decoder emits residuals in [-2, 2] this way."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def activation(name: str) -> nn.Module:
    """An activation by name: "relu", "lrelu" (slope 0.2), "tanh", "sigmoid", "2tanh", "none"."""
    if name == "relu":
        return nn.ReLU()
    if name == "lrelu":
        return nn.LeakyReLU(0.2)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "2tanh":
        return ScaledTanh(2.0)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


class ConvBlock(nn.Module):
    """conv -> norm -> activation. `transposed=True` doubles the size at stride 2 (output_padding
    stride - 1), so encoder and decoder sizes mirror each other exactly."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, norm: str = "none", act: str = "none",
                 transposed: bool = False, bias: bool = True):
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        if transposed:
            self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                           output_padding=stride - 1, bias=bias)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.norm = make_norm(norm, out_channels)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def fold_batch_norms_(network: nn.Module) -> int:
    """Folds each ConvBlock's batch norm into its conv, for inference only: in eval mode a batch
    norm is a fixed per-channel scale and shift, so the conv can apply it. A render then skips the
    norm's pass over the maps (and, under bf16 autocast, its round trip through float32): the
    HomoInterpGAN starter's render went 12.5 -> 6.1 ms in bf16 and 14.8 -> 13.4 ms in float32 on
    one thread of an AMD EPYC. Returns how many were folded; the network must not train again."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if network.training:
        raise ValueError("fold batch norms in eval mode: a training batch norm normalises by its batch")
    folded = 0
    for block in network.modules():
        if not isinstance(block, ConvBlock) or isinstance(block.conv, nn.ConvTranspose2d):
            continue
        norm = getattr(block.norm, "norm", block.norm)  # make_norm wraps it to run in float32
        if isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
            block.conv = fuse_conv_bn_eval(block.conv, norm)
            block.norm = nn.Identity()
            folded += 1
    return folded


class ResidualBlock(nn.Module):
    """x + conv-norm-act-conv-norm(x), channels and size unchanged."""

    def __init__(self, channels: int, norm: str = "instance", act: str = "relu", kernel_size: int = 3):
        super().__init__()
        self.first = ConvBlock(channels, channels, kernel_size, norm=norm, act=act)
        self.second = ConvBlock(channels, channels, kernel_size, norm=norm, act="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x))
