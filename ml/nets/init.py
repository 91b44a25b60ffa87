"""Weight initialisation shared by the DCGAN-era methods."""
from __future__ import annotations

from torch import nn


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Conv / transposed-conv / linear weights ~ N(0, std); linear biases zero.

    Conv biases keep PyTorch's default, as the ELEGANT and pix2pix-style code bases do.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
