"""Training the oracles on the shared loop (`ml.training.loop`).

`OracleTrainer` is a `TrainingTask`: one network (plus, for identity, its CosFace head), AdamW with
a warm-up and cosine decay, bf16 autocast and channels-last. Batches come from `InMemoryBatches`
over a label matrix that packs every target of a face in one row (see `LabelColumns`), so the
loop's exact resume works unchanged.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.oracles import metrics
from ml.oracles.config import OracleConfig
from ml.oracles.data import FaceSet, world_attributes, world_styles
from ml.oracles.networks import AttributeNet, CosineMarginHead, IdentityNet
from ml.training.data import InMemoryBatches, images_to_tensor
from ml.training.loop import TrainingTask, seed_everything
from ml.training.precision import autocast, prepare_input, prepare_network


@dataclasses.dataclass(frozen=True)
class LabelColumns:
    """Where each target sits in a packed label row: attributes | intensities | styles | identity."""

    attributes: int
    styles: tuple[str, ...]

    @property
    def intensity_start(self) -> int:
        return self.attributes

    @property
    def style_start(self) -> int:
        return 2 * self.attributes

    @property
    def identity_column(self) -> int:
        return 2 * self.attributes + len(self.styles)

    def pack(self, faces: FaceSet, identity_classes: np.ndarray) -> np.ndarray:
        styles = [faces.styles[key][:, None] for key in self.styles]
        return np.concatenate([faces.attributes.astype(np.float32), faces.intensities.astype(np.float32),
                               *[s.astype(np.float32) for s in styles],
                               identity_classes[:, None].astype(np.float32)], axis=1)

    def unpack(self, rows: torch.Tensor) -> dict[str, Any]:
        a = self.attributes
        return {
            "attributes": rows[:, :a],
            "intensities": rows[:, a:2 * a],
            "styles": {key: rows[:, self.style_start + i].long() for i, key in enumerate(self.styles)},
            "identity": rows[:, self.identity_column].long(),
        }


def identity_classes(identity: np.ndarray) -> tuple[np.ndarray, int]:
    """Identity ids -> class indices 0..K-1 (sorted ids, so the mapping is reproducible)."""
    unique, classes = np.unique(identity, return_inverse=True)
    return classes.astype(np.int64), len(unique)


def augment(images: torch.Tensor, blur_probability: float = 0.0, blur_max_sigma: float = 1.2) -> torch.Tensor:
    """Random horizontal flips, small shifts and, on a share of the faces, a Gaussian blur (one
    random width per batch, 0.3..blur_max_sigma px). The oracles grade generators' outputs, which
    are softer than renders: trained on sharp faces only, the attribute oracle read a smile on
    90% of true counterfactuals but on 60% of the same faces blurred by 1 px. Global torch RNG,
    which the loop checkpoints; with no blur the draws are those of the earlier oracles."""
    flip = torch.rand(images.shape[0]) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    shift = max(1, images.shape[-1] // 32)
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,)))
    padded = F.pad(images, (shift, shift, shift, shift), mode="replicate")
    size_y, size_x = images.shape[-2:]
    images = padded[:, :, shift + dy:shift + dy + size_y, shift + dx:shift + dx + size_x]
    if blur_probability > 0:
        sigma = 0.3 + float(torch.rand(())) * (blur_max_sigma - 0.3)
        chosen = torch.rand(images.shape[0]) < blur_probability
        images = torch.where(chosen.view(-1, 1, 1, 1), gaussian_blur(images, sigma), images)
    return images


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, C, H, W] blurred by a Gaussian of `sigma` pixels (kernel 2*ceil(2 sigma)+1, edges reflected)."""
    from torchvision.transforms.functional import gaussian_blur as blur

    size = 2 * math.ceil(2 * sigma) + 1
    return blur(images, [size, size], [sigma, sigma])


def warmup_cosine(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


class OracleTrainer(TrainingTask):
    """Trains one oracle role on rendered faces; `val` (another set of identities) is evaluated."""

    def __init__(self, config: OracleConfig, train: FaceSet, val: FaceSet | None = None,
                 device: str | torch.device = "cpu"):
        super().__init__(config, device)
        self.method = config.run_method
        self.train_set, self.val_set = train, val
        self._data_fingerprint = train.fingerprint
        self.columns = LabelColumns(len(world_attributes()), tuple(world_styles()))
        self.classes, class_count = identity_classes(train.identity)
        seed_everything(config.seed)
        if config.role == "attributes":
            self.network = AttributeNet(world_attributes(), world_styles(), config.widths, config.architecture)
            self.head = None
        else:
            self.network = IdentityNet(config.architecture, config.widths, config.embedding_dim)
            self.head = CosineMarginHead(config.embedding_dim, class_count, config.scale, config.margin)
        prepare_network(self.network, config.channels_last, self.device)
        # rare attributes (a mustache on 7% of faces) weigh their positives up to the cap, so
        # the classifier does not settle for "never"
        shown = np.clip((train.attributes > 0).mean(0), 1e-3, 1.0)
        self.positive_weight = torch.as_tensor(np.clip((1 - shown) / shown, 1.0, config.positive_weight_cap),
                                               dtype=torch.float32, device=self.device)
        parameters = list(self.network.parameters()) + (list(self.head.parameters()) if self.head else [])
        self.optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(config.warmup_steps, config.steps))

    # what the loop checkpoints -------------------------------------------------------------------

    def networks(self) -> dict[str, nn.Module]:
        found = {"network": self.network}
        if self.head is not None:
            found["head"] = self.head
        return found

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def schedulers(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler}

    def batches(self) -> InMemoryBatches:
        labels = self.columns.pack(self.train_set, self.classes)
        return InMemoryBatches(self.train_set.images, labels, self.config.batch_size, seed=self.config.seed)

    # one step ------------------------------------------------------------------------------------

    def train_step(self, batches, step: int) -> Mapping[str, float]:
        images, rows = batches.next()
        targets = self.columns.unpack(rows.to(self.device))
        images = prepare_input(augment(images, self.config.blur_probability, self.config.blur_max_sigma),
                               self.config.channels_last, self.device)
        self.network.train()
        with autocast(self.config.precision, self.device):
            if self.head is None:
                losses = self._attribute_losses(self.network(images), targets)
            else:
                losses = {"identity": self.head(self.network(images), targets["identity"])}
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def _attribute_losses(self, output, targets) -> dict[str, torch.Tensor]:
        config = self.config
        positive = (targets["attributes"] > 0).float()
        losses = {
            "attributes": F.binary_cross_entropy_with_logits(output["attributes"].float(), positive,
                                                             pos_weight=self.positive_weight),
            "intensity": config.intensity_weight * F.mse_loss(output["intensities"].float(), targets["intensities"]),
        }
        style_terms = []
        for key, logits in output["styles"].items():
            # A style is only defined where its attribute is shown (-1 elsewhere). Summed over the
            # faces that show it but divided by the whole batch: dividing by the few that show it
            # made these noisy terms drown the attribute gradients in the shared trunk.
            style_terms.append(F.cross_entropy(logits.float(), targets["styles"][key], ignore_index=-1,
                                               reduction="sum") / logits.shape[0])
        losses["styles"] = config.style_weight * sum(style_terms)
        return losses

    # evaluation ----------------------------------------------------------------------------------

    def evaluate(self, step: int) -> dict[str, float]:
        if self.val_set is None or len(self.val_set) == 0:
            return {}
        if self.head is None:
            report = metrics.attribute_report(self.network, self.val_set)
            return {"val_attribute_accuracy": report["mean_accuracy"],
                    "val_style_accuracy": report["mean_style_accuracy"],
                    "val_intensity_mae": report["intensity_mae"]}
        report = metrics.verification_report(self.network, self.val_set)
        return {"val_verification_accuracy": report["accuracy"], "val_threshold": report["threshold"]}


def export_oracle(checkpoint: str, val: FaceSet | None, destination) -> "Path":
    """An inference-only copy of a trained oracle: the network alone (the CosFace head is only
    for training), with validation metrics in the manifest. For identity oracles the metrics
    carry the verification `threshold` chosen on `val`, which the loaders use."""
    from pathlib import Path

    from ml import checkpoints
    from ml.oracles.loaders import build_network

    source = checkpoints.load_checkpoint(checkpoint)
    config = OracleConfig.from_dict(source.manifest.config)
    network = build_network(config)
    checkpoints.load_networks({"network": network}, source.weights)
    found = {}
    if val is not None and len(val):
        if config.role == "attributes":
            report = metrics.attribute_report(network, val)
            found = {"val_mean_accuracy": report["mean_accuracy"],
                     "val_mean_balanced_accuracy": report["mean_balanced_accuracy"],
                     "val_style_accuracy": {key: value["accuracy"] for key, value in report["styles"].items()},
                     "val_intensity_mae": report["intensity_mae"]}
        else:
            report = metrics.verification_report(network, val)
            found = {"threshold": report["threshold"], "val_verification_accuracy": report["accuracy"]}
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    manifest = source.manifest
    manifest.metrics = {**manifest.metrics, **found, "val_faces": len(val) if val is not None else 0}
    checkpoints.save_weights(destination / checkpoints.WEIGHTS_FILE, {"network": network},
                             metadata={"method": manifest.method})
    checkpoints.write_manifest(destination, manifest)
    return destination
