"""The perceptual feature network: the *loss* identity oracle's backbone, frozen.

HomoInterpGAN's perceptual and knowledge-guidance losses (and any method that wants a face-aware
feature space instead of ImageNet VGG) call

    features = load_feature_network()
    maps = features(images)   # images [N, 3, H, W] in [-1, 1] -> feature maps, shallow to deep

Maps keep the input's geometry (no resizing): at 128 px they are 32, 16, 8 and 4 pixels square.
It is built from the identity-loss network, never the identity-eval one, so a method trained
against these features is still graded by a network it never saw.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ml.oracles.loaders import WEIGHTS_DIR, OracleMissingError, load_oracle_network

FEATURE_ROLE = "identity-loss"


class FeatureNetwork(nn.Module):
    """A frozen backbone whose forward returns its stage outputs, shallow to deep."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)  # frozen: batch norms keep their statistics

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone.features(images)

    def channels(self) -> list[int]:
        with torch.no_grad():
            return [f.shape[1] for f in self(torch.zeros(1, 3, 64, 64, device=next(self.parameters()).device))]


def load_feature_network(path: str | Path | None = None, device: str | torch.device = "cpu") -> FeatureNetwork:
    """The frozen feature network. Raises `OracleMissingError` (a FileNotFoundError) with the
    command that trains it when the identity-loss oracle's checkpoint is missing."""
    directory = Path(path) if path is not None else WEIGHTS_DIR / FEATURE_ROLE
    try:
        network, _ = load_oracle_network(FEATURE_ROLE, directory, device)
    except OracleMissingError as error:
        raise OracleMissingError(f"the perceptual feature network needs the identity-loss oracle: {error}") from None
    return FeatureNetwork(network.backbone).to(device)
