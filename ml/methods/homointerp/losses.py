"""HomoInterpGAN losses, each computed in float32 (inputs are cast up from bf16 autocast).

All weights are 1 in the official code except the gradient penalty (100).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ml.methods.homointerp.networks import relative_change


_IMAGENET_MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
_IMAGENET_STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


def to_imagenet_space(image):
    """[-1, 1] -> ImageNet-normalised pixels, the space the official code takes its pixel MSE in."""
    mean, std = _IMAGENET_MEAN.to(image.device), _IMAGENET_STD.to(image.device)
    return ((image.float() + 1) / 2 - mean) / std


def reconstruction_loss(decoded, image):
    """Pixel MSE between G(E(x)) and x, in ImageNet-normalised space as officially (about 4.8x
    the same MSE in [-1, 1], which sets its balance against the perceptual term)."""
    return F.mse_loss(to_imagenet_space(decoded), to_imagenet_space(image))


class PerceptualLoss(nn.Module):
    """MSE between the feature network's shallowest maps (VGG relu3_1) of output and target."""

    def __init__(self, feature_network: nn.Module):
        super().__init__()
        self.features = feature_network

    def forward(self, output, target):
        output_features = self.features(output)[0].float()
        with torch.no_grad():
            target_features = self.features(target)[0].float()
        return F.mse_loss(output_features, target_features)


def knowledge_guidance_loss(transformed, teacher):
    """MSE(KGT(F), teacher's deepest map); where their sizes differ the larger map is average-pooled
    to the smaller (a /16 teacher with a /8 latent, or a teacher net of another depth)."""
    teacher, transformed = teacher.float().detach(), transformed.float()
    if teacher.shape[-1] > transformed.shape[-1]:
        teacher = F.adaptive_avg_pool2d(teacher, transformed.shape[-2:])
    elif transformed.shape[-1] > teacher.shape[-1]:
        transformed = F.adaptive_avg_pool2d(transformed, teacher.shape[-2:])
    return F.mse_loss(transformed, teacher)


def classification_loss(logits: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]):
    """Sum over groups of BCE-with-logits summed over elements, divided by the batch size."""
    total = 0.0
    for group_logits, group_targets in zip(logits, targets):
        bce = F.binary_cross_entropy_with_logits(group_logits.float(), group_targets.float(), reduction="sum")
        total = total + bce / group_logits.shape[0]
    return total


def critic_loss(critic_real, critic_interp):
    """WGAN critic: mean D(F_interp) - mean D(F_real)."""
    return (critic_interp.float() - critic_real.float()).mean()


def adversarial_loss(critic_interp):
    """Encoder + interpolator side: -mean D(F_interp)."""
    return -critic_interp.float().mean()


def gradient_penalty(discriminator, real, fake, alpha):
    """(||grad D(F_hat)||_2 - 1)^2 with F_hat = alpha * real + (1 - alpha) * fake, per sample.

    The gradient is of the sum of all critic outputs, as the official code takes it.
    """
    mixed = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    critic, _ = discriminator(mixed)
    (gradient,) = torch.autograd.grad(critic.sum(), mixed, create_graph=True)
    return ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def interpolation_target_loss(interpolated, target):
    """MSE of an interpolator's output to features it must reach, held fixed: the reference with
    every strength at 1 (the paper's full-strength loss), or a true blend's encoding at v."""
    return F.mse_loss(interpolated.float(), target.detach().float())


def relative_landing_loss(landed, target, source, floor: float = 1e-4):
    """Each sample's squared distance from where the interpolator landed to the target, over the
    target's own from the source (1: no better than not moving), so that a smile's small move of F
    counts as much as a hair colour's large one. The floor, a share of the source's energy, keeps
    a blend at v near 0 (target near the source) from dividing by nothing."""
    target, source = target.detach().float(), source.detach().float()
    error = (landed.float() - target).pow(2).flatten(1).sum(1)
    move = (target - source).pow(2).flatten(1).sum(1)
    energy = source.pow(2).flatten(1).sum(1)
    return (error / (move + floor * energy)).mean()


def interpolated_labels(labels: Sequence[torch.Tensor], permuted: Sequence[torch.Tensor], strengths):
    """Soft targets a_k + v_k (a_perm,k - a_k) for each labelled group k."""
    return [a + strengths[:, k:k + 1] * (b - a) for k, (a, b) in enumerate(zip(labels, permuted))]


def locality_loss(edited, source, changed):
    """Mean |edited - source| over the latent cells outside `changed` (N x 1 x h x w, 1 where the
    true edit changes the image), in units of the source's mean |F|: a slider should move
    the features where its attribute lives and leave the rest as they are."""
    outside = 1.0 - changed.float()
    return (relative_change(edited, source.detach()) * outside).sum() / outside.sum().clamp(min=1.0)


def latent_change_cells(change_mask, size: int):
    """The pixel change mask (N x 1 x H x W) as latent cells (N x 1 x size x size) that hold any
    changed pixel, dilated by one cell: a deep feature sees past its cell's own pixels."""
    cells = F.adaptive_max_pool2d(change_mask.float(), size)
    return F.max_pool2d(cells, 3, stride=1, padding=1)

