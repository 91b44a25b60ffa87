"""68 landmarks in the iBUG / dlib layout, from the same feature formulas the paint uses.

Each point is placed in frontal surface coordinates (u, v), lifted onto the skin surface by a
short march along the head's depth axis, rotated into the camera and projected. The jaw points
are 3-D points on the jaw line (the 300W-LP "3D" convention): at large yaw the far-side ones are
hidden, and are flagged so. Visibility compares each point's depth with the rendered depth map.

Index layout (image left = the subject's right): 0-16 jaw from image left to right, 17-21 and
22-26 brows (image left, then right; outer to inner, inner to outer), 27-30 nose bridge, 31-35
nostrils, 36-41 and 42-47 eyes (clockwise from the image-left corner), 48-59 outer lips, 60-67
inner lips.
"""
from __future__ import annotations

import numpy as np
import torch

from . import scene
from .ops import TorchOps
from .pack import CAMERA_CENTRE_Y, CAMERA_HALF_EXTENT, rotation
from .torch_backend import TorchFaceValues

M = TorchOps()
LANDMARK_COUNT = 68
LIFT_STEPS = 24
VISIBILITY_TOLERANCE = 0.06


def _eye_points(q, side):
    """Six eye points for one eye; side -1 is the image-left eye (dlib 36-41)."""
    cx, cy, w, up, low = scene.eye_shape(M, q, side)
    pts = []
    # dlib goes clockwise from the image-left corner: corner, 2 upper, corner, 2 lower
    for t, lid in ((-1.0, 0.0), (-0.35, 1.0), (0.35, 1.0), (1.0, 0.0), (0.35, -1.0), (-0.35, -1.0)):
        x = cx + t * w
        dx = (x - cx) * side
        tt = dx / w
        bend = 1.0 - tt * tt
        if lid > 0:
            height = up * bend * (1.0 + 0.25 * tt)
        else:
            height = low * bend * lid
        pts.append((x, cy + q.eye_tilt * dx + height))
    return pts


def _brow_points(q, side):
    pts = []
    order = (-1.0, -0.5, 0.0, 0.5, 1.0) if side > 0 else (1.0, 0.5, 0.0, -0.5, -1.0)
    for t in order:  # image left to right for both brows
        dx = t * q.brow_len * 0.95
        x = side * (q.eye_x + 0.015) + side * dx
        _, _, centre = scene.brow_curve(M, q, x, side)
        pts.append((x, centre))
    return pts


def _mouth_points(q):
    outer, inner = [], []
    for t in (-1.0, -0.6, -0.25, 0.0, 0.25, 0.6, 1.0):  # 48-54: left corner, upper lip, right corner
        x = t * q.mouth_w
        _, _, centre, opening, top, bottom = scene.mouth_shape(M, q, x)
        outer.append((x, top if abs(t) < 1 else centre))
    lower = []
    for t in (0.6, 0.25, 0.0, -0.25, -0.6):  # 55-59: lower lip from right to left
        x = t * q.mouth_w
        _, _, centre, opening, top, bottom = scene.mouth_shape(M, q, x)
        lower.append((x, bottom))
    outer += lower
    for t in (-0.85, -0.35, 0.0, 0.35, 0.85):  # 60-64
        x = t * q.mouth_w
        _, _, centre, opening, top, bottom = scene.mouth_shape(M, q, x)
        inner.append((x, centre if abs(t) > 0.8 else centre + opening))
    for t in (0.35, 0.0, -0.35):  # 65-67
        x = t * q.mouth_w
        _, _, centre, opening, top, bottom = scene.mouth_shape(M, q, x)
        inner.append((x, centre - opening))
    return outer, inner


def frontal_points(q) -> list:
    """The 51 non-jaw points (17-67) as (u, v) tensor pairs of shape [N, 1]."""
    pts = _brow_points(q, -1.0) + _brow_points(q, 1.0)
    zero = 0.0 * q.eye_y
    for k in range(4):  # 27-30 bridge from between the eyes to the tip
        pts.append((zero, q.eye_y + (q.nose_tip_y - q.eye_y) * k / 3.0))
    base = q.nose_tip_y - q.nose_tip_r * 0.6
    for t in (-1.0, -0.5, 0.0, 0.5, 1.0):  # 31-35
        pts.append((t * q.nose_w * 0.9, base - 0.015 * (1 - abs(t)) + 0.02 * abs(t)))
    pts += _eye_points(q, -1.0) + _eye_points(q, 1.0)
    outer, inner = _mouth_points(q)
    return pts + outer + inner


def lift_rays(q) -> tuple:
    """Origin and direction [N, 68] of the ray that lifts each landmark onto its surface, and
    the jaw flag [1, 68]. Jaw rays run toward the head's axis, from the right ear round the chin
    to the left ear; the others run straight back from in front of the face."""
    pts = frontal_points(q)
    u = torch.cat([p[0] + 0.0 * q.eye_y for p in pts], 1)
    v = torch.cat([p[1] + 0.0 * q.eye_y for p in pts], 1)
    s = torch.linspace(-1.0, 1.0, 17)[None]
    angle = s * 1.5
    chin_bottom = q.chin_y - q.chin_r * 0.95
    jaw_y = chin_bottom + (q.ear_y - 0.04 - chin_bottom) * s.abs() ** 1.7
    zero = 0.0 * jaw_y
    origin = [torch.cat(pair, 1) for pair in ((torch.sin(angle) * 1.6 + zero, u), (jaw_y, v),
                                              (-torch.cos(angle) * 1.6 + zero, torch.full_like(u, -2.0)))]
    direction = [torch.cat(pair, 1) for pair in ((-torch.sin(angle) + zero, 0.0 * u), (zero, 0.0 * u),
                                                 (torch.cos(angle) + zero, 1.0 + 0.0 * u))]
    jaw = torch.cat([torch.ones(1, 17), torch.zeros(1, len(pts))], 1)
    return (*origin, *direction, jaw)


def head_points(packed: np.ndarray) -> np.ndarray:
    """Landmark positions in head coordinates [N, 68, 3]: every ray marched
    LIFT_STEPS times onto `scene.landmark_sdf` (the GL backend runs the same march in GLSL)."""
    q = TorchFaceValues(torch.from_numpy(packed))
    ox, oy, oz, dx, dy, dz, jaw = lift_rays(q)
    t = torch.zeros_like(ox)
    for _ in range(LIFT_STEPS):
        t = t + scene.landmark_sdf(M, q, ox + dx * t, oy + dy * t, oz + dz * t, jaw)
    return torch.stack([ox + dx * t, oy + dy * t, oz + dz * t], -1).numpy()


def project(points: np.ndarray, pose: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (x, y) [N, 68, 2] and camera depth [N, 68] of head-frame points."""
    cam = np.einsum("nij,nkj->nki", rotation(pose), points.astype(np.float64))
    px = (cam[..., 0] / CAMERA_HALF_EXTENT + 1.0) * 0.5 * size
    py = (1.0 - (cam[..., 1] - CAMERA_CENTRE_Y) / CAMERA_HALF_EXTENT) * 0.5 * size
    return np.stack([px, py], -1).astype(np.float32), cam[..., 2].astype(np.float32)


def landmarks(packed: np.ndarray, pose: np.ndarray, depth: np.ndarray, size: int,
              points: np.ndarray | None = None):
    """Pixel landmarks [N, 68, 2] and visibility [N, 68] against the rendered depth map.
    `points`: the head-frame points if a backend has lifted them already (else computed here)."""
    if points is None:
        with torch.no_grad():
            points = head_points(packed)
    xy, z = project(points, pose, size)
    col = np.clip(np.floor(xy[..., 0]).astype(int), 0, size - 1)
    row = np.clip(np.floor(xy[..., 1]).astype(int), 0, size - 1)
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < size) & (xy[..., 1] >= 0) & (xy[..., 1] < size)
    surface = depth[np.arange(len(depth))[:, None], row, col]
    tolerance = VISIBILITY_TOLERANCE + 1.5 * 2.0 * CAMERA_HALF_EXTENT / size
    visible = inside & (z <= surface + tolerance)
    return xy, visible
