"""ELEGANT's losses with the official weights.

    loss_D = (L_D1 + 0.5 L_D2) / 4,  L_Dk = BCE(Dk(A), 1) + BCE(Dk(B), 1) + BCE(Dk(C), 0) + BCE(Dk(D), 0)
    loss_G = 5 [MSE(A', A) + MSE(B', B)] + [BCE(D1(C), 1) + BCE(D1(D), 1)] + 0.5 [same with D2]

The critics return logits and BCE is taken with logits in float32: the same value as the
official Sigmoid + BCELoss, without saturating under bf16.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from ml.nets.discriminators import logit_bce as bce


def critic_loss(real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """One critic's L_Dk: real pairs toward 1, fake pairs toward 0."""
    return sum(bce(logit, 1.0) for logit in real_logits) + sum(bce(logit, 0.0) for logit in fake_logits)


def discriminator_loss(full_scale: torch.Tensor, half_scale: torch.Tensor, small_scale_weight: float = 0.5,
                       terms: int = 4) -> torch.Tensor:
    return (full_scale + small_scale_weight * half_scale) / terms


def reconstruction_loss(reconstructions: Sequence[torch.Tensor], originals: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum(F.mse_loss(rec.float(), orig.float()) for rec, orig in zip(reconstructions, originals))


def generator_adversarial_loss(fake_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum(bce(logit, 1.0) for logit in fake_logits)


def generator_loss(reconstruction: torch.Tensor, adversarial_full: torch.Tensor, adversarial_half: torch.Tensor,
                   reconstruction_weight: float = 5.0, small_scale_weight: float = 0.5,
                   adversarial_weight: float = 1.0) -> torch.Tensor:
    adversarial = adversarial_full + small_scale_weight * adversarial_half
    return reconstruction_weight * reconstruction + adversarial_weight * adversarial


def attribute_loss(logits: torch.Tensor, labels_01: torch.Tensor) -> torch.Tensor:
    """The attribute classifier's BCE (with logits, in float32) to 0/1 labels, per attribute."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels_01.float())


def style_loss(logits: Mapping[str, torch.Tensor], styles: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of each style key's logits to the true style ids (0 with no styled key)."""
    return sum((F.cross_entropy(logits[key].float(), styles[key]) for key in logits), torch.zeros(()))


def style_accuracy(logits: Mapping[str, torch.Tensor], styles: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: (logits[key].argmax(1) == styles[key]).float().mean() for key in logits}
