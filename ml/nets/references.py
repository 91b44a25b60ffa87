"""Mean latents per attribute: what an editor blends toward when a control names no exemplar.

Used by HomoInterpGAN (a group's slider with no reference image) and ELEGANT (the "average"
exemplar of an attribute).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class MeanReferences(nn.Module):
    """Per label, the mean latent (a moving average) of training faces that have it (+1) and that lack it (-1).

    It stands in for an exemplar when a group's slider has none: the paper needs a reference
    image, and the mean of many references keeps the target attribute and averages the rest.
    """

    def __init__(self, labels: Sequence[str], channels, size):
        super().__init__()
        self.labels = list(labels)
        shape = (len(self.labels), channels, size, size)
        self.register_buffer("positive", torch.zeros(shape))
        self.register_buffer("negative", torch.zeros(shape))
        self.register_buffer("positive_count", torch.zeros(len(self.labels)))
        self.register_buffer("negative_count", torch.zeros(len(self.labels)))
        self.register_buffer("overall", torch.zeros(shape[1:]))
        self.register_buffer("overall_count", torch.zeros(()))

    @torch.no_grad()
    def update(self, features, attributes, decay: float | None = 0.99):
        """Fold a batch in: features (N, C, H, W), attributes (N, len(labels)) in +-1. With a
        `decay`, as an exponential moving average (so means follow a training encoder); with
        None, as the exact mean of every face seen (for a trained model's fixed encoder)."""
        features = features.float()
        flat = features.flatten(1)

        def keep(count, seen):
            if decay is None:
                return count / (count + seen).clamp(min=1)
            return torch.where(count > 0, torch.full_like(seen, decay), torch.zeros_like(seen))

        for present, total, count in ((True, self.positive, self.positive_count),
                                      (False, self.negative, self.negative_count)):
            weights = ((attributes > 0) == present).float()  # N x L
            seen = weights.sum(0)
            batch_mean = (weights.t() @ flat) / seen.clamp(min=1).unsqueeze(1)
            kept = torch.where(seen > 0, keep(count, seen), torch.ones_like(seen))  # absent labels stay
            total.mul_(kept.view(-1, 1, 1, 1)).add_(((1 - kept).unsqueeze(1) * batch_mean).view_as(total))
            count.add_(seen)
        batch = torch.full((), float(features.shape[0]))
        kept = keep(self.overall_count, batch)
        self.overall.mul_(kept).add_((1 - kept) * features.mean(0))
        self.overall_count.add_(batch)

    def has(self, label: str, present: bool = True) -> bool:
        """Whether a mean for `label` present (or absent) was seen."""
        counts = self.positive_count if present else self.negative_count
        return label in self.labels and bool(counts[self.labels.index(label)] > 0)

    def reset(self):
        for buffer in self.buffers():
            buffer.zero_()

    def direction(self, label: str, toward_present: bool = True) -> torch.Tensor:
        """The mean latent of faces with `label` minus that of faces without it (or the reverse):
        the label's mean direction, with the faces' identities averaged out of both ends."""
        return self.mean(label, toward_present) - self.mean(label, not toward_present)

    def mean(self, label: str, present: bool = True) -> torch.Tensor:
        """The (1, C, H, W) mean latent for `label` present or absent ('' = all faces)."""
        if not label:
            if self.overall_count == 0:
                raise LookupError("no training face was seen")
            return self.overall.unsqueeze(0)
        index = self.labels.index(label)
        total = self.positive if present else self.negative
        count = self.positive_count if present else self.negative_count
        if count[index] == 0:
            raise LookupError(f"no training face {'with' if present else 'without'} {label} was seen")
        return total[index].unsqueeze(0)


@torch.no_grad()
def fit_references(references: MeanReferences, encode, images, attributes, names: Sequence[str],
                   batch: int = 64) -> MeanReferences:
    """Fill `references` with the exact mean latents of labelled faces.

    encode: uint8 images [B, H, W, 3] -> latents [B, C, H', W'] (a trained model's encoder, in
    eval mode); attributes: [N, len(names)] in +-1, columns named by `names`."""
    missing = [label for label in references.labels if label not in names]
    if missing:
        raise KeyError(f"the faces have no label column(s) {', '.join(missing)}")
    columns = [list(names).index(label) for label in references.labels]
    references.reset()
    for start in range(0, len(images), batch):
        latents = encode(images[start:start + batch])
        labels = torch.as_tensor(attributes[start:start + batch][:, columns]).float()
        references.update(latents.float(), labels.to(latents.device), decay=None)
    return references
