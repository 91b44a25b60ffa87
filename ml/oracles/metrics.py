"""How good an oracle is: attribute / style accuracy and identity verification across pose.

Verification follows the face-recognition habit: pairs of the same and of different identities,
a cosine-similarity threshold chosen on a validation split, accuracy reported on other faces.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ml.oracles.config import GRADED_ATTRIBUTES
from ml.oracles.data import FaceSet, world_attributes, world_styles
from ml.training.data import images_to_tensor

YAW_BINS = ((0, 15), (15, 30), (30, 45), (45, 60), (60, 90), (90, 180))


@torch.no_grad()
def run_in_batches(network: nn.Module, images: np.ndarray, batch_size: int = 128):
    """The network's outputs on uint8 images, batch by batch, in eval mode, float32."""
    was_training = network.training
    network.eval()
    outputs = []
    try:
        for start in range(0, len(images), batch_size):
            outputs.append(network(images_to_tensor(images[start:start + batch_size])))
    finally:
        network.train(was_training)
    if isinstance(outputs[0], torch.Tensor):
        return torch.cat(outputs).float()
    return {
        "attributes": torch.cat([o["attributes"] for o in outputs]).float(),
        "intensities": torch.cat([o["intensities"] for o in outputs]).float(),
        "styles": {key: torch.cat([o["styles"][key] for o in outputs]).float() for key in outputs[0]["styles"]},
    }


# --- attributes -----------------------------------------------------------------------------------

def attribute_report(network: nn.Module, faces: FaceSet) -> dict:
    """Per-attribute accuracy and balanced accuracy, style accuracy where the style is shown,
    and the intensity regression's mean absolute error."""
    output = run_in_batches(network, faces.images)
    predicted = output["attributes"].numpy() > 0
    truth = faces.attributes > 0
    per_attribute = {}
    for column, name in enumerate(world_attributes()):
        hit = predicted[:, column] == truth[:, column]
        positives, negatives = truth[:, column], ~truth[:, column]
        rates = [hit[group].mean() for group in (positives, negatives) if group.any()]
        per_attribute[name] = {"accuracy": float(hit.mean()), "balanced_accuracy": float(np.mean(rates)),
                               "positives": int(positives.sum())}
    per_style = {}
    for key in world_styles():
        shown = faces.styles[key] >= 0
        if not shown.any():
            continue
        guess = output["styles"][key].argmax(1).numpy()
        per_style[key] = {"accuracy": float((guess[shown] == faces.styles[key][shown]).mean()),
                          "count": int(shown.sum())}
    return {
        "attributes": per_attribute,
        "styles": per_style,
        "mean_accuracy": float(np.mean([v["accuracy"] for v in per_attribute.values()])),
        "mean_balanced_accuracy": float(np.mean([v["balanced_accuracy"] for v in per_attribute.values()])),
        "mean_style_accuracy": float(np.mean([v["accuracy"] for v in per_style.values()])) if per_style else 0.0,
        "intensity_mae": float(np.abs(output["intensities"].numpy() - faces.intensities).mean()),
        "count": len(faces),
    }


def counterfactual_report(network: nn.Module, params, size: int = 128,
                          attributes: Sequence[str] = GRADED_ATTRIBUTES, blur_sigma: float = 1.0) -> dict:
    """How well the oracle reads an attribute switched on the same face: per attribute, each
    face rendered with it switched (on where off, off where on), and the share the oracle reads
    as switched. This is the ceiling of every method evaluation's attribute success (its
    `true_success`): an edit the oracle cannot see cannot be graded a success. `blurred` is the
    same share on those faces blurred by `blur_sigma` px, as soft as a small generator draws them."""
    from ml.evaluation.faces import toggled
    from ml.oracles.data import render_params
    from ml.oracles.training import gaussian_blur

    column = {name: index for index, name in enumerate(world_attributes())}
    per_attribute = {}
    for name in attributes:
        switched, target = toggled(params, name)
        faces = render_params(switched, size)
        soft = gaussian_blur(torch.from_numpy(faces.images).permute(0, 3, 1, 2).float(), blur_sigma)
        soft = soft.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        seen, seen_soft = (np.where(run_in_batches(network, images)["attributes"].numpy()[:, column[name]] > 0, 1, -1)
                           for images in (faces.images, soft))
        hit = seen == target
        added, removed = target > 0, target < 0
        rates = [float(hit[group].mean()) for group in (added, removed) if group.any()]
        per_attribute[name] = {"accuracy": float(hit.mean()), "balanced_accuracy": float(np.mean(rates)),
                               "added": float(hit[added].mean()) if added.any() else None,
                               "removed": float(hit[removed].mean()) if removed.any() else None,
                               "blurred": float((seen_soft == target).mean()),
                               "faces": int(len(hit))}
    return {"attributes": per_attribute, "blur_sigma": blur_sigma,
            "mean_accuracy": float(np.mean([v["accuracy"] for v in per_attribute.values()])),
            "mean_balanced_accuracy": float(np.mean([v["balanced_accuracy"] for v in per_attribute.values()])),
            "mean_blurred_accuracy": float(np.mean([v["blurred"] for v in per_attribute.values()]))}


# --- identity -------------------------------------------------------------------------------------

def verification_pairs(identity: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every face, one pair with another view of its identity and one with a stranger.

    Returns (first indices, second indices, same-identity flags); faces whose identity has one
    view only get no positive pair."""
    rng = np.random.default_rng(seed)
    by_identity: dict[int, list[int]] = {}
    for index, person in enumerate(identity.tolist()):
        by_identity.setdefault(person, []).append(index)
    first, second, same = [], [], []
    for index, person in enumerate(identity.tolist()):
        others = [other for other in by_identity[person] if other != index]
        if others:
            first.append(index), second.append(int(rng.choice(others))), same.append(True)
        stranger = int(rng.integers(len(identity)))
        while identity[stranger] == person:
            stranger = int(rng.integers(len(identity)))
        first.append(index), second.append(stranger), same.append(False)
    return np.array(first), np.array(second), np.array(same)


def best_threshold(similarity: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The cosine threshold with the highest pair accuracy, and that accuracy."""
    order = np.argsort(similarity)
    sorted_similarity, sorted_same = similarity[order], same[order]
    # threshold between sorted[i-1] and sorted[i]: pairs below are called different
    negatives_below = np.concatenate([[0], np.cumsum(~sorted_same)])
    positives_above = np.concatenate([[0], np.cumsum(sorted_same[::-1])])[::-1]
    correct = negatives_below + positives_above
    best = int(np.argmax(correct))
    if best == 0:
        threshold = sorted_similarity[0] - 1e-6
    elif best == len(sorted_similarity):
        threshold = sorted_similarity[-1] + 1e-6
    else:
        threshold = 0.5 * (sorted_similarity[best - 1] + sorted_similarity[best])
    return float(threshold), float(correct[best] / len(similarity))


def cosine(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1).numpy()


def verification_report(network: nn.Module, faces: FaceSet, threshold: float | None = None,
                        seed: int = 0, bins: Sequence[tuple[float, float]] = YAW_BINS) -> dict:
    """Pair accuracy overall and by the yaw difference between the two faces of a pair.

    With no threshold given, the best one on these faces is chosen (and reported)."""
    embeddings = run_in_batches(network, faces.images)
    first, second, same = verification_pairs(faces.identity, seed)
    similarity = cosine(embeddings[first], embeddings[second])
    if threshold is None:
        threshold, _ = best_threshold(similarity, same)
    correct = (similarity > threshold) == same
    gap = np.abs(faces.yaw[first] - faces.yaw[second])
    by_gap = {}
    for low, high in bins:
        inside = (gap >= low) & (gap < high)
        if inside.any():
            by_gap[f"{low}-{high}"] = {"accuracy": float(correct[inside].mean()), "pairs": int(inside.sum())}
    return {"accuracy": float(correct.mean()), "threshold": float(threshold), "pairs": int(len(same)),
            "by_yaw_gap": by_gap,
            "mean_similarity_same": float(similarity[same].mean()) if same.any() else 0.0,
            "mean_similarity_different": float(similarity[~same].mean())}


def frontal_to_yaw_report(network: nn.Module, faces: FaceSet, threshold: float, seed: int = 0) -> dict:
    """Accuracy of (frontal face, face at yaw y) pairs, same or different identity, per |yaw|.

    `faces` holds, per identity, one face at yaw 0 and others at fixed yaws (see
    `ml.oracles.data.pose_ladder`); each non-frontal face is paired with its own frontal face and
    with a stranger's."""
    embeddings = run_in_batches(network, faces.images)
    yaw = np.abs(faces.yaw)
    frontal_rows = np.flatnonzero(yaw < 1e-3)
    frontal_of = {int(faces.identity[row]): row for row in frontal_rows}
    people = np.array(sorted(frontal_of))
    rng = np.random.default_rng(seed)
    rows = {}
    for index in np.flatnonzero(yaw >= 1e-3):
        person = int(faces.identity[index])
        stranger = person
        while stranger == person:
            stranger = int(rng.choice(people))
        for partner, same in ((frontal_of[person], True), (frontal_of[stranger], False)):
            rows.setdefault(round(float(yaw[index])), []).append((index, partner, same))
    table = {}
    for angle in sorted(rows):
        triples = np.array(rows[angle])
        similarity = cosine(embeddings[triples[:, 0]], embeddings[triples[:, 1]])
        same = triples[:, 2].astype(bool)
        table[str(angle)] = {"accuracy": float(((similarity > threshold) == same).mean()),
                             "pairs": int(len(same)),
                             "mean_similarity_same": float(similarity[same].mean())}
    return table
