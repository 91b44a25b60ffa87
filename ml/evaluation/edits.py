"""Grading one attribute's edits against the truth, the same way for every method."""
from __future__ import annotations

import numpy as np

from ml.evaluation.faces import FaceSet, attribute_region
from ml.evaluation.grading import Graders, mean_abs


def grade_edits(graders: Graders, attribute: str, sources: FaceSet, edited: np.ndarray,
                counterfactual: FaceSet, target: np.ndarray) -> dict:
    """Measures of `edited` (uint8 [N, H, W, 3]), which should show `sources` with `attribute`
    set to `target` (+1 / -1 per face), as `counterfactual` shows it truly.

    Returns per-attribute numbers; the `true_*` ones grade the counterfactual renders themselves,
    the ceiling a perfect editor would reach under these graders."""
    seen = graders.labels(edited, attribute)
    truth_seen = graders.labels(counterfactual.images, attribute)
    region = attribute_region(sources, counterfactual)
    added, removed = target > 0, target < 0
    success = seen == target
    result = {
        "faces": int(len(edited)),
        "success": float(success.mean()),
        "success_add": float(success[added].mean()) if added.any() else None,
        "success_remove": float(success[removed].mean()) if removed.any() else None,
        "identity_similarity": float(graders.identity_similarity(edited, sources.images).mean()),
        "outside_change": float(mean_abs(edited, sources.images, ~region).mean()),
        "counterfactual_l1": float(mean_abs(edited, counterfactual.images).mean()),
        "region_fraction": float(region.mean()),
        "true_success": float((truth_seen == target).mean()),
        "true_identity_similarity": float(graders.identity_similarity(counterfactual.images,
                                                                      sources.images).mean()),
    }
    return result


def reconstruction(editor, images: np.ndarray, latents, controls=None) -> dict:
    """L1 (in [0, 1] pixel units) of each face rendered back with the editor's default controls
    (and `controls`), and the editor's timing on this machine."""
    import time

    defaults = editor.validate(dict(controls or {}))
    errors, times = [], []
    for image, latent in zip(images, latents):
        start = time.perf_counter()
        output = editor.render(latent, defaults)
        times.append((time.perf_counter() - start) * 1000)
        errors.append(np.abs(output.astype(np.float32) - image.astype(np.float32)).mean() / 255.0)
    return {"reconstruction_l1": float(np.mean(errors)), "render_ms_median": float(np.median(times))}


def encode_all(editor, images: np.ndarray) -> tuple[list, float]:
    import time

    start = time.perf_counter()
    latents = [editor.encode(image) for image in images]
    return latents, (time.perf_counter() - start) * 1000 / max(len(images), 1)


def mean_over(per_attribute: dict, key: str) -> float:
    values = [entry[key] for entry in per_attribute.values() if entry.get(key) is not None]
    return float(np.mean(values)) if values else float("nan")
