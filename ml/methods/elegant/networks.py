"""ELEGANT's networks (Xiao et al., ECCV 2018), after the official code's architecture.

    Encoder        5 stride-2 conv blocks (conv 3x3 -> ChannelL2Norm -> LeakyReLU 0.2); the first
                   four outputs are U-Net skips, the last is the latent z (C x H/32 x W/32).
    LatentSplit    attribute i owns channels [rint(C/n * i), rint(C/n * (i+1))) of z, all pixels.
                   With `swap_skips` (not in the paper) the deepest skips are split the same way
                   over a share of their channels, and an edit moves those blocks with z's.
    Decoder        input [z_edited, z_original] (2C channels); 4 transposed-conv blocks
                   (-> ChannelL2Norm -> ReLU, + skip), then a transposed conv to 3 channels and
                   2 * tanh: a residual image added to the input and clamped to [-1, 1].
    SkipGates      (not in the paper; `skip_gates`) where an edit redraws the face, read from the
                   latent's change and each skip: the decoder fades the receiver's skips there,
                   as STGAN's selective transfer units do; no edit, no fade.
    ImageSkip      (not in the paper; `image_skip`) the input image beside the decoder's last
                   features, so the residual can cancel what is thinner than a half-size pixel;
                   with `image_skip_erase` it also gates a median filter's removal of thin strokes.
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
from torch.nn import functional as F

from ml.nets import AttributeClassifier, ConvBlock, LabelConditionedDiscriminator, ScaledTanh, init_normal_
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


class SkipGates(nn.Module):
    """Where an edit redraws the face, so the decoder can fade the receiver's skips there.

    ELEGANT adds the receiver's skips in full, and they carry its own look of the attribute's
    region: the truth's own block swapped into its source drew the true bangs cut about half the
    time, the source's skips showing through. Per skip, a head reads the latent's change (a 1x1
    code of z_edited - z_original, resized) beside the skip itself and gives the logit of "the edit
    redraws this pixel"; the decoder keeps 1 - amount * sigmoid(logit) of the skip, where amount =
    tanh(5 mean |z_edited - z_original| / mean |z_original|) is 0 with no edit (so reconstruction
    is exactly the plain decoder's), about 0.9 for a swap and grows with an edit's strength. The
    trainer teaches the heads the true change mask of each swap (`skip_gate_weight`): gates
    trained by the swaps' image losses alone stayed open, since the decoder could not yet draw a
    faded region (a learned scale on the amount went the same way: 0.9 -> 0.65 in 500 steps).
    After STGAN's selective transfer units, which gate skips by the attribute difference."""

    AMOUNT_SCALE = 5.0

    def __init__(self, latent_channels: int, skip_widths: Sequence[int], hidden: int = 16):
        super().__init__()
        self.change_code = nn.Conv2d(2 * latent_channels, hidden, 1)
        self.heads = nn.ModuleList(nn.Conv2d(hidden + width, 1, 3, padding=1) for width in skip_widths)
        for head in self.heads:
            nn.init.constant_(head.bias, -2.0)

    def prepare(self, z_edited: torch.Tensor, z_original: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(amount of edit per image, N x 1 x 1 x 1; the change's code at the latent's size)."""
        change = (z_edited - z_original).float()
        ratio = change.abs().mean(dim=(1, 2, 3)) / z_original.float().abs().mean(dim=(1, 2, 3)).clamp(min=1e-6)
        amount = torch.tanh(ratio * self.AMOUNT_SCALE).view(-1, 1, 1, 1)
        code = torch.relu(self.change_code(torch.cat([change, change.abs()], dim=1).to(z_edited.dtype)))
        return amount, code

    def fade_logit(self, index: int, code: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        code = F.interpolate(code, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.heads[index](torch.cat([code.to(skip.dtype), skip], dim=1))


class ImageSkip(nn.Module):
    """The input image at full size, for the residual's last step.

    ELEGANT's decoder draws its residual from half-size features: the encoder's first skip is
    already at half size and the decoder never sees the image it adds to, so a glasses frame one
    or two pixels wide at 128 px is hard to cancel exactly (removals left frames at about half
    their contrast). Here the decoder's last features, upsampled, meet the image in two 3 x 3
    convs whose output adds to the residual's pre-activation. The last conv starts at zero, so a
    trained decoder given one draws exactly what it drew before. It made edits cleaner, not
    removals surer (`Config.image_skip`)."""

    def __init__(self, features: int, hidden: int = 16, image_channels: int = 3, erase: bool = False):
        super().__init__()
        self.mix = ConvBlock(features + image_channels, hidden, 3, act="relu")
        self.to_residual = nn.Conv2d(hidden, image_channels, 3, padding=1)
        # The eraser's gate (`Config.image_skip_erase`): where it opens, the output is the image's
        # median (`median_filter`), in which strokes under three pixels wide are gone, in place of
        # what the residual drew there (added to it, the residual's half-cancelled frame drew a
        # ghost over the erased one).
        self.erase_gate = nn.Conv2d(hidden, 1, 3, padding=1) if erase else None
        self.gate_logits: torch.Tensor | None = None  # the last call's, for the trainer's gate loss
        self.zero_output_()

    # The gate's conv output times this is its logit: an Adam step moves a weight by about the
    # lr, so a gate taught where to open (`erase_gate_weight`) opens by at most lr x gain a step
    # (at a gain of 1 and 10 x the starter's lr its logit went -8 -> -7.8 in 250 steps).
    GATE_GAIN = 30.0

    def zero_output_(self) -> None:
        """Adds nothing: the residual's conv at zero, the eraser's gate shut (logit -8: 3e-4 of
        the median's change, under a 1/255 step; a gate at exactly zero would not learn)."""
        nn.init.zeros_(self.to_residual.weight)
        nn.init.zeros_(self.to_residual.bias)
        if self.erase_gate is not None:
            nn.init.zeros_(self.erase_gate.weight)
            nn.init.constant_(self.erase_gate.bias, -8.0 / self.GATE_GAIN)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(what to add to the residual's pre-activation, the eraser's gate g in (0, 1) per pixel:
        None without an eraser)."""
        features = F.interpolate(features, size=image.shape[-2:], mode="nearest")
        hidden = self.mix(torch.cat([features, image.to(features.dtype)], dim=1))
        added = self.to_residual(hidden)
        if self.erase_gate is None:
            return added, None
        self.gate_logits = self.erase_gate(hidden).float() * self.GATE_GAIN
        return added, torch.sigmoid(self.gate_logits)

    # The median's change (any channel, on the [-1, 1] scale) at which the eraser may act in full:
    # a frame's is about 0.4, smooth skin's under 0.01.
    STROKE = 0.1

    @classmethod
    def erase(cls, residual: torch.Tensor, gate: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """The residual where the gate is shut, the median's change where it is open, over the
        image's thin strokes alone: where the median changes nothing there is nothing to erase,
        and an open gate would only undraw what the residual draws there (an added frame)."""
        image = image.float()
        change = median_filter(image) - image
        stroke = (change.abs().amax(dim=1, keepdim=True) / cls.STROKE).clamp(max=1.0)
        return torch.lerp(residual.float(), change, gate * stroke)


# A sorting network for five values (nine compare-exchanges): after it, index 2 holds the median.
SORT_FIVE = ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2))


def median_of_five(values: Sequence[torch.Tensor]) -> torch.Tensor:
    """The elementwise median of five same-shaped tensors."""
    values = list(values)
    for i, j in SORT_FIVE:
        values[i], values[j] = torch.minimum(values[i], values[j]), torch.maximum(values[i], values[j])
    return values[2]


def median_filter(image: torch.Tensor) -> torch.Tensor:
    """A separable 5 x 5 median, per channel (edges replicated): the median of five along each
    row, then along each column. A stroke under three pixels wide goes in any direction, as in
    the exact 5 x 5 median, in 0.4 ms for a 128 px image where torch's median of the 25 took 50."""
    height, width = image.shape[-2:]
    padded = F.pad(image, (2, 2, 0, 0), mode="replicate")
    rows = median_of_five([padded[..., :, k:k + width] for k in range(5)])
    padded = F.pad(rows, (0, 0, 2, 2), mode="replicate")
    return median_of_five([padded[..., k:k + height, :] for k in range(5)])


class Decoder(nn.Module):
    def __init__(self, channels: Sequence[int] = (64, 128, 256, 512, 512), out_channels: int = 3,
                 residual_scale: float = 2.0, skip_gates: bool = False, image_skip: bool = False,
                 image_skip_erase: bool = False):
        super().__init__()
        # Mirror of the encoder: 2C -> channels[-2] -> ... -> channels[0] -> RGB.
        widths = [2 * channels[-1], *reversed(channels[:-1])]
        self.stages = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1], 3, stride=2, padding=1, norm="l2", act="relu", transposed=True)
            for i in range(len(widths) - 1))
        self.gates = SkipGates(channels[-1], widths[1:]) if skip_gates else None
        self.to_residual = ConvBlock(widths[-1], out_channels, 3, stride=2, padding=1, transposed=True)
        self.image_skip = (ImageSkip(widths[-1], image_channels=out_channels, erase=image_skip_erase)
                           if image_skip else None)
        self.squash = ScaledTanh(residual_scale)

    def forward(self, z_edited: torch.Tensor, z_original: torch.Tensor,
                skips: Sequence[torch.Tensor] | None = None, return_fades: bool = False,
                image: torch.Tensor | None = None):
        """The residual image for `z_edited`, decoded with the skips of the original image (and,
        with an image skip, the original image itself); with `return_fades`, also each gated
        skip's fade logits (none without gates)."""
        x = torch.cat([z_edited, z_original], dim=1)
        fades = []
        if self.gates is not None and skips is not None:
            amount, code = self.gates.prepare(z_edited, z_original)
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if skips is not None:
                skip = skips[-index - 1]
                if self.gates is not None:
                    fades.append(self.gates.fade_logit(index, code, skip))
                    skip = skip * (1.0 - amount * torch.sigmoid(fades[-1].float())).to(skip.dtype)
                x = x + skip  # out of place: the official in-place add breaks autograd
        pre_activation, erase_gate = self.to_residual(x), None
        if self.image_skip is not None:
            if image is None:
                raise ValueError("this decoder has an image skip: pass the image the residual is added to")
            added, erase_gate = self.image_skip(x, image)
            pre_activation = pre_activation + added
        residual = self.squash(pre_activation)
        if erase_gate is not None:
            residual = self.image_skip.erase(residual, erase_gate, image)
        return (residual, fades) if return_fades else residual


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


# What an edit moves: the latent z and the skips, largest first (a skip's blocks move only where
# `swap_skips` splits it).
Codes = tuple[torch.Tensor, list[torch.Tensor]]


class Generator(nn.Module):
    """Encoder + decoder, with the residual addition that makes the output image."""

    def __init__(self, encoder_channels: Sequence[int], n_attributes: int, residual_scale: float = 2.0,
                 skip_gates: bool = False, swap_skips: int = 0, swap_skip_share: float = 0.5,
                 image_skip: bool = False, image_skip_erase: bool = False):
        super().__init__()
        self.encoder = Encoder(encoder_channels)
        self.decoder = Decoder(encoder_channels, residual_scale=residual_scale, skip_gates=skip_gates,
                               image_skip=image_skip, image_skip_erase=image_skip_erase)
        self.split = LatentSplit(encoder_channels[-1], n_attributes)
        skip_widths = list(encoder_channels[:-1])
        plain = len(skip_widths) - swap_skips
        # A swapped skip gives the first `swap_skip_share` of its channels to the attributes' blocks
        # and keeps the rest for the receiver alone.
        self.skip_splits: list[LatentSplit | None] = [
            None if index < plain else LatentSplit(max(n_attributes, round(width * swap_skip_share)), n_attributes)
            for index, width in enumerate(skip_widths)]

    @property
    def swapped_skips(self) -> list[int]:
        """Indices of the skips whose attribute blocks move with z's."""
        return [index for index, split in enumerate(self.skip_splits) if split is not None]

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.encoder(image)

    def decode(self, image: torch.Tensor, z_edited: torch.Tensor, z_original: torch.Tensor,
               skips: Sequence[torch.Tensor], return_fades: bool = False):
        residual, fades = self.decoder(z_edited, z_original, skips, return_fades=True, image=image)
        image = (image.float() + residual.float()).clamp(-1.0, 1.0)
        return (image, fades) if return_fades else image

    def swap(self, codes_a: Codes, codes_b: Codes, attribute: int) -> tuple[Codes, Codes]:
        """(A's codes with attribute's blocks from B's, B's with A's): ELEGANT's exchange, over z
        and the split skips."""
        z_c, z_d = self.split.swap(codes_a[0], codes_b[0], attribute)
        skips_c, skips_d = [], []
        for split, skip_a, skip_b in zip(self.skip_splits, codes_a[1], codes_b[1]):
            skip_c, skip_d = (skip_a, skip_b) if split is None else split.swap(skip_a, skip_b, attribute)
            skips_c.append(skip_c)
            skips_d.append(skip_d)
        return (z_c, skips_c), (z_d, skips_d)

    def blend(self, codes: Codes, reference: Codes, attribute: int, strength: float) -> Codes:
        """`codes` with attribute's blocks moved `strength` of the way to the reference's (1 = swap);
        the reference may leave out (None) the skips that are not split."""
        z = self.split.blend(codes[0], reference[0].to(codes[0].device), attribute, strength)
        skips = [skip if split is None else split.blend(skip, target.to(skip.device), attribute, strength)
                 for split, skip, target in zip(self.skip_splits, codes[1], reference[1])]
        return z, skips


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
                          config.skip_gates, config.swap_skips, config.swap_skip_share, config.image_skip,
                          config.image_skip_erase)
    init_normal_(generator, config.init_std)
    if generator.decoder.image_skip is not None:
        generator.decoder.image_skip.zero_output_()  # adds nothing until trained
    return generator


def build_references(config) -> MeanReferences:
    """The mean z of training faces with and without each attribute: the "average" exemplar."""
    side = config.image_size // 2 ** len(config.encoder_channels)
    return MeanReferences(config.attributes, config.encoder_channels[-1], side)


def build_skip_references(config) -> nn.ModuleList | None:
    """With `swap_skips`, the same means of each swapped skip (in `Generator.swapped_skips`'
    order), so the "average" exemplar moves the skips' blocks too; None without."""
    if not config.swap_skips:
        return None
    widths = config.encoder_channels[:-1]
    return nn.ModuleList(MeanReferences(config.attributes, widths[index], config.image_size // 2 ** (index + 1))
                         for index in range(len(widths) - config.swap_skips, len(widths)))


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


def build_classifier(config) -> AttributeClassifier:
    """The attribute classifier of `classifier_weight`, on D1's trunk widths."""
    classifier = AttributeClassifier(config.image_size, len(config.attributes), config.discriminator_channels)
    return init_normal_(classifier, config.init_std)
