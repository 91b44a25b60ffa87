"""ELEGANT's networks (Xiao et al., ECCV 2018), after the official code's architecture.

    Encoder        5 stride-2 conv blocks (conv 3x3 -> ChannelL2Norm -> LeakyReLU 0.2); the first
                   four outputs are U-Net skips, the last is the latent z (C x H/32 x W/32).
    LatentSplit    attribute i owns channels [rint(C/n * i), rint(C/n * (i+1))) of z, all pixels.
    Decoder        input [z_edited, z_original] (2C channels); 4 transposed-conv blocks
                   (-> ChannelL2Norm -> ReLU, + skip), then a transposed conv to 3 channels and
                   2 * tanh: a residual image added to the input and clamped to [-1, 1].
    SkipGate       (not in the paper; `skip_gates`) a per-pixel gate on each skip the decoder
                   adds, read from the decoder's features and the skip: an edit can fade the
                   receiver's skips where it redraws, as STGAN's selective transfer units do.
    Discriminators D1 on the full image, D2 on the image average-pooled to half size; both see
                   the attribute labels (0/1) as constant planes (ml.nets).
    References     the mean z of training faces with / without each attribute (not in the paper):
                   the editor's "average" exemplar, so an attribute can be added with no image.
    StyleReadout   a linear read-out of a block to its attribute's style (not in the paper; a
                   training aid for the synthetic world, which knows each exemplar's style).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ml.nets import ConvBlock, LabelConditionedDiscriminator, ScaledTanh, init_normal_
from ml.nets.references import MeanReferences


class Encoder(nn.Module):
    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512, 512), in_channels: int = 3):
        super().__init__()
        widths = [in_channels, *channels]
        self.stages = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1], 3, stride=2, padding=1, norm="l2", act="lrelu")
            for i in range(len(channels)))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return (z, skips), skips from the largest (first stage) to the smallest."""
        skips = []
        x = image
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips.pop(), skips


class SkipGate(nn.Module):
    """How much of a skip to add at each pixel, in (0, 1), from the decoder's features (which know
    both latents, so whether and where the edit differs from the original) and the skip itself.

    ELEGANT adds the receiver's skips in full, and they carry its own look of the attribute's
    region: its decoder redraws a swapped block's bangs or glasses over them only as a generic
    shape. A gate lets the decoder take the region from the latent instead. It starts open
    (sigmoid(4) = 0.98), so a plain ELEGANT decoder fine-tunes into a gated one."""

    OPEN_BIAS = 4.0

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 1, 3, padding=1)
        nn.init.constant_(self.conv.bias, self.OPEN_BIAS)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(torch.cat([features, skip], dim=1)))


class Decoder(nn.Module):
    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512, 512), out_channels: int = 3,
                 residual_scale: float = 2.0, skip_gates: bool = False):
        super().__init__()
        # Mirror of the encoder: 2C -> channels[-2] -> ... -> channels[0] -> RGB.
        widths = [2 * channels[-1], *reversed(channels[:-1])]
        self.stages = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1], 3, stride=2, padding=1, norm="l2", act="relu", transposed=True)
            for i in range(len(widths) - 1))
        self.gates = nn.ModuleList(SkipGate(width) for width in widths[1:]) if skip_gates else None
        self.to_residual = ConvBlock(widths[-1], out_channels, 3, stride=2, padding=1, transposed=True)
        self.squash = ScaledTanh(residual_scale)

    def forward(self, z_edited: torch.Tensor, z_original: torch.Tensor,
                skips: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The residual image for `z_edited`, decoded with the skips of the original image."""
        x = torch.cat([z_edited, z_original], dim=1)
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if skips is not None:
                skip = skips[-index - 1]
                if self.gates is not None:
                    skip = self.gates[index](x, skip) * skip
                x = x + skip  # out of place: the official in-place add breaks autograd
        return self.squash(self.to_residual(x))


class LatentSplit:
    """Which latent channels belong to which attribute, and the block swap that ELEGANT trains."""

    def __init__(self, channels: int, n_attributes: int):
        per = channels / n_attributes
        bounds = [int(np.rint(per * i)) for i in range(n_attributes + 1)]
        self.slices = [slice(bounds[i], bounds[i + 1]) for i in range(n_attributes)]

    def __len__(self) -> int:
        return len(self.slices)

    def swap(self, z_a: torch.Tensor, z_b: torch.Tensor, attribute: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_a with attribute block from z_b, z_b with attribute block from z_a)."""
        block = self.slices[attribute]
        z_c, z_d = z_a.clone(), z_b.clone()
        z_c[:, block] = z_b[:, block]
        z_d[:, block] = z_a[:, block]
        return z_c, z_d

    def blend(self, z: torch.Tensor, reference: torch.Tensor, attribute: int, strength: float) -> torch.Tensor:
        """z with attribute's block moved `strength` of the way to reference's (1 = swap)."""
        block = self.slices[attribute]
        out = z.clone()
        out[:, block] = z[:, block] + strength * (reference[:, block] - z[:, block])
        return out


class Generator(nn.Module):
    """Encoder + decoder, with the residual addition that makes the output image."""

    def __init__(self, encoder_channels: Sequence[int], n_attributes: int, residual_scale: float = 2.0,
                 skip_gates: bool = False):
        super().__init__()
        self.encoder = Encoder(encoder_channels)
        self.decoder = Decoder(encoder_channels, residual_scale=residual_scale, skip_gates=skip_gates)
        self.split = LatentSplit(encoder_channels[-1], n_attributes)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.encoder(image)

    def decode(self, image: torch.Tensor, z_edited: torch.Tensor, z_original: torch.Tensor,
               skips: Sequence[torch.Tensor]) -> torch.Tensor:
        residual = self.decoder(z_edited, z_original, skips)
        return (image.float() + residual.float()).clamp(-1.0, 1.0)


class StyleReadout(nn.Module):
    """One linear head per style key (Bangs' cut, the glasses' shape and their colour) on the
    latent block of the attribute that shows it. Trained on the exemplars' true styles, it asks
    the encoder to keep the style in the block, where a swap carries it; on the re-encoded swap
    it asks the decoder to draw the style the block holds."""

    def __init__(self, split: LatentSplit, side: int, styles: dict[str, tuple[int, int]]):
        super().__init__()
        self.split = split
        self.owners = {key: attribute for key, (attribute, _) in styles.items()}
        self.heads = nn.ModuleDict({
            key: nn.Linear((split.slices[attribute].stop - split.slices[attribute].start) * side * side, count)
            for key, (attribute, count) in styles.items()})

    def keys(self, attribute: int) -> list[str]:
        return [key for key, owner in self.owners.items() if owner == attribute]

    def forward(self, z: torch.Tensor, attribute: int) -> dict[str, torch.Tensor]:
        """Style logits of each key that `attribute` shows, read from its block of z."""
        block = z[:, self.split.slices[attribute]].flatten(1).float()
        return {key: self.heads[key](block) for key in self.keys(attribute)}


def build_generator(config) -> Generator:
    generator = Generator(config.encoder_channels, len(config.attributes), config.residual_scale,
                          config.skip_gates)
    return init_normal_(generator, config.init_std)


def build_references(config) -> MeanReferences:
    """The mean z of training faces with and without each attribute: the "average" exemplar."""
    side = config.image_size // 2 ** len(config.encoder_channels)
    return MeanReferences(config.attributes, config.encoder_channels[-1], side)


def build_style_readout(config) -> StyleReadout:
    """Heads for the synthetic world's style keys of the config's attributes."""
    from ml.data.world.params import STYLES, style_keys

    styles = {key: (index, len(STYLES[key])) for index, name in enumerate(config.attributes)
              for key in style_keys(name)}
    side = config.image_size // 2 ** len(config.encoder_channels)
    return StyleReadout(LatentSplit(config.encoder_channels[-1], len(config.attributes)), side, styles)


def build_discriminators(config) -> tuple[LabelConditionedDiscriminator, LabelConditionedDiscriminator]:
    n = len(config.attributes)
    full = LabelConditionedDiscriminator(config.image_size, n, config.discriminator_channels)
    half = LabelConditionedDiscriminator(config.image_size // 2, n, config.discriminator_channels)
    return init_normal_(full, config.init_std), init_normal_(half, config.init_std)
