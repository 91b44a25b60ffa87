"""ELEGANT graded on held-out synthetic people.

Each source face takes one attribute from an exemplar: a face with the attribute (in some style)
when the source lacks it, one without it when the source has it. The truth is the source rendered
with the exemplar's intensity and styles of that attribute. Exemplar-style fidelity asks the
style oracle whether an added attribute wears the exemplar's style (bangs cut, glasses shape and
colour), counted over the edits where the oracle sees the attribute at all.

Each attribute also gets its block ceiling: the source wearing the block of the truth's own
encoding (same person, same pose), decoded on the source's skips as every edit is. A swap carries
only the block, so no exemplar can give more than that; where the ceiling itself draws no style,
the decoder, not the exemplar's block, is what loses it.
"""
from __future__ import annotations

import numpy as np

from ml.data.world import STYLES
from ml.evaluation import faces as world_faces
from ml.evaluation.edits import encode_all, grade_edits, mean_over, reconstruction
from ml.evaluation.grading import Graders

EXEMPLARS_PER_SIDE = 8


def exemplar_sets(world, attribute: str, count: int, seed: int):
    """(with, without): `count` held-out faces wearing `attribute` in rotating styles, and the
    same people without it."""
    base = world_faces.held_out_params(world, count, seed)
    rng = np.random.default_rng(seed)
    styles = {key: (np.arange(count) + rng.integers(len(STYLES[key]))) % len(STYLES[key])
              for key in world_faces.style_keys(attribute)}
    intensity = rng.uniform(0.8, 1.0, count)
    positive = world_faces.with_attribute_like(base, attribute, intensity, styles)
    negative = world_faces.with_attribute_like(base, attribute, np.full(count, world_faces.ABSENT))
    return world_faces.render(world, positive), world_faces.render(world, negative)


def block_ceiling(editor, latents, truth_images: np.ndarray, controls) -> np.ndarray:
    """Each source given the attribute's block of its own truth's encoding, by the same controls
    as its edit: the best any exemplar's block can do on the source's skips."""
    truth_latents, _ = encode_all(editor, truth_images)
    return np.stack([editor.render(latent, controls, {"exemplar": truth})
                     for latent, truth in zip(latents, truth_latents)])


def style_fidelity(graders: Graders, images: np.ndarray, attribute: str, key: str, wanted: np.ndarray,
                   added: np.ndarray) -> dict:
    """How often the images wear the wanted style of `key`: over the additions where the oracle
    sees the attribute at all (`fidelity`), and over all additions."""
    wears = graders.styles(images, key) == wanted
    shown = added & (graders.labels(images, attribute) > 0)
    return {"shown": int(shown.sum()), "fidelity": float(wears[shown].mean()) if shown.any() else 0.0,
            "all_additions": float(wears[added].mean()) if added.any() else 0.0}


def evaluate(editor, graders: Graders, count: int = 48, seed: int = 10_000,
             pose: str | None = None) -> dict:
    from ml.data.world.params import ATTRIBUTE_INDEX

    world = world_faces.eval_world(editor.image_size, world_faces.pose_for(editor, pose))
    sources = world_faces.render(world, world_faces.held_out_params(world, count, seed))
    latents, encode_ms = encode_all(editor, sources.images)
    per_attribute, fidelity = {}, {}
    for a_index, attribute in enumerate(editor.attributes):
        positive, negative = exemplar_sets(world, attribute, EXEMPLARS_PER_SIDE, seed + 101 + a_index)
        positive_latents, _ = encode_all(editor, positive.images)
        negative_latents, _ = encode_all(editor, negative.images)
        has = sources.has(attribute)
        target = np.where(has, -1, 1).astype(np.int8)
        pick = np.arange(len(sources)) % EXEMPLARS_PER_SIDE
        edited, intensities = [], np.empty(len(sources))
        styles = {key: sources.params.styles[key].copy() for key in world_faces.style_keys(attribute)}
        controls = {f"{attribute}_exemplar": "exemplar", f"{attribute}_strength": 1.0}
        for i, latent in enumerate(latents):
            exemplars, exemplar_latents = (negative, negative_latents) if has[i] else (positive, positive_latents)
            edited.append(editor.render(latent, controls, {"exemplar": exemplar_latents[pick[i]]}))
            intensities[i] = exemplars.params.intensities[pick[i], ATTRIBUTE_INDEX[attribute]]
            if not has[i]:
                for key in styles:
                    styles[key][i] = exemplars.params.styles[key][pick[i]]
        edited = np.stack(edited)
        truth = world_faces.render(world, world_faces.with_attribute_like(sources.params, attribute,
                                                                          intensities, styles))
        ceiling = block_ceiling(editor, latents, truth.images, controls)
        per_attribute[attribute] = {"control": f"{attribute}_exemplar",
                                    **grade_edits(graders, attribute, sources, edited, truth, target)}
        per_attribute[attribute]["block_ceiling"] = float((graders.labels(ceiling, attribute) == target).mean())
        added = target > 0
        for key in styles:
            wears = style_fidelity(graders, edited, attribute, key, styles[key], added)
            fidelity[key] = {
                "edits": int(added.sum()), "with_attribute": wears["shown"],
                "fidelity": wears["fidelity"], "fidelity_all_additions": wears["all_additions"],
                "true_fidelity": style_fidelity(graders, truth.images, attribute, key, styles[key],
                                                added)["all_additions"],
                "block_ceiling": style_fidelity(graders, ceiling, attribute, key, styles[key], added)["fidelity"],
            }
    recon = reconstruction(editor, sources.images, latents)
    summary = {
        "attribute_success": mean_over(per_attribute, "success"),
        "identity_similarity": mean_over(per_attribute, "identity_similarity"),
        "reconstruction_l1": recon["reconstruction_l1"],
        "exemplar_fidelity": float(np.mean([f["fidelity"] for f in fidelity.values()])) if fidelity else float("nan"),
        "outside_change": mean_over(per_attribute, "outside_change"),
        "counterfactual_l1": mean_over(per_attribute, "counterfactual_l1"),
    }
    return {"summary": summary, "attributes": per_attribute, "styles": fidelity,
            "timing": {"encode_ms_mean": encode_ms, **recon}, "faces": len(sources), "seed": seed,
            "pose": world.pose}


# --- figures -------------------------------------------------------------------------------------

def figures(editor, out_dir, seed: int = 20_000, pose: str | None = None) -> dict:
    """The swap grid (per attribute: A, B, A with B's attribute, B with A's) and the two-attribute
    4 x 4 interpolation matrix, as PNGs."""
    from pathlib import Path

    from ml.training.images import make_grid, save_png

    out_dir = Path(out_dir)
    world = world_faces.eval_world(editor.image_size, world_faces.pose_for(editor, pose))
    rows = []
    for index, attribute in enumerate(editor.attributes):
        with_it, without_it = exemplar_sets(world, attribute, 2, seed + index)
        # pair a person wearing it with a different person without it
        for k in range(2):
            a, b = with_it.images[k], without_it.images[1 - k]
            a_swapped, b_swapped = editor.swap(editor.encode(a), editor.encode(b), attribute)
            rows.append(np.stack([a, b, a_swapped, b_swapped]))
    paths = {"swap_grid": str(save_png(make_grid(rows), out_dir / "elegant-swap.png"))}
    if len(editor.attributes) >= 2:
        first, second = editor.attributes[:2]
        params = world_faces.held_out_params(world, 1, seed + 50)
        params = world_faces.with_attribute_like(params, first, np.array([world_faces.ABSENT]))
        params = world_faces.with_attribute_like(params, second, np.array([world_faces.ABSENT]))
        source = world_faces.render(world, params).images[0]
        row_reference = exemplar_sets(world, first, 1, seed + 60)[0].images[0]
        column_reference = exemplar_sets(world, second, 1, seed + 70)[0].images[0]
        matrix = editor.interpolation_matrix(editor.encode(source), editor.encode(row_reference),
                                             editor.encode(column_reference), (first, second), size=4)
        # a header row with the column reference over the last column, and a left column with
        # the source beside the first row and the row reference beside the last
        blank = np.full_like(source, 255)
        rows = [np.stack([blank, blank, blank, blank, column_reference])]
        left = [source, blank, blank, row_reference]
        rows += [np.concatenate([left[r][None], matrix[r]]) for r in range(4)]
        paths["interpolation_matrix"] = str(save_png(make_grid(rows), out_dir / "elegant-matrix.png"))
    return paths


def photo_edits(editor, aligned, seed: int = 30_000) -> list[tuple[str, np.ndarray]]:
    """The photo with each attribute taken from a synthetic exemplar that wears it."""
    world = world_faces.eval_world(editor.image_size, world_faces.pose_for(editor))
    latent = editor.encode(aligned)
    edits = [("reconstruction", editor.render(latent, {}))]
    for index, attribute in enumerate(editor.attributes):
        exemplar = exemplar_sets(world, attribute, 1, seed + index)[0].images[0]
        controls = {f"{attribute}_exemplar": "exemplar", f"{attribute}_strength": 1.0}
        edits.append((f"+{attribute}", editor.render(latent, controls, {"exemplar": editor.encode(exemplar)})))
    return edits
