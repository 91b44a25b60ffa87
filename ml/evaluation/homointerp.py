"""HomoInterpGAN graded on held-out synthetic people.

For one attribute per group, each source's group slider moves it along the model's mean reference
direction toward the attribute (when the source lacks it) or away from it (when it has it).
The truth is the source rendered with that attribute switched, its own style kept. Slider
evenness: along strengths 0, 1/4, ..., 1 the oracle's intensity of the attribute should rise (or
fall) monotonically; we report Spearman's rank correlation between strength and the intensity
moved toward the target, averaged over faces and groups (1 = perfectly ordered). Renders use the
editor's defaults (`keep_detail` among them) for every control the grading does not set.
Each slider also gets its decoder's ceiling: the truth's encoding decoded as an edit of the source
(the source's skip maps and detail), graded as the edit is. No interpolator can show more than that.
"""
from __future__ import annotations

import numpy as np

from ml.evaluation import faces as world_faces
from ml.evaluation.edits import encode_all, grade_edits, mean_over, reconstruction
from ml.evaluation.grading import Graders, spearman
from ml.methods.homointerp.editor import NOT_PREFIX

# The attribute graded for each group of the official layout (others fall back to the group's
# first label that the synthetic world draws).
GRADED_ATTRIBUTE = {"expression": "Smiling", "gender": "Mustache", "hair_color": "Blond_Hair",
                    "hair_style": "Bangs", "age": "Young"}
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def graded_attributes(editor) -> dict[str, str]:
    """{group: attribute} for every labelled group the world and the oracle can grade."""
    from ml.data.world import ATTRIBUTES

    result = {}
    for group, labels in editor._group_labels().items():
        preferred = GRADED_ATTRIBUTE.get(group)
        candidates = ([preferred] if preferred in labels else []) + [label for label in labels if label in ATTRIBUTES]
        if candidates and candidates[0] in ATTRIBUTES:
            result[group] = candidates[0]
    return result


def slider_controls(group: str, attribute: str, add: bool, strength: float) -> dict:
    return {group: float(strength), f"{group}_target": attribute if add else NOT_PREFIX + attribute}


def decoded_truths(editor, latents, truth_images: np.ndarray) -> np.ndarray:
    """Each true counterfactual's encoding rendered as an edit of its source: the source's latent
    with its features replaced by the truth's, no slider moved. That is a perfect interpolator's
    edit (one that lands on E(truth)), decoded with the source's skip maps and detail, as every
    edit of the source is; the truth's own maps would draw more than an edit can."""
    truth_latents, _ = encode_all(editor, truth_images)
    return np.stack([editor.render_edited_features(source, truth["features"])
                     for source, truth in zip(latents, truth_latents)])


def evaluate(editor, graders: Graders, count: int = 48, seed: int = 10_000,
             strengths=STRENGTHS, pose: str | None = None) -> dict:
    world = world_faces.eval_world(editor.image_size, world_faces.pose_for(editor, pose))
    sources = world_faces.render(world, world_faces.held_out_params(world, count, seed))
    latents, encode_ms = encode_all(editor, sources.images)
    per_attribute, evenness = {}, {}
    for group, attribute in graded_attributes(editor).items():
        has = sources.has(attribute)
        truth_params, target = world_faces.toggled(sources.params, attribute)
        # one render per strength; the last (strength 1) is the edit that is graded
        strips = np.stack([
            np.stack([editor.render(latent, slider_controls(group, attribute, not has[i], s))
                      for s in strengths])
            for i, latent in enumerate(latents)])  # [N, S, H, W, 3]
        edited = strips[:, -1]
        truth = world_faces.render(world, truth_params)
        per_attribute[attribute] = {"group": group, "control": group,
                                    **grade_edits(graders, attribute, sources, edited, truth, target)}
        intensity = graders.intensities(strips.reshape(-1, *strips.shape[2:]), attribute).reshape(len(latents), -1)
        toward_target = np.where(has[:, None], -intensity, intensity)  # rising when the slider works
        correlations = [spearman(np.asarray(strengths), row) for row in toward_target]
        ceiling = graders.labels(decoded_truths(editor, latents, truth.images), attribute) == target
        evenness[group] = {"attribute": attribute, "rank_correlation": float(np.mean(correlations)),
                           "intensity_change": float((toward_target[:, -1] - toward_target[:, 0]).mean()),
                           "decoder_ceiling": float(ceiling.mean())}
    recon = reconstruction(editor, sources.images, latents)
    # with detail kept, no edit gives the photo back; the decoder's own error is worth knowing
    decoder = reconstruction(editor, sources.images, latents, {"keep_detail": False})
    summary = {
        "attribute_success": mean_over(per_attribute, "success"),
        "identity_similarity": mean_over(per_attribute, "identity_similarity"),
        "reconstruction_l1": recon["reconstruction_l1"],
        "decoder_reconstruction_l1": decoder["reconstruction_l1"],
        "slider_rank_correlation": float(np.mean([g["rank_correlation"] for g in evenness.values()]))
        if evenness else float("nan"),
        "outside_change": mean_over(per_attribute, "outside_change"),
        "counterfactual_l1": mean_over(per_attribute, "counterfactual_l1"),
    }
    return {"summary": summary, "attributes": per_attribute, "sliders": evenness,
            "timing": {"encode_ms_mean": encode_ms, **recon}, "faces": len(sources), "seed": seed,
            "pose": world.pose, "strengths": list(strengths)}


# --- figures -------------------------------------------------------------------------------------

STRIP_STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0)


def figures(editor, out_dir, seed: int = 20_000, pose: str | None = None) -> dict:
    """Strength strips: per group, one held-out face with the group's slider at 0, 0.5, 1, 1.5, 2
    toward the attribute it lacks."""
    from pathlib import Path

    from ml.training.images import make_grid, save_png

    world = world_faces.eval_world(editor.image_size, world_faces.pose_for(editor, pose))
    rows = []
    for index, (group, attribute) in enumerate(graded_attributes(editor).items()):
        params = world_faces.held_out_params(world, 1, seed + index)
        params = world_faces.with_attribute_like(params, attribute, np.array([world_faces.ABSENT]))
        source = world_faces.render(world, params).images[0]
        latent = editor.encode(source)
        rows.append(np.stack([source] + [editor.render(latent, slider_controls(group, attribute, True, s))
                                         for s in STRIP_STRENGTHS]))
    path = save_png(make_grid(rows), Path(out_dir) / "homointerp-strips.png")
    return {"strength_strips": str(path)}


def photo_edits(editor, aligned, seed: int = 30_000) -> list[tuple[str, np.ndarray]]:
    """The photo with each graded group's slider at 1 toward its attribute (or away, for Young)."""
    latent = editor.encode(aligned)
    edits = [("reconstruction", editor.render(latent, {}))]
    for group, attribute in graded_attributes(editor).items():
        add = attribute != "Young"  # for age, show the slider making the face older
        label = ("+" if add else "-") + attribute
        edits.append((label, editor.render(latent, slider_controls(group, attribute, add, 1.0))))
    return edits
