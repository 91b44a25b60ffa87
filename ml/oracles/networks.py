"""The oracles' networks: small convolutional nets for 128 px faces (64 px inputs are resized).

- `AttributeNet`: a residual backbone with three heads: attribute logits (CelebA names),
  attribute intensities in [0, 1] (what a slider should move evenly), and one softmax per style.
- `LightIdentityNet`: the identity network that losses use. A plain conv net with max-feature-map
  activations, the way Light CNN (TP-GAN's identity teacher) is built.
- `ResidualIdentityNet`: the identity network kept for evaluation. A batch-normalised residual net
  (the ArcFace / pSp family), so the grader shares neither architecture nor seed with the teacher.

Every backbone returns its stage outputs shallow to deep (`features`), which is what the
perceptual losses read. Embeddings are L2-normalised; identity is their cosine similarity.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 128


def fit_input(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Resize a batch to the size the oracle was trained at (64 px faces are upsampled)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


# --- blocks ---------------------------------------------------------------------------------------

class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a (strided, projected when needed) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, out_channels, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(out_channels))
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class MaxFeatureMap(nn.Module):
    """Light CNN's activation: a conv with twice the channels, then the max of the two halves."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = self.conv(x).chunk(2, dim=1)
        return torch.maximum(first, second)


class LightStage(nn.Module):
    """Light CNN's unit: a 1x1 MFM "network in network" then a 3x3 MFM, then 2x2 max pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.reduce = MaxFeatureMap(in_channels, in_channels, kernel_size=1)
        self.conv = MaxFeatureMap(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.reduce(x)))


# --- backbones ------------------------------------------------------------------------------------

class StagedBackbone(nn.Module):
    """A stem then stages; `features` returns every stage's map, shallow to deep."""

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = [self.stem(x)]
        for stage in self.stages:
            maps.append(stage(maps[-1]))
        return maps


class ResidualBackbone(StagedBackbone):
    """A stride-2 stem, then one residual block per stage, each halving the resolution."""

    def __init__(self, widths: Sequence[int] = (24, 32, 64, 96, 128)):
        super().__init__()
        self.stem = ConvBNReLU(3, widths[0], stride=2)
        self.stages = nn.ModuleList(ResidualBlock(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:]))
        self.out_channels = widths[-1]


class LightBackbone(StagedBackbone):
    """A Light CNN-style stack: 5x5 MFM stem with pooling, then `LightStage`s."""

    def __init__(self, widths: Sequence[int] = (32, 48, 96, 128)):
        super().__init__()
        # stride 4 at once: at 128 px the first map is 32 x 32, the deepest 4 x 4
        self.stem = nn.Sequential(MaxFeatureMap(3, widths[0], kernel_size=5, stride=2), nn.MaxPool2d(2, ceil_mode=True))
        self.stages = nn.ModuleList(LightStage(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out_channels = widths[-1]


def build_backbone(architecture: str, widths: Sequence[int]) -> nn.Module:
    if architecture == "residual":
        return ResidualBackbone(widths)
    if architecture == "light":
        return LightBackbone(widths)
    raise ValueError(f"unknown oracle architecture {architecture!r} (residual | light)")


# --- oracles --------------------------------------------------------------------------------------

class AttributeNet(nn.Module):
    """Attribute logits, attribute intensities and style logits of 128 px faces in [-1, 1]."""

    def __init__(self, attributes: Sequence[str], styles: dict[str, Sequence[str]],
                 widths: Sequence[int] = (24, 32, 64, 96, 128), architecture: str = "residual"):
        super().__init__()
        self.attribute_names = list(attributes)
        self.style_names = {key: list(values) for key, values in styles.items()}
        self.backbone = build_backbone(architecture, widths)
        channels = self.backbone.out_channels
        # Where a feature is matters (glasses sit on the eyes, a beard on the chin): keep the
        # deepest map's 4 x 4 layout, squeezed to few channels, instead of averaging it away.
        # (A global average made the net learn only the hair colour in 250 steps.)
        self.squeeze = nn.Sequential(nn.Conv2d(channels, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                                     nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.trunk = nn.Sequential(nn.Linear(32 * 16, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Dropout(0.1))
        self.attribute_head = nn.Linear(256, len(self.attribute_names))
        self.intensity_head = nn.Linear(256, len(self.attribute_names))
        self.style_heads = nn.ModuleDict({key: nn.Linear(256, len(values))
                                          for key, values in self.style_names.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
        pooled = self.trunk(self.squeeze(self.backbone.features(fit_input(images))[-1]))
        return {
            "attributes": self.attribute_head(pooled),
            "intensities": torch.sigmoid(self.intensity_head(pooled)),
            "styles": {key: head(pooled) for key, head in self.style_heads.items()},
        }


class IdentityNet(nn.Module):
    """A unit-length identity embedding of 128 px faces in [-1, 1]."""

    def __init__(self, architecture: str = "residual", widths: Sequence[int] = (24, 32, 64, 96, 128),
                 embedding_dim: int = 128):
        super().__init__()
        self.backbone = build_backbone(architecture, widths)
        channels = self.backbone.out_channels
        # Flatten the deepest 4x4 map rather than average it: where a part is matters for identity.
        self.embed_pool = nn.AdaptiveAvgPool2d(4)
        self.embedding = nn.Sequential(nn.Dropout(0.1), nn.Linear(channels * 16, embedding_dim),
                                       nn.BatchNorm1d(embedding_dim))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        deepest = self.backbone.features(fit_input(images))[-1]
        return F.normalize(self.embedding(self.embed_pool(deepest).flatten(1)).float(), dim=1)


class CosineMarginHead(nn.Module):
    """CosFace's classifier: scale * (cos(embedding, class centre) - margin on the true class).

    Only training uses it; the classes are the training identities."""

    def __init__(self, embedding_dim: int, classes: int, scale: float = 24.0, margin: float = 0.25):
        super().__init__()
        self.centres = nn.Parameter(torch.randn(classes, embedding_dim) * 0.01)
        self.scale = scale
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = embeddings.float() @ F.normalize(self.centres, dim=1).t()
        margin = F.one_hot(labels, cosine.shape[1]).float() * self.margin
        return F.cross_entropy(self.scale * (cosine - margin), labels)
