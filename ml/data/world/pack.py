"""From FaceParams to the flat per-face vector the scene reads (`q.<field>`).

Everything that is constant over a face (rotation, light in head coordinates, colours, feature
sizes after attribute effects) is computed here once in numpy, so both backends read the same
numbers and the per-pixel code stays small.
"""
from __future__ import annotations

import functools

import numpy as np

from .params import ATTRIBUTE_INDEX, IDENTITY_INDEX, SCENE_INDEX, FaceParams

CAMERA_HALF_EXTENT = 1.22  # half the image side, in head units
CAMERA_CENTRE_Y = -0.1
CAMERA_Z = -3.0

SKIN_TONES = np.array([
    (0.97, 0.82, 0.71), (0.91, 0.71, 0.57), (0.80, 0.58, 0.43), (0.60, 0.41, 0.28),
    (0.38, 0.25, 0.17),
], np.float32)
HAIR_COLOURS = {
    "Black_Hair": (0.05, 0.045, 0.045), "Brown_Hair": (0.32, 0.19, 0.1),
    "Blond_Hair": (0.88, 0.73, 0.45), "Gray_Hair": (0.72, 0.72, 0.74),
}
OTHER_HAIR = (0.5, 0.22, 0.1)  # auburn: the colour when no hair-colour attribute is on
IRIS_COLOURS = np.array([(0.35, 0.2, 0.1), (0.2, 0.12, 0.07), (0.3, 0.5, 0.75), (0.3, 0.5, 0.3),
                         (0.5, 0.4, 0.2)], np.float32)
LIPSTICK_COLOURS = np.array([(0.72, 0.06, 0.12), (0.9, 0.38, 0.55), (0.42, 0.08, 0.25),
                             (0.95, 0.42, 0.3)], np.float32)
SHADOW_COLOURS = np.array([(0.42, 0.26, 0.2), (0.3, 0.42, 0.75), (0.5, 0.28, 0.62),
                           (0.3, 0.55, 0.35)], np.float32)
FRAME_COLOURS = np.array([(0.04, 0.04, 0.05), (0.8, 0.62, 0.22), (0.78, 0.78, 0.82),
                          (0.38, 0.2, 0.08), (0.75, 0.08, 0.1)], np.float32)
FRAME_WIDTHS = np.array([0.014, 0.02, 0.042, 0.022], np.float32)


def effect(intensity: np.ndarray) -> np.ndarray:
    """How strongly an attribute shows: absent intensities (< 0.3, as sampled) show nothing."""
    return np.clip((intensity - 0.3) / 0.55, 0.0, 1.0)


def hsv(h, s, v):
    h = (h % 1.0) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(h.shape + (3,), np.float32)
    for k, (r, g, b) in enumerate(table):
        sel = i == k
        out[sel] = np.stack([np.broadcast_to(c, h.shape)[sel] for c in (r, g, b)], -1)
    return out


def rotation(pose: np.ndarray) -> np.ndarray:
    """Camera-from-head rotations R = Rz(roll) Ry(yaw) Rx(pitch), [N, 3, 3].

    Positive yaw turns the face toward the image's right, positive pitch tilts it up.
    """
    yaw, pitch, roll = (np.radians(pose[:, i]).astype(np.float64) for i in range(3))
    c, s = np.cos, np.sin
    n = len(pose)
    rx = np.zeros((n, 3, 3)); ry = np.zeros((n, 3, 3)); rz = np.zeros((n, 3, 3))
    a = -pitch
    rx[:, 0, 0] = 1; rx[:, 1, 1] = c(a); rx[:, 1, 2] = -s(a); rx[:, 2, 1] = s(a); rx[:, 2, 2] = c(a)
    b = -yaw
    ry[:, 1, 1] = 1; ry[:, 0, 0] = c(b); ry[:, 0, 2] = s(b); ry[:, 2, 0] = -s(b); ry[:, 2, 2] = c(b)
    g = roll
    rz[:, 2, 2] = 1; rz[:, 0, 0] = c(g); rz[:, 0, 1] = -s(g); rz[:, 1, 0] = s(g); rz[:, 1, 1] = c(g)
    return rz @ ry @ rx


def _front_z(x, y, ellipsoids):
    """z of the frontmost of several ellipsoid surfaces at (x, y) (the face looks to -z)."""
    best = np.full(np.shape(x), 0.0)
    for cy, cz, rx, ry, rz in ellipsoids:
        inside = np.clip(1.0 - (x / rx) ** 2 - ((y - cy) / ry) ** 2, 0.0, None)
        best = np.minimum(best, cz - rz * np.sqrt(inside))
    return best


def derive(params: FaceParams, size: int) -> dict:
    """Every per-face scene value, as float arrays [N], in the order `pack_fields()` lists."""
    n = len(params)
    s = {k: params.shape[:, i].astype(np.float64) for k, i in IDENTITY_INDEX.items()}
    raw = {k: params.intensities[:, i].astype(np.float64) for k, i in ATTRIBUTE_INDEX.items()}
    e = {k: effect(v) for k, v in raw.items()}
    sc = {k: params.scene[:, i].astype(np.float64) for k, i in SCENE_INDEX.items()}
    male, age, chubby = e["Male"], 1.0 - raw["Young"], e["Chubby"]
    age = np.clip((age - 0.35) / 0.5, 0.0, 1.0)
    boost = float(np.clip((128.0 / size) ** 0.6, 1.0, 1.8))
    q: dict = {}

    rot = rotation(params.pose)
    head_from_camera = np.transpose(rot, (0, 2, 1))
    for i in range(3):
        for j in range(3):
            q[f"rt{i}{j}"] = head_from_camera[:, i, j]
    q["pix"] = np.full(n, 2.0 * CAMERA_HALF_EXTENT / size)
    q["line_w"] = np.full(n, 0.012 * boost)

    # head shape
    q["cr_cy"], q["cr_cz"] = np.full(n, 0.14), np.full(n, 0.02)
    q["cr_x"] = 0.72 + 0.05 * s["head_width"] + 0.03 * chubby
    q["cr_y"] = 0.9 + 0.04 * s["head_height"]
    q["cr_z"] = 0.86 + 0.04 * s["head_depth"]
    q["jaw_w"] = 0.55 + 0.05 * s["jaw_width"] + 0.05 * male + 0.12 * chubby
    q["jaw_h"] = 0.62 + 0.04 * s["jaw_length"]
    q["jaw_d"] = 0.58 + 0.03 * s["head_depth"] + 0.05 * chubby
    q["jaw_cy"] = -0.33 - 0.03 * s["jaw_length"]
    q["jaw_cz"] = np.full(n, -0.14)
    ellipsoids = [(q["cr_cy"], q["cr_cz"], q["cr_x"], q["cr_y"], q["cr_z"]),
                  (q["jaw_cy"], q["jaw_cz"], q["jaw_w"], q["jaw_h"], q["jaw_d"])]
    q["chin_r"] = 0.15 + 0.02 * s["chin_width"] + 0.025 * male + 0.05 * chubby
    q["chin_w"] = q["chin_r"] * (1.0 + 0.25 * s["chin_width"] + 0.35 * male)
    q["chin_y"] = -0.84 - 0.05 * s["chin_length"] - 0.03 * age - 0.03 * chubby
    q["chin_z"] = -0.37 - 0.03 * s["chin_length"]
    q["cheek_x"], q["cheek_y"] = 0.35 + 0.02 * s["cheekbones"], -0.12 + 0.03 * s["cheekbones"]
    q["cheek_r"] = 0.15 + 0.02 * s["cheekbones"] + 0.05 * chubby
    protrude = 0.03 + 0.02 * s["cheekbones"] + 0.05 * chubby
    q["cheek_z"] = _front_z(q["cheek_x"], q["cheek_y"], ellipsoids) + q["cheek_r"] - protrude

    # eyes and brows
    q["eye_y"] = 0.0 + 0.04 * s["eye_height"]
    q["eye_x"] = 0.3 + 0.025 * s["eye_spacing"]
    q["eye_w"] = 0.125 + 0.012 * s["eye_size"]
    q["eye_h"] = (0.056 + 0.008 * s["eye_size"]) * boost ** 0.3
    q["eye_tilt"] = 0.12 * s["eye_tilt"]
    q["iris_r"] = q["eye_h"] * 0.95
    q["gaze"] = 0.015 * s["gaze"]
    q["narrow"] = e["Narrow_Eyes"]
    q["ridge_r"] = np.full(n, 0.07)
    q["ridge_y"] = q["eye_y"] + 0.12
    q["ridge_z"] = (_front_z(np.zeros(n), q["ridge_y"], ellipsoids) + q["ridge_r"]
                    - 0.015 * (1 + s["brow_ridge"]) - 0.02 * male)
    q["brow_gap"] = 0.14 + 0.025 * s["brow_height"] - 0.015 * male
    q["brow_len"] = 0.16 + 0.02 * s["brow_length"] + 0.01 * male + 0.025 * e["Bushy_Eyebrows"]
    q["brow_th"] = (0.017 + 0.022 * e["Bushy_Eyebrows"] + 0.006 * male) * boost ** 0.5
    q["bushy"] = e["Bushy_Eyebrows"]
    q["brow_arch"] = 0.012 + 0.07 * e["Arched_Eyebrows"] * boost ** 0.5
    q["brow_peak"] = 0.1 + 0.35 * e["Arched_Eyebrows"]
    q["brow_tilt"] = 0.03 * s["brow_tilt"]

    # nose
    nose_big = e["Big_Nose"]
    q["nose_w"] = 0.085 + 0.015 * s["nose_width"] + 0.04 * nose_big + 0.01 * male
    q["nose_tip_r"] = 0.06 + 0.01 * s["nose_tip"] + 0.03 * nose_big
    q["nose_top_y"] = q["eye_y"] + 0.03
    q["nose_top_z"] = _front_z(np.zeros(n), q["nose_top_y"], ellipsoids) + 0.02
    length = 0.36 + 0.04 * s["nose_length"] + 0.06 * nose_big
    q["nose_tip_y"] = q["eye_y"] - length
    project = 0.17 + 0.03 * s["nose_projection"] + 0.06 * nose_big
    q["nose_tip_z"] = _front_z(np.zeros(n), q["nose_tip_y"], ellipsoids) - project + q["nose_tip_r"]

    # mouth
    smile, mouth_open = e["Smiling"], e["Mouth_Slightly_Open"]
    big_lips = e["Big_Lips"]
    q["mouth_y"] = q["nose_tip_y"] - 0.22 - 0.03 * s["mouth_height"]
    q["mouth_w"] = 0.2 + 0.02 * s["mouth_width"] + 0.05 * smile + 0.025 * big_lips
    q["lip_u"] = (0.038 + 0.008 * s["lip_thickness"] + 0.035 * big_lips - 0.006 * male) * boost ** 0.4
    q["lip_l"] = q["lip_u"] * 1.25
    q["lip_rad"] = 0.05 + 0.025 * big_lips
    q["lip_z"] = _front_z(np.zeros(n), q["mouth_y"], ellipsoids) + q["lip_rad"] - 0.025
    q["smile"] = smile
    q["smile_lift"] = 0.085 * smile * boost
    # a smile shows the teeth; an open mouth more so
    q["open_h"] = (0.032 * mouth_open + 0.022 * smile) * boost
    q["teeth_low"] = mouth_open

    # ears, neck
    q["ear_s"] = 0.18 + 0.02 * s["ear_size"]
    q["ear_y"] = q["eye_y"] - 0.12
    q["ear_z"] = np.full(n, 0.1)
    across = np.sqrt(np.clip(1 - ((q["ear_y"] - q["cr_cy"]) / q["cr_y"]) ** 2
                             - ((q["ear_z"] - q["cr_cz"]) / q["cr_z"]) ** 2, 0.05, None))
    q["ear_x"] = q["cr_x"] * across + 0.01
    q["face_bound"] = np.full(n, 0.95)
    q["neck_r"] = 0.32 + 0.03 * s["neck_width"] + 0.04 * male + 0.05 * chubby

    # hair geometry
    bald = e["Bald"]
    q["bald"] = bald
    q["hair_th"] = (0.065 + 0.03 * s["hair_volume"]) * (1.0 - 0.75 * bald)
    q["hair_vol"] = (0.05 + 0.05 * s["hair_volume"]) * (1.0 - bald)
    # straight hair hangs sleek and even; other hair falls in clumps
    q["hair_lobe"] = 0.022 * (1.0 - e["Straight_Hair"])
    q["hair_phase"] = s["hair_phase"] * 6.283
    q["hair_len"] = s["hair_length"] * (1.0 - bald) * (1.0 - 0.7 * male)
    q["no_curtain"] = (q["hair_len"] <= 0.04).astype(np.float64)
    # bounding spheres for the march's proxy (see scene.proxy_sdf), with room for hair ripples
    q["skull_bound"] = (np.maximum(np.maximum(q["cr_x"], q["cr_y"]), q["cr_z"]) + q["hair_th"]
                        + q["hair_vol"] + 0.15)
    q["hairline"] = q["eye_y"] + 0.5 + 0.04 * s["hairline"]
    q["hair_part"] = 0.14 * s["hair_part"]
    q["part_side"] = np.where(s["hair_part"] >= 0, 1.0, -1.0)
    q["receding"] = e["Receding_Hairline"]
    q["bangs"] = e["Bangs"] * (1.0 - bald)
    # fringe coefficients per style: full, side-swept, thin, curtain (see scene.hairline)
    fringe = np.array([(0.02, 0.012, 0.0, 0.0, 0.0), (0.01, 0.0, 0.36, 0.0, 0.0),
                       (0.04, 0.0, 0.0, 1.0, 0.0), (0.02, 0.0, 0.0, 0.0, 1.0)])[params.styles["Bangs"] % 4]
    for k, name in enumerate(("fr_base", "fr_jag", "fr_sweep", "fr_thin", "fr_curtain")):
        q[name] = fringe[:, k]
    q["bangs_part_off"] = np.clip(q["bangs"] * 2.0, 0.0, 1.0)
    q["sideburns"] = e["Sideburns"] * (1.0 - bald)
    q["wavy"] = e["Wavy_Hair"] * (1.0 - bald)
    q["straight"] = e["Straight_Hair"]

    # colours
    tone = s["skin_tone"] * (len(SKIN_TONES) - 1)
    lo = np.clip(np.floor(tone).astype(int), 0, len(SKIN_TONES) - 2)
    frac = (tone - lo)[:, None]
    skin = SKIN_TONES[lo] * (1 - frac) + SKIN_TONES[lo + 1] * frac
    skin = skin + 0.03 * s["skin_undertone"][:, None] * np.array([1.0, 0.0, -1.0])
    skin = skin * (1.0 - 0.1 * age[:, None]) + 0.1 * age[:, None] * skin.mean(1, keepdims=True)
    skin = skin + (np.array([0.98, 0.9, 0.87]) - skin) * (0.7 * e["Pale_Skin"])[:, None]
    hair = np.zeros((n, 3))
    weight_sum = np.zeros(n)
    for name, colour in HAIR_COLOURS.items():
        hair += e[name][:, None] * np.array(colour)
        weight_sum += e[name]
    hair += np.clip(1.0 - weight_sum, 0.0, None)[:, None] * np.array(OTHER_HAIR)
    hair /= np.maximum(weight_sum, 1.0)[:, None]
    hair *= (0.85 + 0.3 * s["hair_tint"])[:, None]
    beard_colour = hair * 0.62 + 0.02
    brow = hair * 0.55 + np.array([0.06, 0.04, 0.03]) * 0.5
    iris = IRIS_COLOURS[np.clip((s["iris_hue"] * len(IRIS_COLOURS)).astype(int), 0, len(IRIS_COLOURS) - 1)]
    lips = skin * np.array([0.88, 0.58, 0.58])
    lipstick = LIPSTICK_COLOURS[params.styles["Wearing_Lipstick"] % len(LIPSTICK_COLOURS)]
    lips = lips + (lipstick - lips) * (0.95 * e["Wearing_Lipstick"])[:, None]
    shadow = SHADOW_COLOURS[params.styles["Heavy_Makeup"] % len(SHADOW_COLOURS)]
    for prefix, rgb in (("skin", skin), ("hair", hair), ("beard", beard_colour), ("brow", brow),
                        ("lip", lips), ("shadow", shadow)):
        for k, channel in enumerate("rgb"):
            q[f"{prefix}_{channel}"] = rgb[:, k]
    for k, channel in enumerate("rgb"):
        q[f"iris_{channel}_c"] = iris[:, k]

    # grooming and skin details
    q["beard"] = effect(1.0 - raw["No_Beard"])
    q["mustache"], q["goatee"] = e["Mustache"], e["Goatee"]
    q["stubble"] = male * (1.0 - q["beard"])
    q["makeup"] = e["Heavy_Makeup"]
    q["blush"] = 0.45 * e["Heavy_Makeup"]
    q["liner"] = e["Heavy_Makeup"] + 0.3 * (1.0 - male)
    q["age"] = np.clip(age * boost ** 0.5, 0.0, 1.0)
    q["bags"] = e["Bags_Under_Eyes"]
    q["chubby"] = chubby

    # glasses: an elliptic cylinder around the head at eye height, a little in front of it
    gap = 0.1
    across = np.sqrt(np.clip(1 - ((q["eye_y"] - q["cr_cy"]) / q["cr_y"]) ** 2, 0.05, None))
    q["g_a"] = q["cr_x"] * across + gap * 0.5  # the temples hug the head
    q["g_b"] = q["cr_z"] * across + gap
    q["g_cz"] = q["cr_cz"]
    q["g_ue"] = q["g_a"] * np.arcsin(np.clip(q["eye_x"] / q["g_a"], -1, 1))
    style = params.styles["Eyeglasses"] % 4
    q["glasses"] = e["Eyeglasses"]
    q["g_style"] = style.astype(np.float64)
    q["g_frame"] = FRAME_WIDTHS[style] * boost ** 0.5
    frame = FRAME_COLOURS[params.styles["Eyeglasses_color"] % len(FRAME_COLOURS)]
    sunglasses = style == 3
    for k, channel in enumerate("rgb"):
        q[f"frame_{channel}"] = frame[:, k]
        q[f"lens_{channel}"] = np.where(sunglasses, (0.04, 0.05, 0.07)[k], (0.85, 0.9, 0.95)[k])
    q["lens_alpha"] = np.where(sunglasses, 0.88, 0.1)

    # light (direction toward the light, in head coordinates), ambient, background, clothes
    azimuth = np.radians((sc["light_azimuth"] - 0.5) * 120.0)
    elevation = np.radians(10.0 + 40.0 * sc["light_elevation"])
    to_light = np.stack([np.sin(azimuth) * np.cos(elevation), np.sin(elevation),
                         -np.cos(azimuth) * np.cos(elevation)], 1)
    to_light_head = np.einsum("nij,nj->ni", head_from_camera, to_light)
    q["lx"], q["ly"], q["lz"] = to_light_head[:, 0], to_light_head[:, 1], to_light_head[:, 2]
    strength = 0.7 + 0.3 * sc["light_strength"]
    warmth = sc["light_warmth"] - 0.5
    q["light_r"] = strength * (1.0 + 0.12 * warmth)
    q["light_g"] = strength
    q["light_b"] = strength * (1.0 - 0.12 * warmth)
    q["amb"] = 0.32 + 0.15 * sc["ambient"]
    top = hsv(sc["bg_hue"], 0.15 + 0.4 * sc["bg_gradient"], 0.45 + 0.45 * sc["bg_value"])
    bottom = top * (0.55 + 0.3 * sc["bg_gradient"])[:, None]
    cloth = hsv(sc["cloth_hue"], 0.5, 0.15 + 0.6 * sc["cloth_value"])
    for k, channel in enumerate("rgb"):
        q[f"bg_top_{channel}"] = top[:, k]
        q[f"bg_bot_{channel}"] = bottom[:, k]
        q[f"cloth_{channel}"] = cloth[:, k]
    return q


@functools.lru_cache(maxsize=1)
def pack_fields() -> tuple:
    """The names of the packed vector's entries, in order."""
    from .sampler import sample_faces

    return tuple(derive(sample_faces(1, seed=0), 64).keys())


def pack(params: FaceParams, size: int) -> np.ndarray:
    """[N, len(pack_fields())] float32: the scene's per-face inputs."""
    q = derive(params, size)
    return np.stack([np.asarray(q[k], np.float64) for k in pack_fields()], 1).astype(np.float32)
