"""HomoInterpGAN networks: encoder E, interpolator I, decoder G, feature critic D with the
attribute classifier A', the KG transform, and the pluggable feature networks for the losses.

    F1 = E(x), F2 = E(x_ref), F_out = F1 + sum_k v_k * T_k(F2 - F1), x_out = G(F_out)

Images enter and leave in [-1, 1]. The official networks work in ImageNet-normalised pixels, so
the encoder maps [-1, 1] to that space on the way in and the decoder maps back on the way out
(fixed, non-persistent buffers): official weights then give the official numbers.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ml.nets.layers import ConvBlock
from ml.nets.references import MeanReferences

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_WEIGHTS_FILE = "vgg19-dcbab3c7.pth"

# VGG19 up to relu5_1, in the official encoder's three stages: (layer name, block index) per
# conv, "pool" for a 2x2 max-pool. Block index picks the width from encoder_widths.
VGG_STAGES = (
    (("conv1_1", 0), ("conv1_2", 0), "pool", ("conv2_1", 1), ("conv2_2", 1), "pool", ("conv3_1", 2)),
    (("conv3_2", 2), ("conv3_3", 2), ("conv3_4", 2), "pool", ("conv4_1", 3)),
    (("conv4_2", 3), ("conv4_3", 3), ("conv4_4", 3), "pool", ("conv5_1", 4)),
)
# Index of each conv in torchvision's vgg19.features, for loading ImageNet weights.
TORCHVISION_VGG19_INDEX = {
    "conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12,
    "conv3_3": 14, "conv3_4": 16, "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25,
    "conv5_1": 28,
}


class ImageNetInput(nn.Module):
    """[-1, 1] RGB -> ImageNet-normalised RGB."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image):
        return ((image + 1) / 2 - self.mean) / self.std


class ImageNetOutput(ImageNetInput):
    """ImageNet-normalised RGB -> [-1, 1] RGB (not clipped: the loss sees the raw output)."""

    def forward(self, image):
        return (image * self.std + self.mean) * 2 - 1


class VGGStage(nn.Module):
    def __init__(self, layers, in_channels, widths):
        super().__init__()
        self.order = []
        for layer in layers:
            if layer == "pool":
                self.order.append(None)
                continue
            name, block = layer
            # one VGG layer: 3x3 conv, padding 1, ReLU, no norm
            self.add_module(name, ConvBlock(in_channels, widths[block], 3, act="relu"))
            self.order.append(name)
            in_channels = widths[block]
        self.out_channels = in_channels

    def forward(self, x, before_pooling: list | None = None):
        """The stage's output; with a list, each map about to be max-pooled is appended to it
        (relu1_2, relu2_2, relu3_4, relu4_4: the last map at each size)."""
        for name in self.order:
            if name is None:
                if before_pooling is not None:
                    before_pooling.append(x)
                x = F.max_pool2d(x, 2)
            else:
                x = getattr(self, name)(x)
        return x


class VGGEncoder(nn.Module):
    """VGG19 conv1_1 .. relu5_1 in three stages (relu3_1 @ /4, relu4_1 @ /8, relu5_1 @ /16).

    With the official widths it is the paper's encoder E and its frozen VGG teacher;
    `n_stages` 2 stops at relu4_1 (the /8 latent of `latent_stride` 8).
    """

    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512, 512), n_stages: int = 3):
        super().__init__()
        self.widths = tuple(widths)
        self.input = ImageNetInput()
        self.stage_names = [f"stage{index + 1}" for index in range(n_stages)]
        channels = 3
        for name, layers in zip(self.stage_names, VGG_STAGES):
            stage = VGGStage(layers, channels, self.widths)
            channels = stage.out_channels
            self.add_module(name, stage)
        self.out_channels = channels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's VGG initialisation (He normal, fan-out; zero biases), for an encoder that
        starts from scratch. PyTorch's default conv init shrank the activations about 65x over the
        ten layers to relu4_1 (no norm layers to undo it)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def stages(self, image) -> list[torch.Tensor]:
        outputs = []
        x = self.input(image)
        for name in self.stage_names:
            x = getattr(self, name)(x)
            outputs.append(x)
        return outputs

    def forward(self, image):
        return self.stages(image)[-1]

    def with_skips(self, image, count: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(the latent, the last map at each of the `count` largest sizes, largest first)."""
        maps: list[torch.Tensor] = []
        x = self.input(image)
        for name in self.stage_names:
            x = getattr(self, name)(x, maps if len(maps) < count else None)
        return x, maps[:count]

    def load_torchvision_vgg19(self, state_dict: dict) -> None:
        """Copy ImageNet VGG19 weights (torchvision's `features.N.*` keys) into these layers."""
        mine = {}
        for stage_name in self.stage_names:
            stage = getattr(self, stage_name)
            for name in stage.order:
                if name is None:
                    continue
                index = TORCHVISION_VGG19_INDEX[name]
                for kind in ("weight", "bias"):
                    mine[f"{stage_name}.{name}.conv.{kind}"] = state_dict[f"features.{index}.{kind}"]
        self.load_state_dict(mine)


class InterpolatorBranch(nn.Module):
    """T_k: conv-ReLU-conv-ReLU-conv on the feature difference; no norm, no final activation."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.conv3 = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, difference):
        x = F.relu(self.conv1(difference))
        x = F.relu(self.conv2(x))
        return self.conv3(x)


class Interpolator(nn.Module):
    """F_out = F1 + sum_k v_k * T_k(F2_k - F1).

    `reference` is one feature map per sample (N, C, H, W), shared by every branch as in the
    paper, or one per branch (N, K, C, H, W) so each group can take its own exemplar.
    `strengths` is (N, K); a branch whose strengths are all 0 is skipped outright, since its
    term is exactly zero: strength 0 returns F1 bit for bit, a slider move costs only the active
    branches, and a training update of one group's slider computes (and moves) that branch alone.
    """

    def __init__(self, n_branches, channels, hidden):
        super().__init__()
        self.n_branches = n_branches
        self.branches = nn.ModuleList(InterpolatorBranch(channels, hidden) for _ in range(n_branches))

    def forward(self, source, reference, strengths):
        if strengths.shape[1] != self.n_branches:
            raise ValueError(f"expected {self.n_branches} strengths per sample, got {strengths.shape[1]}")
        per_branch = reference.dim() == 5
        shared_difference = None if per_branch else reference - source
        output = source
        for k, branch in enumerate(self.branches):
            strength = strengths[:, k]
            if not bool(strength.ne(0).any()):
                continue
            difference = reference[:, k] - source if per_branch else shared_difference
            term = branch(difference) * strength.view(-1, 1, 1, 1).to(difference.dtype)
            output = output + term
        return output


def decoder_layout(latent_channels, widths, skip_channels: Sequence[int] = ()):
    """Stages of (in_channels, out_channels, number of convs); a 2x nearest upsampling between
    stages. Skip k (largest first) joins the input of the k-th stage from the end."""
    w1, w2, w3, w4 = widths
    layout = [[latent_channels, w1, 1], [w1, w2, 4], [w2, w3, 4], [w3, w4, 2], [w4, w4, 1]]
    for k, channels in enumerate(skip_channels):
        layout[len(layout) - 1 - k][0] += channels
    return [tuple(stage) for stage in layout]


class DecoderStage(nn.Sequential):
    def __init__(self, in_channels, out_channels, n_convs):
        layers = [ConvBlock(in_channels, out_channels, 3, norm="batch", act="relu")]
        layers += [ConvBlock(out_channels, out_channels, 3, norm="batch", act="relu") for _ in range(n_convs - 1)]
        super().__init__(*layers)


class Decoder(nn.Module):
    """G: conv-BN-ReLU stages with nearest 2x upsampling, linear 3-channel output.

    `upsamplings` is the latent's stride as a power of two: 4 officially (/16); with 3 (/8) the
    first two stages run at the latent's size, so the layers and their weights stay the same.
    `skip_channels` (not in the paper, whose decoder sees F alone) are the widths of source maps
    concatenated to the input of the last stages, largest first (full size, half, quarter).
    """

    def __init__(self, latent_channels, widths=(512, 256, 128, 64), upsamplings: int = 4,
                 skip_channels: Sequence[int] = ()):
        super().__init__()
        layout = decoder_layout(latent_channels, widths, skip_channels)
        self.stages = nn.ModuleList(DecoderStage(*spec) for spec in layout)
        self.first_upsampled = len(self.stages) - upsamplings
        self.n_skips = len(skip_channels)
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)
        self.output = ImageNetOutput()

    def forward(self, features, skips: Sequence[torch.Tensor] = ()):
        if len(skips) != self.n_skips:
            raise ValueError(f"this decoder takes {self.n_skips} skip maps, got {len(skips)}")
        x = features
        for index, stage in enumerate(self.stages):
            if index >= self.first_upsampled:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            skip = len(self.stages) - 1 - index
            if skip < self.n_skips:
                x = torch.cat([x, skips[skip].to(x.dtype)], dim=1)
            x = stage(x)
        return self.output(self.to_rgb(x).float())


def critic_downsamplings(latent_size: int) -> int:
    """Stride-2 convs that bring the latent to 2x2 (or 3x3): 8 -> 2 as officially, 4 -> 1, 16 -> 3."""
    return max(0, int(math.log2(latent_size)) - 1)


class FeatureDiscriminator(nn.Module):
    """D and A' on latent features: a shared trunk, a WGAN critic head and one classifier per group.

    Trunk: 1x1 conv, IN, LReLU; n x (4x4/s2 conv, IN, LReLU); a valid conv over what is left.
    The official net fixes n = 2 and a 2x2 last kernel, so it runs only on 8x8 latents (128 px);
    here n follows the latent size (16x16 -> 3, 4x4 -> 1, 2x2 -> 0) and the last kernel covers the
    remaining map, so 64, 128 and 256 px inputs all end at 1x1 with the same heads.
    """

    def __init__(self, latent_channels, latent_size, group_sizes: Sequence[int], width=256):
        super().__init__()
        self.input = ConvBlock(latent_channels, width, 1, norm="instance_affine", act="lrelu")
        n_down = critic_downsamplings(latent_size)
        self.down = nn.ModuleList(ConvBlock(width, width, 4, stride=2, padding=1, norm="instance_affine", act="lrelu")
                                  for _ in range(n_down))
        self.final = nn.Conv2d(width, width, latent_size >> n_down)
        self.critic = nn.Conv2d(width, width, 1)  # the official `ifReal`: a 256-d critic, averaged
        self.classifiers = nn.ModuleList(nn.Conv2d(width, size, 1) for size in group_sizes)

    def trunk(self, features):
        x = self.input(features)
        for block in self.down:
            x = block(x)
        return self.final(x)

    def forward(self, features):
        """-> critic values (N, width), [logits (N, group size) per labelled group]."""
        x = self.trunk(features)
        logits = [head(x).flatten(1) for head in self.classifiers]
        return self.critic(x).flatten(1), logits


class KGTransform(nn.Module):
    """1x1 conv from the latent to the teacher's deep features (the "knowledge guidance" map)."""

    def __init__(self, latent_channels, teacher_channels):
        super().__init__()
        self.conv = nn.Conv2d(latent_channels, teacher_channels, 1)

    def forward(self, features):
        return self.conv(features)


# --- feature networks for the perceptual and KG losses --------------------------------------

class FeatureNetwork(nn.Module):
    """The interface the losses need: `forward(image in [-1, 1]) -> list of feature maps`,
    shallow to deep. The perceptual loss compares `features[0]` (VGG relu3_1 in the paper); the
    KG teacher is `features[-1]` (VGG relu5_1). Frozen: its parameters never train.
    """

    def freeze(self):
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self

    def train(self, mode: bool = True):
        return super().train(False)  # frozen nets keep eval-mode statistics


class VGGFeatures(FeatureNetwork):
    """VGG19 relu3_1 and relu5_1 (ImageNet weights, or a random frozen VGG of any widths)."""

    def __init__(self, widths=(64, 128, 256, 512, 512)):
        super().__init__()
        self.vgg = VGGEncoder(widths)

    def forward(self, image):
        x1, _, x3 = self.vgg.stages(image)
        return [x1, x3]


class AdaptedFeatures(FeatureNetwork):
    """Wraps any module returning a list of feature maps (e.g. an oracle's feature network)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, image):
        return list(self.module(image))


def vgg19_weights_path() -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_WEIGHTS_FILE)


def load_vgg19_state_dict() -> dict | None:
    """torchvision's ImageNet VGG19 weights from the torch hub cache, or None if absent."""
    path = vgg19_weights_path()
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def imagenet_vgg19_features() -> VGGFeatures | None:
    state_dict = load_vgg19_state_dict()
    if state_dict is None:
        return None
    network = VGGFeatures()
    network.vgg.load_torchvision_vgg19(state_dict)
    return network.freeze()


def random_features(widths=(8, 16, 32, 64, 64), seed=1234) -> VGGFeatures:
    """A frozen randomly initialised VGG: a stand-in perceptual net for tests and bare machines
    (random conv features still carry structure); never used when a trained one is available."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        network = VGGFeatures(widths)
        for module in network.modules():
            if isinstance(module, nn.Conv2d):  # He init keeps activations O(1) through the depth
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
    finally:
        torch.random.set_rng_state(generator_state)
    return network.freeze()


def oracle_features() -> FeatureNetwork | None:
    """The project's trained feature network from ml.oracles, when that module provides one."""
    try:
        from ml.oracles import features as oracle_module  # written by the oracles work
    except ImportError:
        return None
    loader = getattr(oracle_module, "load_feature_network", None)
    if loader is None:
        return None
    try:
        module = loader()
    except (FileNotFoundError, OSError):
        return None
    return None if module is None else AdaptedFeatures(module).freeze()


def build_feature_network(kind: str = "auto") -> FeatureNetwork:
    """'vgg19' | 'oracle' | 'random' | 'auto' (VGG19 if its weights are cached, else the
    oracle's, else random)."""
    if kind in ("auto", "vgg19"):
        network = imagenet_vgg19_features()
        if network is not None:
            return network
        if kind == "vgg19":
            raise FileNotFoundError(f"no ImageNet VGG19 weights at {vgg19_weights_path()}")
    if kind in ("auto", "oracle"):
        network = oracle_features()
        if network is not None:
            return network
        if kind == "oracle":
            raise FileNotFoundError("ml.oracles provides no trained feature network yet")
    if kind in ("auto", "random"):
        return random_features()
    raise ValueError(f"unknown feature network {kind!r}")


def feature_channels(network: FeatureNetwork, image_size: int) -> list[int]:
    with torch.no_grad():
        return [f.shape[1] for f in network(torch.zeros(1, 3, image_size, image_size))]


def keep_detail(source: torch.Tensor, decoded: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """The source image plus what the edit changed in decoder space, G(F_out) - G(F): the
    decoder's blur cancels out of every pixel the edit leaves alone (not in the paper)."""
    return (source.float() + decoded.float() - reconstruction.float()).clamp(-1.0, 1.0)


class HomoInterpGAN(nn.Module):
    """The deploy model: encoder, interpolator, decoder, and the mean references.

    With `decoder_skips` the decoder also takes the source's shallow maps (`encode_with_skips`);
    edits still happen in F alone, and every decode of an edit gets the source's skips.
    """

    def __init__(self, config):
        super().__init__()
        self.encoder = VGGEncoder(config.encoder_widths, config.encoder_stages)
        self.interpolator = Interpolator(config.n_branches, config.latent_channels, config.interp_width)
        self.n_skips = config.decoder_skips
        self.skip_gate = config.skip_gate
        self.latent_size = config.latent_size
        self.decoder = Decoder(config.latent_channels, config.decoder_widths,
                               upsamplings=int(math.log2(config.latent_stride)),
                               skip_channels=config.encoder_widths[:config.decoder_skips])
        labels = sorted({label for group in config.group_labels() for label, _ in group})
        self.references = MeanReferences(labels, config.latent_channels, config.latent_size)

    def encode(self, image):
        return self.encoder(image)

    def encode_with_skips(self, image) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(F, the decoder's skip maps of the image: none unless `decoder_skips`)."""
        if not self.n_skips:
            return self.encoder(image), []
        return self.encoder.with_skips(image, self.n_skips)

    def edit_skips(self, edited, source, skips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The source's skip maps for decoding an edit of it: with `skip_gate` each map fades
        where the edit moved F, fully once the cell's mean change reaches skip_gate x the
        source's mean |F|, so the decoder draws the changed region from F alone. No edit, no fade."""
        if not self.skip_gate or not skips:
            return list(skips)
        with torch.no_grad():
            keep = 1.0 - (relative_change(edited, source) / self.skip_gate).clamp(max=1.0)
        return _scaled_maps(skips, keep, "bilinear")

    def drop_skip_regions(self, skips: Sequence[torch.Tensor], probability: float) -> list[torch.Tensor]:
        """Training only: with the given probability per image, zero its skip maps inside a random
        box of a quarter to a half of the latent's side (in latent cells), so that the decoder
        learns to draw any region from F alone, as it must where `edit_skips` fades the maps."""
        if not probability or not skips:
            return list(skips)
        count, cells, device = skips[0].shape[0], self.latent_size, skips[0].device
        low, high = max(1, cells // 4), max(1, cells // 2)
        sizes = torch.randint(low, high + 1, (count, 2), device=device)
        corners = (torch.rand(count, 2, device=device) * (cells - sizes + 1)).long()
        grid = torch.arange(cells, device=device)
        rows = (grid >= corners[:, :1]) & (grid < corners[:, :1] + sizes[:, :1])  # [N, cells]
        columns = (grid >= corners[:, 1:]) & (grid < corners[:, 1:] + sizes[:, 1:])
        dropped = torch.rand(count, device=device) < probability
        box = rows[:, :, None] & columns[:, None, :] & dropped[:, None, None]
        return _scaled_maps(skips, (~box).float()[:, None], "nearest")

    def decode_edit(self, edited, source, skips: Sequence[torch.Tensor]):
        """The image of an edit `edited` of the features `source`, drawn on the source's skips."""
        return self.decoder(edited, self.edit_skips(edited, source, skips))

    def decode_edit_and_source(self, edited, source, skips: Sequence[torch.Tensor]):
        """(G(F_out), G(F)) in one decoder pass, both on the maps the edit fades, so that their
        difference (what `keep_detail` adds to the photo) is the edit alone: decoded on unfaded
        maps, G(F) kept the photo's sharp detail where G(F_out) had to draw from F, and the
        difference blurred every faded region. Without a gate the maps are the source's own."""
        maps = self.edit_skips(edited, source, skips)
        both = self.decoder(torch.cat([edited, source.to(edited.dtype)]), [torch.cat([m, m]) for m in maps])
        return both.split(edited.shape[0])

    def forward(self, image, reference, strengths):
        source, skips = self.encode_with_skips(image)
        target = self.encoder(reference)
        return self.decode_edit(self.interpolator(source, target, strengths), source, skips)


def relative_change(edited, source) -> torch.Tensor:
    """N x 1 x h x w: each cell's mean |edited - source| over channels, in units of the source's
    mean |F| (what the skip gate fades by, and what the locality loss charges outside the edit)."""
    change = (edited.float() - source.float()).abs().mean(1, keepdim=True)
    return change / (source.float().abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-6)


def faded_over(skips: Sequence[torch.Tensor], cells: torch.Tensor) -> list[torch.Tensor]:
    """Skip maps zeroed over the latent cells marked 1 in `cells` (N x 1 x h x w)."""
    return _scaled_maps(skips, 1.0 - cells, "nearest")


def _scaled_maps(skips: Sequence[torch.Tensor], keep: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Each skip map times `keep` (N, 1, cells, cells), resized to the map."""
    return [skip * F.interpolate(keep, size=skip.shape[-2:], mode=mode).to(skip.dtype) for skip in skips]
