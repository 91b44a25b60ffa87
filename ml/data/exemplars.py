"""Synthetic exemplars for the gallery: frontal faces that clearly show one attribute (in each of
its styles), aligned with the CelebA-style crop the exemplar-based editors expect."""
from __future__ import annotations

import numpy as np

from ml.data.align import align_landmarks
from ml.data.world import ATTRIBUTES, STYLES, FaceWorld
from ml.data.world.params import STYLE_OWNER

# Attributes named by their absence make poor exemplars: the gallery shows the presence instead.
SKIPPED = {"No_Beard"}


def exemplar_specs() -> list[tuple[str, int | None, str]]:
    """(attribute, style id or None, style name) for every attribute and every style it comes in."""
    specs = []
    for attribute in ATTRIBUTES:
        if attribute in SKIPPED:
            continue
        if attribute in STYLES and attribute not in STYLE_OWNER:
            specs += [(attribute, index, name) for index, name in enumerate(STYLES[attribute])]
        else:
            specs.append((attribute, None, ""))
    return specs


def render_exemplars(size: int = 256, per_style: int = 2, seed: int = 2024, backend: str = "auto") -> list[dict]:
    """[{attribute, style, title, image}] with `image` an aligned uint8 crop of `size` pixels."""
    specs = exemplar_specs()
    world = FaceWorld(size=size, backend=backend)
    base = world.sample(len(specs) * per_style, seed=seed).with_pose(yaw=0.0, pitch=0.0, roll=0.0)
    parts = []
    for index, (attribute, style, _) in enumerate(specs):
        rows = base[index * per_style:(index + 1) * per_style]
        parts.append(rows.with_attribute(attribute, 1.0, style=style))
    params = type(base).concat(parts)
    batch = world.render(params)
    exemplars = []
    for index in range(len(params)):
        attribute, _, style_name = specs[index // per_style]
        crop = align_landmarks(batch.image[index], batch.landmarks[index], style="celeba", size=size).crop
        title = attribute.replace("_", " ") + (f" · {style_name.replace('_', ' ')}" if style_name else "")
        exemplars.append({"attribute": attribute, "style": style_name, "title": title,
                          "image": np.ascontiguousarray(crop)})
    return exemplars
