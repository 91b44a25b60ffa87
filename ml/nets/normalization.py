"""Normalisation layers, chosen by name with `make_norm(kind, channels)`.

All of them compute in float32 even under bf16 autocast: a sum of squares over 512 channels in
bf16 loses most of its mantissa, and these layers are cheap next to the convolutions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelL2Norm(nn.Module):
    """ELEGANT's normalisation: each pixel's channel vector scaled to unit L2 length, then
    `scale * x + shift` with one learnable scalar each (not per channel).

    It has no running statistics, so training and inference behave the same at any batch size.
    """

    def __init__(self, eps: float = 1e-12):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(1))
        self.shift = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x.float(), p=2.0, dim=1, eps=self.eps)
        return x * self.scale + self.shift


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel, with per-channel affine parameters."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.float().permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _Float32(nn.Module):
    """Runs a wrapped norm in float32 (autocast would otherwise feed it bf16)."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.norm(x.float())


def make_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: "batch", "instance", "instance_affine", "l2", "layer", "none"."""
    if kind == "l2":
        return ChannelL2Norm()
    if kind == "batch":
        return _Float32(nn.BatchNorm2d(channels))
    if kind == "instance":
        return _Float32(nn.InstanceNorm2d(channels, affine=False))
    if kind == "instance_affine":
        return _Float32(nn.InstanceNorm2d(channels, affine=True))
    if kind == "layer":
        return LayerNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}")
