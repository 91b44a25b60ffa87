"""Held-out synthetic faces for evaluation, and their ground-truth counterfactuals.

Evaluation faces come from seeds the training sets never use, and any identity that a training
render of `python -m ml train --data synthetic` drew is dropped, so every graded person is new to
the model. For each face the world renders the same person with one attribute changed (the
counterfactual) — the answer an edit should reach — together with segmentation maps, from which
the region that the attribute may touch is taken.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

import numpy as np

from ml.data.world import ATTRIBUTES, FaceParams, FaceWorld
from ml.data.world.params import ABSENT, ATTRIBUTE_INDEX, PRESENT, style_keys  # noqa: F401 (evaluation reads them here)
from ml.data.world.sampler import identity_ids

# What the training command renders by default: `count` faces in chunks of 256 from data seed 0.
TRAINING_SEEDS = (0,)
TRAINING_COUNT = 20_000
TRAINING_CHUNK = 256


# The head poses of the held-out faces follow the crop a method edits: CelebA and FFHQ crops hold
# near-frontal faces, MultiPIE-style frontalization the whole +-75 degrees.
ALIGNMENT_POSE = {"celeba": "celeba", "ffhq": "celeba", "multipie": "wide"}


def pose_for(editor, pose: str | None = None) -> str:
    """`pose` if given, else the pose distribution of the faces `editor`'s alignment crops."""
    return pose or ALIGNMENT_POSE.get(editor.alignment, "wide")


def eval_world(size: int, pose: str = "wide") -> FaceWorld:
    """A FaceWorld that is safe to use beside torch: triton (which torch._dynamo loads lazily,
    e.g. when an optimizer is built) bundles its own LLVM and segfaults when loaded after Mesa's
    llvmpipe, so it is loaded first."""
    try:
        import triton  # noqa: F401
    except ImportError:
        pass
    return FaceWorld(size, pose=pose)


@functools.lru_cache(maxsize=4)
def training_identities(seeds=TRAINING_SEEDS, count: int = TRAINING_COUNT, chunk: int = TRAINING_CHUNK) -> frozenset[int]:
    """Identity ids that `load_synthetic(size, count, seed)` may have drawn (any count up to `count`)."""
    ids: set[int] = set()
    for seed in seeds:
        for start in range(0, count, chunk):
            ids.update(int(i) for i in identity_ids(chunk, seed * 1_000_003 + start))
    return frozenset(ids)


def held_out_params(world: FaceWorld, count: int, seed: int) -> FaceParams:
    """`count` faces whose identities no training render used."""
    seen = training_identities()
    params = world.sample(count * 2, seed=seed)
    keep = np.array([int(i) not in seen for i in params.identity])
    kept = params[np.flatnonzero(keep)[:count]]
    if len(kept) < count:
        raise RuntimeError(f"only {len(kept)} held-out identities for seed {seed}")
    return kept


@dataclasses.dataclass
class FaceSet:
    """Rendered faces (image and segmentation; no landmarks, which cost most of a render) with
    the parameters that made them."""

    params: FaceParams
    images: np.ndarray  # uint8 [N, H, W, 3]
    segmentation: np.ndarray  # uint8 [N, H, W], SEGMENT_CLASSES

    def __len__(self) -> int:
        return len(self.params)

    def has(self, attribute: str) -> np.ndarray:
        return self.params.labels()[:, ATTRIBUTE_INDEX[attribute]] > 0


def render(world: FaceWorld, params: FaceParams) -> FaceSet:
    maps = world.render_maps(params)
    return FaceSet(params, np.asarray(maps["rgb"], dtype=np.uint8), np.asarray(maps["label"]))


def with_attribute_like(params: FaceParams, attribute: str, intensity: np.ndarray,
                        styles: Mapping[str, np.ndarray] | None = None) -> FaceParams:
    """Each face i with `attribute` at intensity[i] and, where given, style key k at styles[k][i]."""
    out = params.copy()
    parts = []
    for i in range(len(params)):
        face = out[i].with_attribute(attribute, float(intensity[i]))
        for key, values in (styles or {}).items():
            face = face.with_style(key, int(values[i]))
        parts.append(face)
    return FaceParams.concat(parts)


def toggled(params: FaceParams, attribute: str) -> tuple[FaceParams, np.ndarray]:
    """Each face with `attribute` switched (on where off, off where on, own style kept) and the
    target labels (+1 added / -1 removed)."""
    present = params.labels()[:, ATTRIBUTE_INDEX[attribute]] > 0
    target = np.where(present, -1, 1).astype(np.int8)
    return with_attribute_like(params, attribute, np.where(present, ABSENT, PRESENT)), target


def attribute_region(source: FaceSet, counterfactual: FaceSet, dilation: int = 2,
                     colour_threshold: int = 12) -> np.ndarray:
    """Bool [N, H, W]: where the true edit changes the segmentation or the colour, grown by a few
    pixels. An edit should leave the rest of the face alone."""
    from scipy.ndimage import binary_dilation

    changed = source.segmentation != counterfactual.segmentation
    colour = np.abs(source.images.astype(np.int16) - counterfactual.images.astype(np.int16)).max(-1)
    changed |= colour > colour_threshold
    if dilation:
        structure = np.ones((1, 2 * dilation + 1, 2 * dilation + 1), dtype=bool)
        changed = binary_dilation(changed, structure=structure)
    return changed


def attribute_column(name: str) -> int:
    if name not in ATTRIBUTES:
        raise KeyError(f"the synthetic world has no attribute {name!r}")
    return ATTRIBUTE_INDEX[name]
