"""Pairs of synthetic faces that differ in one attribute, with their exact counterfactuals.

A real dataset can only say "A has bangs, B has none". The synthetic world can also draw A without
its bangs and B wearing A's bangs, the images an exemplar-transfer method (ELEGANT) should produce
when it swaps the two faces' attribute blocks. A method may add a supervised loss toward them (a
starter-preset aid for CPU budgets that cannot wait for adversarial training alone; the papers'
presets leave it off).

Batch k is rendered on the fly from its own seed (seed, k), so the stream resumes exactly from the
index of the next batch, and needs no disk.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from ml.checkpoints import fingerprint
from ml.training.data import IndexedBatches, images_to_tensor


@dataclasses.dataclass
class CounterfactualBatch:
    attribute: int  # index into the stream's attributes
    image_a: torch.Tensor  # N x 3 x H x W in [-1, 1]: faces with the attribute
    image_b: torch.Tensor  # faces without it
    labels_a: torch.Tensor  # N x len(attributes), +-1
    labels_b: torch.Tensor
    target_c: torch.Tensor  # A without the attribute (what A with B's block should be)
    target_d: torch.Tensor  # B wearing A's attribute, in A's style (B with A's block)


class CounterfactualPairs(IndexedBatches):
    """Endless `CounterfactualBatch`es: batch k edits attribute k mod len(attributes)."""

    def __init__(self, attributes: Sequence[str], size: int, batch_size: int, seed: int = 0,
                 correlation: float = 1.0):
        from ml.data.world import FaceWorld

        self.attributes = list(attributes)
        self.world = FaceWorld(size=size, correlation=correlation)
        self.batch_size = batch_size
        self.seed = seed
        self.next_index = 0
        self.fingerprint = fingerprint({"kind": "synthetic-counterfactual-pairs", "world": self.world.fingerprint(),
                                        "attributes": self.attributes, "seed": seed})

    def batch(self, index: int) -> CounterfactualBatch:
        from ml.data.world.params import ATTRIBUTE_INDEX, STYLE_OWNER, STYLES, FaceParams

        attribute = index % len(self.attributes)
        name, n = self.attributes[attribute], self.batch_size
        rng = np.random.default_rng([self.seed, index % (2 ** 31), 17])
        faces = self.world.sample(2 * n, seed=int(rng.integers(2 ** 31)))
        with_it, without = faces[:n].with_attribute(name, 1.0), faces[n:].with_attribute(name, 0.0)
        styled = [key for key in STYLES if STYLE_OWNER.get(key, key) == name]
        for key in styled:  # each face its own style
            with_it.styles[key][:] = rng.integers(len(STYLES[key]), size=n)
        target_c = with_it.with_attribute(name, 0.0)
        target_d = faces[n:].with_attribute(name, 1.0)
        for key in styled:
            target_d.styles[key][:] = with_it.styles[key]
        rendered = self.world.render(FaceParams.concat([with_it, without, target_c, target_d]))
        images = images_to_tensor(np.asarray(rendered.image)).split(n)
        columns = [ATTRIBUTE_INDEX[label] for label in self.attributes]
        labels = torch.as_tensor(rendered.attributes[:, columns]).float().split(n)
        return CounterfactualBatch(attribute, images[0], images[1], labels[0], labels[1], images[2], images[3])

    def preview(self, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of a fixed batch, for the loop's sample grids."""
        batch = self.batch(-1)
        return torch.cat([batch.image_a, batch.image_b])[:count], torch.cat([batch.labels_a, batch.labels_b])[:count]

