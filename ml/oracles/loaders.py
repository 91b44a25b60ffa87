"""Loading the trained oracles: what evaluators, methods and the web app call.

    attributes = load_attribute_oracle()
    attributes.predict(images)        # {"attributes": +-1 int8 [N, A], "probabilities", "intensities", "styles"}
    identity = load_identity_oracle("eval")          # "loss" for a method's identity loss
    identity.embed(images)            # unit vectors [N, D]; differentiable for tensor inputs
    identity_similarity(a_images, b_images)          # cosine per pair, by the eval oracle

Images are uint8 H x W x 3 numpy arrays (one face or a batch N x H x W x 3) or float tensors
[N, 3, H, W] in [-1, 1]; 64 px (or any size) faces are resized to the 128 px the oracles saw.
Checkpoints live in ml/weights/oracles/<role>/ (manifest.json + weights.safetensors).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ml import checkpoints
from ml.oracles.config import OracleConfig
from ml.oracles.networks import AttributeNet, IdentityNet

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "oracles"
IDENTITY_ROLES = {"loss": "identity-loss", "eval": "identity-eval"}


class OracleMissingError(FileNotFoundError):
    """A trained oracle's checkpoint is not where it should be."""


def build_network(config: OracleConfig) -> nn.Module:
    """The untrained network a config describes (attribute names and styles from the world)."""
    if config.role == "attributes":
        from ml.oracles.data import world_attributes, world_styles

        return AttributeNet(world_attributes(), world_styles(), config.widths, config.architecture)
    return IdentityNet(config.architecture, config.widths, config.embedding_dim)


def as_input(images, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 numpy (H x W x 3 or N x H x W x 3) or a [-1, 1] tensor -> float tensor [N, 3, H, W]."""
    if isinstance(images, torch.Tensor):
        tensor = images if images.dim() == 4 else images.unsqueeze(0)
        if tensor.dtype == torch.uint8:
            raise TypeError("uint8 tensors are ambiguous: pass uint8 numpy H x W x 3 or a float tensor in [-1, 1]")
        return tensor.to(device=device, dtype=torch.float32)
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise TypeError(f"numpy images must be uint8 H x W x 3, got {array.dtype}")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected H x W x 3 or N x H x W x 3 images, got shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    return tensor.div(127.5).sub(1.0).to(device)


def load_oracle_network(role: str, path: str | Path | None = None,
                        device: str | torch.device = "cpu") -> tuple[nn.Module, checkpoints.Manifest]:
    """A frozen network of `role` ("attributes", "identity-loss", "identity-eval") and its manifest."""
    directory = Path(path) if path is not None else WEIGHTS_DIR / role
    if not (directory / checkpoints.MANIFEST_FILE).is_file() and checkpoints.latest_checkpoint(directory) is None:
        raise OracleMissingError(
            f"no trained {role} oracle at {directory}; train it with `python -m ml train-oracle {role}`")
    checkpoint = checkpoints.load_checkpoint(directory, device=device)
    config = OracleConfig.from_dict(checkpoint.manifest.config)
    if config.role != role:
        raise checkpoints.CheckpointError(f"{directory} holds the {config.role} oracle, not {role}")
    network = build_network(config)
    checkpoints.load_networks({"network": network}, checkpoint.weights)
    network.to(device).eval().requires_grad_(False)
    return network, checkpoint.manifest


class FrozenModule(nn.Module):
    """Stays in eval mode with frozen weights, even inside a method's `.train()` call."""

    def train(self, mode: bool = True) -> "FrozenModule":
        return super().train(False)


class AttributeOracle(FrozenModule):
    """Attribute labels, probabilities, intensities and styles of faces."""

    def __init__(self, network: AttributeNet, manifest: checkpoints.Manifest):
        super().__init__()
        self.network = network
        self.manifest = manifest
        self.attribute_names: list[str] = list(network.attribute_names)
        self.style_names: dict[str, list[str]] = dict(network.style_names)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def forward(self, images) -> dict:
        """Raw outputs: attribute logits, intensities in [0, 1], style logits (differentiable)."""
        tensor = as_input(images, self.device)
        with torch.set_grad_enabled(tensor.requires_grad and torch.is_grad_enabled()):
            return self.network(tensor)

    def predict(self, images, batch_size: int = 128) -> dict:
        """Labels (+-1 int8 [N, A]), probabilities and intensities (float32 numpy [N, A]) and
        style ids per style key (int64 [N], the id the face would wear if the attribute is off)."""
        tensor = as_input(images, self.device)
        parts = []
        with torch.no_grad():
            for start in range(0, len(tensor), batch_size):
                parts.append(self.network(tensor[start:start + batch_size]))
        logits = torch.cat([p["attributes"] for p in parts]).float()
        return {
            "attributes": np.where(logits.cpu().numpy() > 0, 1, -1).astype(np.int8),
            "probabilities": torch.sigmoid(logits).cpu().numpy(),
            "intensities": torch.cat([p["intensities"] for p in parts]).float().cpu().numpy(),
            "styles": {key: torch.cat([p["styles"][key] for p in parts]).argmax(1).cpu().numpy()
                       for key in self.style_names},
        }

    def column(self, name: str) -> int:
        if name not in self.attribute_names:
            raise KeyError(f"the attribute oracle has no {name!r}; it knows {', '.join(self.attribute_names)}")
        return self.attribute_names.index(name)

    def probability(self, images, name: str) -> np.ndarray:
        return self.predict(images)["probabilities"][:, self.column(name)]

    def intensity(self, images, name: str) -> np.ndarray:
        return self.predict(images)["intensities"][:, self.column(name)]


class IdentityOracle(FrozenModule):
    """Identity embeddings of faces; `threshold` (cosine) was chosen on a validation split."""

    def __init__(self, network: IdentityNet, manifest: checkpoints.Manifest, role: str):
        super().__init__()
        self.network = network
        self.manifest = manifest
        self.role = role
        self.threshold = float(manifest.metrics.get("threshold", 0.5))

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def forward(self, images) -> torch.Tensor:
        return self.embed(images)

    def embed(self, images) -> torch.Tensor:
        """Unit-length embeddings [N, D]; gradients flow to a tensor input that requires them."""
        tensor = as_input(images, self.device)
        with torch.set_grad_enabled(tensor.requires_grad and torch.is_grad_enabled()):
            return self.network(tensor)

    def similarity(self, a, b) -> torch.Tensor:
        """Cosine similarity of each face in `a` to the face at the same index in `b`."""
        return (self.embed(a) * self.embed(b)).sum(1)

    def predict(self, a, b) -> np.ndarray:
        """Whether each pair shows the same person (similarity above the threshold)."""
        with torch.no_grad():
            return (self.similarity(a, b) > self.threshold).cpu().numpy()

    verify = predict


@functools.lru_cache(maxsize=8)
def _cached(role: str, path: str | None, device: str):
    network, manifest = load_oracle_network(role, path, device)
    if role == "attributes":
        return AttributeOracle(network, manifest)
    return IdentityOracle(network, manifest, role)


def load_attribute_oracle(path: str | Path | None = None, device: str = "cpu") -> AttributeOracle:
    """The attribute / intensity / style oracle (shared, frozen; do not train it further)."""
    return _cached("attributes", None if path is None else str(path), str(device))


def load_identity_oracle(role: str = "eval", path: str | Path | None = None, device: str = "cpu") -> IdentityOracle:
    """role "loss": the identity network methods train against; "eval": the one that grades them."""
    if role not in IDENTITY_ROLES:
        raise ValueError(f"identity oracle role must be 'loss' or 'eval', got {role!r}")
    return _cached(IDENTITY_ROLES[role], None if path is None else str(path), str(device))


def identity_similarity(a, b, role: str = "eval") -> np.ndarray:
    """Cosine identity similarity of paired faces (by default graded by the eval network).

    `a` and `b` are images (see `as_input`) or, as 2-D tensors [N, D], embeddings already made."""
    with torch.no_grad():
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() == 2 and b.dim() == 2:
            return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1).cpu().numpy()
        return load_identity_oracle(role).similarity(a, b).cpu().numpy()


def available_roles() -> Sequence[str]:
    return [role for role in ("attributes", *IDENTITY_ROLES.values())
            if (WEIGHTS_DIR / role / checkpoints.MANIFEST_FILE).is_file()]
