"""The reference renderer: the scene formulas on torch tensors, every pixel marched in lockstep.

Slow (tens of faces per second) but always available and easy to read; the GL backend must
match it. Work is laid out as [faces, pixels]; per-face values broadcast as [faces, 1].
"""
from __future__ import annotations

import numpy as np
import torch

from . import scene
from .ops import TorchOps
from .pack import CAMERA_CENTRE_Y, CAMERA_HALF_EXTENT, CAMERA_Z, pack_fields

M = TorchOps()


class TorchFaceValues:
    """`q.<field>` for the scene: one column of the packed matrix, shaped [faces, 1]."""

    def __init__(self, packed: torch.Tensor):
        self._columns = {name: packed[:, i:i + 1] for i, name in enumerate(pack_fields())}

    def __getattr__(self, name):
        try:
            return self.__dict__["_columns"][name]
        except KeyError:
            raise AttributeError(name) from None


def screen_coordinates(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen x and y (head units) of every pixel centre, row-major from the top-left, [1, H*W]."""
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    sy, sx = torch.meshgrid(-centres, centres, indexing="ij")
    sx = sx.reshape(1, -1) * CAMERA_HALF_EXTENT
    sy = sy.reshape(1, -1) * CAMERA_HALF_EXTENT + CAMERA_CENTRE_Y
    return sx, sy


def camera_rays(q, sx, sy):
    """Orthographic rays in head coordinates: origins and the common direction."""
    ox = q.rt00 * sx + q.rt01 * sy + q.rt02 * CAMERA_Z
    oy = q.rt10 * sx + q.rt11 * sy + q.rt12 * CAMERA_Z
    oz = q.rt20 * sx + q.rt21 * sy + q.rt22 * CAMERA_Z
    return ox, oy, oz, q.rt02 + 0 * sx, q.rt12 + 0 * sx, q.rt22 + 0 * sx


def bounding_interval(ox, oy, oz, dx, dy, dz):
    """Where each ray is inside the bounding sphere; empty (t0 = t1) for rays that miss it."""
    tc = -(ox * dx + oy * dy + oz * dz)
    b2 = ox * ox + oy * oy + oz * oz - tc * tc
    half = torch.sqrt(torch.clamp(scene.BOUND_RADIUS ** 2 - b2, min=0.0))
    return tc - half, tc + half


def march(q, ox, oy, oz, dx, dy, dz):
    """Sphere tracing, first on the cheap proxy, then on the full scene; returns the hit
    distance (or the closest approach), hit flags, and the smallest distance seen (for
    anti-aliased silhouettes). Mirrors the GLSL loops statement by statement."""
    t, t_end = bounding_interval(ox, oy, oz, dx, dy, dz)
    near = torch.clamp(scene.NEAR_FRACTION * q.pix, min=0.06) + 0 * t
    done = torch.zeros_like(t, dtype=torch.bool)
    for _ in range(scene.PROXY_STEPS):
        done = done | (t > t_end)
        d = scene.proxy_sdf(M, q, ox + dx * t, oy + dy * t, oz + dz * t)
        done = done | (d < near)
        t = torch.where(done, t, t + d)
        if bool(done.all()):
            break
    epsilon = scene.HIT_FRACTION * q.pix
    done = torch.zeros_like(t, dtype=torch.bool)
    hit = torch.zeros_like(done)
    d_min = torch.full_like(t, 1e9)
    t_min = t.clone()
    for _ in range(scene.MARCH_STEPS):
        done = done | (t > t_end)
        d = scene.scene_sdf(M, q, ox + dx * t, oy + dy * t, oz + dz * t)
        active = ~done
        closer = active & (d < d_min)
        d_min = torch.where(closer, d, d_min)
        t_min = torch.where(closer, t, t_min)
        arrived = active & (d < epsilon)
        hit = hit | arrived
        done = done | arrived
        t = torch.where(done, t, t + scene.STEP_SCALE * d)
        if bool(done.all()):
            break
    return torch.where(hit, t, t_min), hit, d_min


NORMAL_STEP = 0.004


def surface_normal(sdf, q, x, y, z, d0):
    """The gradient of `sdf` by forward differences from d0, its value at (x, y, z), which the
    march has already paid for: three evaluations instead of a tetrahedron's four."""
    nx = sdf(M, q, x + NORMAL_STEP, y, z) - d0
    ny = sdf(M, q, x, y + NORMAL_STEP, z) - d0
    nz = sdf(M, q, x, y, z + NORMAL_STEP) - d0
    inv = torch.rsqrt(nx * nx + ny * ny + nz * nz + 1e-12)
    return nx * inv, ny * inv, nz * inv


def render_packed(packed: np.ndarray, size: int) -> dict:
    """Render packed faces; returns float rgb [N,H,W,3], label and line [N,H,W] uint8, and depth
    (camera z of the surface, 1e3 for background) [N,H,W] float32."""
    q = TorchFaceValues(torch.from_numpy(packed))
    sx, sy = screen_coordinates(size)
    with torch.no_grad():
        ox, oy, oz, dx, dy, dz = camera_rays(q, sx, sy)
        t, hit, d_min = march(q, ox, oy, oz, dx, dy, dz)
        cover = torch.where(hit, torch.ones_like(t), torch.clamp(1.0 - d_min / q.pix, 0.0, 1.0))
        x, y, z = ox + dx * t, oy + dy * t, oz + dz * t
        nx, ny, nz = surface_normal(scene.scene_sdf, q, x, y, z, scene.scene_sdf(M, q, x, y, z))
        r, g, b, label, line = scene.shade(M, q, ox, oy, oz, dx, dy, dz, t, cover, nx, ny, nz, sx, sy)
        depth = torch.where(cover >= 0.5, t + CAMERA_Z, torch.full_like(t, 1e3))
    n = packed.shape[0]
    rgb = torch.stack([r, g, b], -1).reshape(n, size, size, 3)
    return {
        "rgb": np.round(rgb.numpy() * 255.0).astype(np.uint8),
        "label": np.round(label.numpy()).astype(np.uint8).reshape(n, size, size),
        "line": (line.numpy() > 0.5).reshape(n, size, size),
        "depth": depth.numpy().astype(np.float32).reshape(n, size, size),
    }
