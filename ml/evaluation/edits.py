"""Grading one attribute's edits against the truth, the same way for every method."""
from __future__ import annotations

import numpy as np

from ml.evaluation.faces import FaceSet, attribute_region
from ml.evaluation.grading import Graders, mean_abs, success_interval

# The blur of `blurred_change` that the grading applies to each true edit: one pixel. The world
# draws some attributes with strokes a pixel or two wide (a smile's folds, age's wrinkles), and
# an edit that only reproduces them blurred by this much is what a decoder drawing from a coarse
# latent gives.
TRUTH_BLUR_SIGMA = 1.0


def blurred_change(sources: np.ndarray, targets: np.ndarray, sigma: float = TRUTH_BLUR_SIGMA) -> np.ndarray:
    """uint8 [N, H, W, 3]: each source plus its change to the target blurred by a Gaussian of
    `sigma` pixels (0 gives the targets back)."""
    from scipy.ndimage import gaussian_filter

    change = targets.astype(np.float32) - sources.astype(np.float32)
    if sigma > 0:
        change = gaussian_filter(change, sigma=(0, sigma, sigma, 0))
    return np.clip(np.rint(sources.astype(np.float32) + change), 0, 255).astype(np.uint8)


def grade_edits(graders: Graders, attribute: str, sources: FaceSet, edited: np.ndarray,
                counterfactual: FaceSet, target: np.ndarray) -> dict:
    """Measures of `edited` (uint8 [N, H, W, 3]), which should show `sources` with `attribute`
    set to `target` (+1 / -1 per face), as `counterfactual` shows it truly.

    Returns per-attribute numbers; the `true_*` ones grade the counterfactual renders themselves,
    the ceiling a perfect editor would reach under these graders, and `blurred_truth_success`
    the truth's change blurred by TRUTH_BLUR_SIGMA: how much of the oracle's reading hangs on
    detail finer than a pixel."""
    seen = graders.labels(edited, attribute)
    truth_seen = graders.labels(counterfactual.images, attribute)
    region = attribute_region(sources, counterfactual)
    added, removed = target > 0, target < 0
    success = seen == target
    result = {
        "faces": int(len(edited)),
        "success": float(success.mean()),
        "success_interval": success_interval(success.sum(), len(success)),
        "success_add": float(success[added].mean()) if added.any() else None,
        "success_remove": float(success[removed].mean()) if removed.any() else None,
        "identity_similarity": float(graders.identity_similarity(edited, sources.images).mean()),
        "outside_change": float(mean_abs(edited, sources.images, ~region).mean()),
        "counterfactual_l1": float(mean_abs(edited, counterfactual.images).mean()),
        "region_fraction": float(region.mean()),
        "true_success": float((truth_seen == target).mean()),
        "true_identity_similarity": float(graders.identity_similarity(counterfactual.images,
                                                                      sources.images).mean()),
        "blurred_truth_success": float((graders.labels(blurred_change(sources.images, counterfactual.images),
                                                       attribute) == target).mean()),
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


def pooled_success_interval(per_attribute: dict) -> tuple[float, float]:
    """The 95% interval of the attribute success over every attribute's edits together, each
    edit counted as a trial of its own (the same faces edit every attribute, so this is a little
    narrower than the truth)."""
    successes = sum(round(entry["success"] * entry["faces"]) for entry in per_attribute.values())
    return success_interval(successes, sum(entry["faces"] for entry in per_attribute.values()))
