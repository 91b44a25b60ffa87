"""Discriminators shared by the methods.

`LabelConditionedDiscriminator` is the cGAN critic of ELEGANT (labels broadcast to constant
planes and concatenated to the image, strided conv blocks, one linear unit). It returns logits;
losses apply the sigmoid inside a float32 BCE-with-logits, which equals the papers' Sigmoid +
BCELoss but stays finite under bf16. `MultiScaleDiscriminator` runs one critic per scale.
`AttributeClassifier` is the same trunk with one logit per attribute and no label input.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ml.nets.layers import ConvBlock


def strided_trunk(in_channels: int, channels: Sequence[int], norm: str, act: str) -> nn.Sequential:
    """3 x 3 stride-2 conv blocks, `channels` wide in turn."""
    widths = [in_channels, *channels]
    return nn.Sequential(*[ConvBlock(widths[i], widths[i + 1], 3, stride=2, padding=1, norm=norm, act=act)
                           for i in range(len(channels))])


def _trunk_side(image_size: int, blocks: int) -> int:
    side = image_size // 2 ** blocks
    if side < 1:
        raise ValueError(f"image_size {image_size} is too small for {blocks} stride-2 blocks")
    return side


def logit_bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """A critic's binary cross-entropy against a constant target (1 real, 0 fake), taken from its
    logits in float32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class LabelConditionedDiscriminator(nn.Module):
    """Real/fake logit for (image, labels) at a fixed `image_size`.

    Larger inputs are average-pooled by 2 until they are `image_size`, so one module can judge a
    full image (D1) or its half-size version (D2). The linear head depends on `image_size`.
    """

    def __init__(self, image_size: int, n_labels: int, channels: Sequence[int] = (64, 128, 256, 512),
                 in_channels: int = 3, norm: str = "l2", act: str = "lrelu"):
        super().__init__()
        self.image_size = image_size
        self.n_labels = n_labels
        self.body = strided_trunk(in_channels + n_labels, channels, norm, act)
        side = _trunk_side(image_size, len(channels))
        self.head = nn.Linear(channels[-1] * side * side, 1)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        while image.shape[-1] > self.image_size:
            image = F.avg_pool2d(image, 2)
        planes = labels.to(image.dtype).view(labels.shape[0], self.n_labels, 1, 1)
        planes = planes.expand(-1, -1, image.shape[-2], image.shape[-1])
        features = self.body(torch.cat([image, planes], dim=1))
        return self.head(features.flatten(1))


class AttributeClassifier(nn.Module):
    """One logit per attribute for an image of `image_size` (AttGAN's classifier: trained on real
    images, it grades whether an edit shows the labels it should)."""

    def __init__(self, image_size: int, n_attributes: int, channels: Sequence[int] = (64, 128, 256, 512),
                 in_channels: int = 3, norm: str = "l2", act: str = "lrelu"):
        super().__init__()
        self.body = strided_trunk(in_channels, channels, norm, act)
        side = _trunk_side(image_size, len(channels))
        self.head = nn.Linear(channels[-1] * side * side, n_attributes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(image).flatten(1))


class MultiScaleDiscriminator(nn.Module):
    """Several critics, each on its own scale; returns their outputs in order."""

    def __init__(self, critics: Sequence[nn.Module]):
        super().__init__()
        self.critics = nn.ModuleList(critics)

    def forward(self, image: torch.Tensor, *conditions: torch.Tensor) -> list[torch.Tensor]:
        return [critic(image, *conditions) for critic in self.critics]


class PatchDiscriminator(nn.Module):
    """A PatchGAN critic: strided conv blocks ending in a 1-channel logit map."""

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (64, 128, 256, 512), norm: str = "instance",
                 act: str = "lrelu", kernel_size: int = 4):
        super().__init__()
        blocks, width = [], in_channels
        for index, out in enumerate(channels):
            blocks.append(ConvBlock(width, out, kernel_size, stride=2, padding=1,
                                    norm="none" if index == 0 else norm, act=act))
            width = out
        blocks.append(nn.Conv2d(width, 1, kernel_size, 1, padding=1))
        self.body = nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)
