"""Seeded sampling of faces, with realistic attribute correlations of adjustable strength.

`correlation` blends every conditional probability with its marginal: 0 draws attributes
independently (with CelebA-like frequencies), 1 uses the conditionals below (beards mostly on men,
makeup mostly on women, grey hair mostly on the old, bald excludes bangs, ...).
"""
from __future__ import annotations

import numpy as np

from .params import (
    ATTRIBUTE_INDEX, ATTRIBUTES, IDENTITY_FIELDS, IDENTITY_INDEX, SCENE_FIELDS, STYLES, FaceParams,
)

POSE_RANGE = {"yaw": 75.0, "pitch": 20.0, "roll": 10.0}
# Head-pose distributions. "wide": yaw uniform over +-75 degrees, the MultiPIE-like spread that
# frontalization needs. "celeba": the near-frontal faces a CelebA crop holds (yaw normal with
# sd 18 degrees, clipped at +-60), for the methods that edit CelebA-aligned faces. Both draw the
# same random numbers, so a seed gives the same people, attributes and scenes in either.
POSES = ("wide", "celeba")
CELEBA_YAW_SD, CELEBA_YAW_LIMIT = 18.0, 60.0


def _blend(marginal: float, conditional, correlation: float):
    return (1.0 - correlation) * marginal + correlation * conditional


def _intensity(rng, on: np.ndarray) -> np.ndarray:
    """Bimodal intensities: present in (0.6, 1], absent in [0, 0.3)."""
    n = on.shape[0]
    return np.where(on, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.3, n)).astype(np.float32)


def identity_ids(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 7]).integers(0, 2**62, size=n, dtype=np.int64)


def _identity_draws(identity: int, correlation: float):
    """Shape vector and the person's own attributes, from the identity id alone."""
    rng = np.random.default_rng([int(identity), 11])
    shape = rng.uniform(-1.0, 1.0, len(IDENTITY_FIELDS)).astype(np.float32)
    for name in ("skin_tone", "hair_length", "hair_phase", "iris_hue", "hair_tint"):
        shape[IDENTITY_INDEX[name]] = rng.uniform(0.0, 1.0)
    draw = rng.uniform(size=32)
    on = {}
    male = draw[0] < 0.42
    young = draw[1] < 0.75
    on["Male"], on["Young"] = male, young
    old = not young
    on["Pale_Skin"] = draw[2] < _blend(0.05, 0.07 if not male else 0.03, correlation)
    # hair colour: one of four or "other" (auburn / dark undetermined)
    p_gray = _blend(0.05, 0.16 if old else 0.003, correlation)
    p_blond = _blend(0.15, 0.03 if male else 0.26, correlation)
    u = draw[3]
    colours = ("Gray_Hair", "Blond_Hair", "Black_Hair", "Brown_Hair")
    edges = np.cumsum([p_gray, p_blond, 0.25, 0.22])
    chosen = next((c for c, e in zip(colours, edges) if u < e), None)
    for c in colours:
        on[c] = c == chosen
    p_bald = _blend(0.03, (0.14 if old else 0.03) if male else 0.0, correlation)
    on["Bald"] = draw[4] < p_bald
    on["Receding_Hairline"] = (not on["Bald"]) and draw[5] < _blend(
        0.08, (0.28 if old else 0.08) if male else 0.02, correlation)
    u = draw[6]
    p_wavy = _blend(0.32, 0.15 if male else 0.45, correlation)
    on["Wavy_Hair"] = (not on["Bald"]) and u < p_wavy
    on["Straight_Hair"] = (not on["Bald"]) and p_wavy <= u < p_wavy + 0.25
    on["Arched_Eyebrows"] = draw[7] < _blend(0.27, 0.05 if male else 0.43, correlation)
    on["Bushy_Eyebrows"] = draw[8] < _blend(0.14, 0.27 if male else 0.05, correlation)
    on["Narrow_Eyes"] = draw[9] < 0.12
    on["Big_Nose"] = draw[10] < _blend(0.24, (0.38 if male else 0.12) + (0.12 if old else 0.0), correlation)
    on["Big_Lips"] = draw[11] < _blend(0.24, 0.14 if male else 0.31, correlation)
    on["Bags_Under_Eyes"] = draw[12] < _blend(0.2, 0.5 if old else 0.12, correlation)
    on["Chubby"] = draw[13] < _blend(0.06, 0.15 if old else 0.03, correlation)
    # hair length is part of identity: mostly short for men, long for women
    long_hair = draw[14] < _blend(0.5, 0.12 if male else 0.8, correlation)
    shape[IDENTITY_INDEX["hair_length"]] = (
        rng.uniform(0.45, 1.0) if long_hair and not on["Bald"] else rng.uniform(0.0, 0.2))
    intensities = {name: (rng.uniform(0.6, 1.0) if flag else rng.uniform(0.0, 0.3))
                   for name, flag in on.items()}
    return shape, intensities, draw[15:]


def _yaw(uniform: np.ndarray, pose: str) -> np.ndarray:
    """Yaw in degrees from uniform draws in (-1, 1), under the named pose distribution."""
    if pose == "wide":
        return uniform * POSE_RANGE["yaw"]
    if pose == "celeba":
        from scipy.special import ndtri

        normal = ndtri(np.clip((uniform + 1.0) / 2.0, 1e-9, 1.0 - 1e-9))
        return np.clip(normal * CELEBA_YAW_SD, -CELEBA_YAW_LIMIT, CELEBA_YAW_LIMIT)
    raise ValueError(f"pose must be one of {POSES}, got {pose!r}")


def sample_faces(n: int, seed: int = 0, identities=None, correlation: float = 1.0,
                 pose: str = "wide") -> FaceParams:
    """Draw `n` faces. Identity ids come from the seed unless given; `pose` names the head-pose
    distribution (POSES)."""
    if pose not in POSES:
        raise ValueError(f"pose must be one of {POSES}, got {pose!r}")
    ids = identity_ids(n, seed) if identities is None else np.asarray(identities, dtype=np.int64)
    if ids.shape != (n,):
        ids = np.resize(ids, n)
    c = float(np.clip(correlation, 0.0, 1.0))
    shapes = np.zeros((n, len(IDENTITY_FIELDS)), np.float32)
    intensities = np.zeros((n, len(ATTRIBUTES)), np.float32)
    for i, identity in enumerate(ids):
        shape, person, _ = _identity_draws(identity, c)
        shapes[i] = shape
        for name, value in person.items():
            intensities[i, ATTRIBUTE_INDEX[name]] = value

    rng = np.random.default_rng([int(seed), 3])
    col = lambda name: intensities[:, ATTRIBUTE_INDEX[name]] > 0.5  # noqa: E731
    male, old, bald = col("Male"), ~col("Young"), col("Bald")
    u = lambda: rng.uniform(size=n)  # noqa: E731

    smiling = u() < 0.48
    mouth_open = u() < _blend(0.48, np.where(smiling, 0.7, 0.25), c)
    glasses = u() < _blend(0.12, np.where(old, 0.3, 0.08), c)
    bangs = (u() < _blend(0.16, np.where(male, 0.06, 0.26), c)) & ~bald
    makeup = u() < _blend(0.38, np.where(male, 0.01, 0.65), c)
    lipstick = u() < _blend(0.47, np.where(male, 0.01, np.where(makeup, 0.9, 0.45)), c)
    beard = u() < _blend(0.17, np.where(male, 0.38, 0.0), c)
    mustache = u() < _blend(0.05, np.where(male, np.where(beard, 0.35, 0.06), 0.0), c)
    goatee = (u() < _blend(0.07, np.where(male, 0.14, 0.0), c)) & ~beard
    sideburns = u() < _blend(0.06, np.where(male, np.where(beard, 0.4, 0.06), 0.0), c)
    per_image = {
        "Smiling": smiling, "Mouth_Slightly_Open": mouth_open, "Eyeglasses": glasses,
        "Bangs": bangs, "Heavy_Makeup": makeup, "Wearing_Lipstick": lipstick,
        "Mustache": mustache, "Goatee": goatee, "Sideburns": sideburns,
    }
    for name, on in per_image.items():
        intensities[:, ATTRIBUTE_INDEX[name]] = _intensity(rng, on)
    intensities[:, ATTRIBUTE_INDEX["No_Beard"]] = 1.0 - _intensity(rng, beard)

    styles = {key: rng.integers(0, len(choices), n).astype(np.int64) for key, choices in STYLES.items()}
    # sunglasses are rarer than clear glasses
    styles["Eyeglasses"] = rng.choice(4, n, p=[0.3, 0.3, 0.2, 0.2]).astype(np.int64)

    pose = np.stack([
        _yaw(rng.uniform(-1, 1, n), pose),
        rng.normal(0, 0.4, n).clip(-1, 1) * POSE_RANGE["pitch"],
        rng.normal(0, 0.4, n).clip(-1, 1) * POSE_RANGE["roll"],
    ], axis=1).astype(np.float32)
    scene = rng.uniform(0, 1, (n, len(SCENE_FIELDS))).astype(np.float32)
    return FaceParams(ids, shapes, intensities, styles, pose, scene)
