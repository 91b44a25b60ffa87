"""FaceWorld: sample faces, render them with every label, make counterfactuals."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import warnings

import numpy as np

from . import landmarks as landmark_module
from .pack import pack
from .params import ATTRIBUTES, FaceParams
from .sampler import POSES, sample_faces
from .scene import SEGMENT_CLASSES

GENERATOR_VERSION = "facelab-world-1"
TORCH_CHUNK = 16  # faces per torch pass (memory: a [faces, pixels] tensor per temporary)


@dataclasses.dataclass
class RenderBatch:
    """Everything one render returns; numpy arrays with the batch first."""

    image: np.ndarray  # uint8 [N, H, W, 3]
    segmentation: np.ndarray  # uint8 [N, H, W], SEGMENT_CLASSES ids
    sketch: np.ndarray  # uint8 [N, H, W], 0 background, 255 line
    landmarks: np.ndarray  # float32 [N, 68, 2], pixel (x, y)
    landmark_visible: np.ndarray  # bool [N, 68]
    attributes: np.ndarray  # int8 [N, len(ATTRIBUTES)], +1 / -1
    intensities: np.ndarray  # float32 [N, len(ATTRIBUTES)]
    styles: dict  # style key -> int64 [N], -1 where the attribute is off
    identity: np.ndarray  # int64 [N]
    pose: np.ndarray  # float32 [N, 3] yaw, pitch, roll in degrees
    depth: np.ndarray  # float32 [N, H, W], camera depth (1e3 on background)

    def __len__(self) -> int:
        return len(self.image)


def sketch_from(label: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Line drawing: boundaries between segmentation classes plus the painted lines."""
    edge = np.array(line, dtype=bool)
    edge[:, :, 1:] |= label[:, :, 1:] != label[:, :, :-1]
    edge[:, 1:, :] |= label[:, 1:, :] != label[:, :-1, :]
    return edge.view(np.uint8) * np.uint8(255)


def _source_hash() -> str:
    digest = hashlib.sha256()
    for name in ("scene.py", "pack.py", "sampler.py", "params.py", "landmarks.py"):
        digest.update((pathlib.Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


class FaceWorld:
    """The synthetic face world at one image size.

    backend: "gl" (GLSL on llvmpipe via EGL), "torch" (the reference), or "auto" (gl when it
    can start, else torch with a warning; the FACELAB_WORLD_BACKEND variable can pin it).
    threads: llvmpipe / torch threads (None: leave as set).
    pose: the head-pose distribution of `sample` ("wide" or "celeba", see sampler.POSES).
    """

    def __init__(self, size: int = 128, correlation: float = 1.0, backend: str = "auto",
                 threads: int | None = None, pose: str = "wide"):
        if backend not in ("auto", "gl", "torch"):
            raise ValueError("backend must be 'auto', 'gl' or 'torch'")
        if backend == "auto":  # FACELAB_WORLD_BACKEND=torch pins "auto" (CI without EGL, say)
            backend = os.environ.get("FACELAB_WORLD_BACKEND", "auto")
        self.size = int(size)
        self.correlation = float(correlation)
        if pose not in POSES:
            raise ValueError(f"pose must be one of {POSES}, got {pose!r}")
        self.pose = pose
        self.threads = threads
        self._gl = None
        if backend in ("auto", "gl") and self.size % 4:
            # the GL backend's depth pre-pass works in 4 x 4 pixel blocks
            if backend == "gl":
                raise ValueError(f"the GL backend renders sizes that are multiples of 4, not {self.size}")
            backend = "torch"
        if backend in ("auto", "gl"):
            from . import gl_backend

            try:
                self._gl = gl_backend.get_renderer(threads)
            except RuntimeError as error:
                if backend == "gl":
                    raise
                warnings.warn(f"{error}; falling back to the (slow) torch renderer. Install "
                              "moderngl + glcontext and the Mesa EGL runtime (Debian: libegl1 "
                              "libegl-mesa0 libgl1-mesa-dri libgbm1) for speed.", RuntimeWarning)
        self.backend = "gl" if self._gl is not None else "torch"

    def sample(self, n: int, seed: int = 0, identities=None) -> FaceParams:
        return sample_faces(n, seed=seed, identities=identities, correlation=self.correlation, pose=self.pose)

    def render_maps(self, params: FaceParams) -> dict:
        """Raw maps: rgb, label, line, depth (and from the GL backend the lifted landmarks)."""
        return self._render_packed(pack(params, self.size))

    def _render_packed(self, packed: np.ndarray) -> dict:
        if self._gl is not None:
            return self._gl.render_packed(packed, self.size)
        from . import torch_backend

        parts = [torch_backend.render_packed(packed[i:i + TORCH_CHUNK], self.size)
                 for i in range(0, len(packed), TORCH_CHUNK)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def render(self, params: FaceParams) -> RenderBatch:
        packed = pack(params, self.size)
        maps = self._render_packed(packed)
        points, visible = landmark_module.landmarks(packed, params.pose, maps["depth"], self.size,
                                                    maps.get("points"))
        return RenderBatch(
            image=maps["rgb"],
            segmentation=maps["label"],
            sketch=sketch_from(maps["label"], maps["line"]),
            landmarks=points,
            landmark_visible=visible,
            attributes=params.labels(),
            intensities=params.intensities.astype(np.float32),
            styles=params.shown_styles(),
            identity=params.identity.astype(np.int64),
            pose=params.pose.astype(np.float32),
            depth=maps["depth"],
        )

    def fingerprint(self) -> str:
        """A hash of the generator version, its source and this world's settings."""
        record = {"version": GENERATOR_VERSION, "source": _source_hash(), "size": self.size,
                  "correlation": self.correlation, "pose": self.pose, "attributes": list(ATTRIBUTES),
                  "classes": list(SEGMENT_CLASSES)}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:24]
