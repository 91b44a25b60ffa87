"""Synthetic faces with their exact counterfactuals, for supervised losses toward them.

A real dataset can only say "A has bangs, B has none". The synthetic world can also draw A without
its bangs and B wearing A's bangs, the images an exemplar-transfer method (ELEGANT) should produce
when it swaps the two faces' attribute blocks (`CounterfactualPairs`), and a face whose attribute
group has moved a fraction v of the way toward another face's, the image a slider at strength v
should produce (`GroupBlends`, for HomoInterpGAN). A method may add a supervised loss toward them
(a starter-preset aid for CPU budgets that cannot wait for adversarial training alone; the papers'
presets leave it off).

Batch k is rendered on the fly from its own seed (seed, k), so a stream resumes exactly from the
index of the next batch, and needs no disk.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from ml.checkpoints import fingerprint
from ml.training.data import IndexedBatches, images_to_tensor


def change_mask(target: torch.Tensor, source: torch.Tensor, threshold: float = 0.04) -> torch.Tensor:
    """N x 1 x H x W: 1 where the true edit changes a pixel (any channel by more than threshold)."""
    return ((target.float() - source.float()).abs().amax(dim=1, keepdim=True) > threshold).float()


def counterfactual_loss(outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                        sources: Sequence[torch.Tensor], region_boost: float,
                        region_mean: bool = False, norm: str = "l2") -> torch.Tensor:
    """Squared error of edited images to their true counterfactuals, with the pixels the true
    edit changes (target vs source) weighted 1 + region_boost: an attribute's region is a few
    percent of the image, and unweighted the cheapest fit is to change nothing.

    With `region_mean` the boosted term is each image's mean error over its changed pixels alone,
    so a small region (a smile, 6% of the face) weighs as much as a large one (hair colour, 32%).
    `norm` "l1" grades absolute errors instead: faint leftovers (a glasses frame at a tenth of its
    contrast) cost ten times what they cost squared."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    total = 0.0
    for output, target, source in zip(outputs, targets, sources):
        changed = change_mask(target, source)
        error = (output.float() - target.float()).abs()
        error = error if norm == "l1" else error ** 2
        if region_mean:
            area = changed.sum(dim=(1, 2, 3)).clamp(min=1.0) * error.shape[1]
            in_region = (error * changed).sum(dim=(1, 2, 3)) / area
            total = total + error.mean() + region_boost * in_region.mean()
        else:
            total = total + (error * (1.0 + region_boost * changed)).mean()
    return total


@dataclasses.dataclass
class CounterfactualBatch:
    attribute: int  # index into the stream's attributes
    image_a: torch.Tensor  # N x 3 x H x W in [-1, 1]: faces with the attribute
    image_b: torch.Tensor  # faces without it
    labels_a: torch.Tensor  # N x len(attributes), +-1
    labels_b: torch.Tensor
    target_c: torch.Tensor  # A without the attribute (what A with B's block should be)
    target_d: torch.Tensor  # B wearing A's attribute, in A's style (B with A's block)
    styles_a: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # A's style ids per key


class CounterfactualPairs(IndexedBatches):
    """Endless `CounterfactualBatch`es: batch k edits attribute k mod len(attributes).

    same_person: the fraction of pairs whose B is A's own face without the attribute (same
    pose and light), where B wearing A's block must give A back exactly: the plainest lesson
    that the block has to carry the attribute's style."""

    def __init__(self, attributes: Sequence[str], size: int, batch_size: int, seed: int = 0,
                 correlation: float = 1.0, pose: str = "wide", same_person: float = 0.0):
        from ml.data.world import FaceWorld

        self.attributes = list(attributes)
        self.world = FaceWorld(size=size, correlation=correlation, pose=pose)
        self.batch_size = batch_size
        self.seed = seed
        self.same_person = float(same_person)
        self.next_index = 0
        record = {"kind": "synthetic-counterfactual-pairs", "world": self.world.fingerprint(),
                  "attributes": self.attributes, "seed": seed}
        if self.same_person:
            record["same_person"] = self.same_person
        self.fingerprint = fingerprint(record)

    def batch(self, index: int) -> CounterfactualBatch:
        from ml.data.world.params import ATTRIBUTE_INDEX, STYLES, FaceParams, style_keys

        attribute = index % len(self.attributes)
        name, n = self.attributes[attribute], self.batch_size
        rng = np.random.default_rng([self.seed, index % (2 ** 31), 17])
        faces = self.world.sample(2 * n, seed=int(rng.integers(2 ** 31)))
        if self.same_person:
            rows = np.arange(2 * n)
            same = rng.uniform(size=n) < self.same_person
            rows[n:][same] = np.flatnonzero(same)
            faces = faces[rows]
        with_it, without = faces[:n].with_attribute(name, 1.0), faces[n:].with_attribute(name, 0.0)
        styled = style_keys(name)
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
        styles_a = {key: torch.as_tensor(with_it.styles[key]).long() for key in styled}
        return CounterfactualBatch(attribute, images[0], images[1], labels[0], labels[1], images[2], images[3],
                                   styles_a)

    def preview(self, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of a fixed batch, for the loop's sample grids."""
        batch = self.batch(-1)
        return torch.cat([batch.image_a, batch.image_b])[:count], torch.cat([batch.labels_a, batch.labels_b])[:count]


@dataclasses.dataclass
class BlendBatch:
    """Sources, and each source with one attribute group moved a fraction of the way toward a
    reference: the next source in the batch (`mean_label` empty), or the mean face with (or
    without) `mean_label`."""

    images: torch.Tensor  # N x 3 x H x W in [-1, 1]
    attributes: torch.Tensor  # N x len(attribute_names), +-1
    group: int  # index into the stream's groups
    strengths: torch.Tensor  # N, in [0, 1]
    targets: torch.Tensor  # N x 3 x H x W: the truth at those strengths
    mean_label: str = ""
    toward_present: torch.Tensor | None = None  # N bool, with mean_label: toward faces that have it

    @property
    def reference_index(self) -> torch.Tensor:
        """Source i's reference face is source i + 1 (rolled)."""
        return torch.arange(1, len(self.images) + 1) % len(self.images)


class GroupBlends(IndexedBatches):
    """Endless `BlendBatch`es. Batch k edits group k mod len(groups); it takes the next face as
    the reference in one round of the groups and the group's mean face in the next, the two ways
    a HomoInterpGAN slider is used.

    groups: per group, the world attributes it moves (a group with none gets no blends);
    attribute_names: the label columns of `BlendBatch.attributes`; full_strength: the share of
    blends that go all the way (v = 1) instead of a uniform part of it."""

    def __init__(self, groups: Sequence[Sequence[str]], attribute_names: Sequence[str], size: int,
                 batch_size: int, seed: int = 0, correlation: float = 1.0, pose: str = "wide",
                 full_strength: float = 0.0):
        from ml.data.world import ATTRIBUTES, FaceWorld

        unknown = [name for name in attribute_names if name not in ATTRIBUTES]
        if unknown:
            raise ValueError(f"the synthetic world draws no {', '.join(unknown)}; blends need the world's labels")
        self.groups = [[name for name in group if name in ATTRIBUTES] for group in groups]
        self.usable_groups = [k for k, group in enumerate(self.groups) if group]
        if not self.usable_groups:
            raise ValueError("no group moves an attribute the synthetic world draws")
        self.attribute_names = list(attribute_names)
        self.world = FaceWorld(size=size, correlation=correlation, pose=pose)
        self.batch_size = batch_size
        self.seed = seed
        self.full_strength = full_strength
        self.next_index = 0
        # full_strength joins the fingerprint only when set: runs without it keep theirs
        self.fingerprint = fingerprint({"kind": "synthetic-group-blends", "world": self.world.fingerprint(),
                                        "groups": self.groups, "seed": seed,
                                        **({"full_strength": full_strength} if full_strength else {})})

    def batch(self, index: int) -> BlendBatch:
        from ml.data.world.params import ATTRIBUTE_INDEX, FaceParams

        sources, targets, plan = self.blend(index)
        n = len(sources)
        rendered = self.world.render(FaceParams.concat([sources, targets]))
        images = images_to_tensor(np.asarray(rendered.image)).split(n)
        label_columns = [ATTRIBUTE_INDEX[name] for name in self.attribute_names]
        labels = torch.as_tensor(rendered.attributes[:n, label_columns]).float()
        toward = plan["toward_present"]
        return BlendBatch(images[0], labels, plan["group"], torch.from_numpy(plan["strengths"]), images[1],
                          plan["mean_label"], None if toward is None else torch.from_numpy(toward))

    def blend(self, index: int):
        """(source params, target params, plan) of batch `index`; the plan has the group, the
        strengths, the mean label ('' for the next face) and which sources move toward it."""
        from ml.data.world.params import ABSENT, ATTRIBUTE_INDEX, EXCLUSIVE_GROUPS, PRESENT, style_keys

        # groups in turn, skipping those with nothing to blend; every other round toward mean faces
        rounds, turn = divmod(index, len(self.usable_groups))
        group, mean_round = self.usable_groups[turn], rounds % 2 == 1
        n = self.batch_size
        rng = np.random.default_rng([self.seed, index % (2 ** 31), 29])
        sources = self.world.sample(n, seed=int(rng.integers(2 ** 31)))
        strengths = rng.uniform(0.0, 1.0, n).astype(np.float32)
        if self.full_strength:  # drawn only when asked, so that other runs keep their blends
            strengths[rng.uniform(size=n) < self.full_strength] = 1.0
        columns = [ATTRIBUTE_INDEX[name] for name in self.groups[group]]
        mean_label, toward_present = "", None
        if mean_round:
            mean_label = self.groups[group][int(rng.integers(len(columns)))]
            column = ATTRIBUTE_INDEX[mean_label]
            toward_present = sources.intensities[:, column] <= 0.5
            # an added attribute comes in the first style (a mean reference has no style of its own);
            # the source does not show its style, so setting it there changes no pixel
            for key in style_keys(mean_label):
                sources.styles[key][toward_present] = 0
            goal = sources.intensities.copy()
            goal[:, column] = np.where(toward_present, PRESENT, ABSENT)
            for members in EXCLUSIVE_GROUPS:  # adding one hair colour fades the others
                if mean_label in members:
                    for other in members:
                        if other != mean_label:
                            fade = np.minimum(goal[:, ATTRIBUTE_INDEX[other]], ABSENT)
                            goal[toward_present, ATTRIBUTE_INDEX[other]] = fade[toward_present]
            moved = [column] + [ATTRIBUTE_INDEX[o] for m in EXCLUSIVE_GROUPS if mean_label in m for o in m]
            styles_from = None
        else:
            reference = sources[(np.arange(n) + 1) % n]
            goal = reference.intensities
            moved = columns
            styles_from = reference
        targets = sources.copy()
        v = strengths[:, None]
        targets.intensities[:, moved] = sources.intensities[:, moved] + v * (goal[:, moved] - sources.intensities[:, moved])
        if styles_from is not None:  # a style comes with the reference's attribute when it has one
            for name in self.groups[group]:
                shown = styles_from.intensities[:, ATTRIBUTE_INDEX[name]] > 0.5
                for key in style_keys(name):
                    targets.styles[key] = np.where(shown, styles_from.styles[key], targets.styles[key])
        return sources, targets, {"group": group, "strengths": strengths, "mean_label": mean_label,
                                  "toward_present": toward_present}

    def preview(self, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.batch(-1)
        return batch.images[:count], batch.attributes[:count]

