"""Identity of real photos: dlib's 128-d face descriptor (a ResNet trained for face verification).

Two descriptors closer than 0.6 (Euclidean) are, by dlib's own calibration on LFW, the same person.
For synthetic faces use the identity oracles in ``ml/oracles`` instead: this network never saw them.
"""
from __future__ import annotations

from typing import Union

import numpy as np

from ml.data.align import (
    DEFAULT_MIN_FACE_SIZE,
    DLIB,
    AlignedFace,
    FaceTooSmall,
    ImageSource,
    MultipleFaces,
    NoFaceFound,
    detect_faces,
    open_image,
)

SAME_PERSON_THRESHOLD = 0.6
EMBEDDING_SIZE = 128

FaceInput = Union[ImageSource, AlignedFace]


def face_embedding(face: FaceInput, *, on_multiple: str = "largest", min_face_size: float = DEFAULT_MIN_FACE_SIZE, jitters: int = 0) -> np.ndarray:
    """The 128-d descriptor (float32) of a face: a photo (detected here, largest face) or an :class:`AlignedFace`.

    An aligned face is described from its own crop and landmarks; a photo from the full-resolution
    photo, which keeps more detail. ``jitters`` > 0 averages that many randomly jittered copies
    (slower, slightly more stable). Raises the alignment errors (NoFaceFound, FaceTooSmall, ...).
    """
    if isinstance(face, AlignedFace):
        return _describe(face.crop, face.landmarks, jitters)
    image = np.asarray(open_image(face))
    faces = detect_faces(image)
    if not faces:
        raise NoFaceFound("no face was found in the photo")
    if len(faces) > 1 and on_multiple == "error":
        raise MultipleFaces(len(faces))
    if faces[0].size < min_face_size:
        raise FaceTooSmall(faces[0].size, min_face_size)
    return _describe(image, faces[0].landmarks, jitters)


def _describe(image: np.ndarray, landmarks68: np.ndarray, jitters: int) -> np.ndarray:
    import dlib

    points = [dlib.point(int(round(x)), int(round(y))) for x, y in np.asarray(landmarks68)]
    left, top = np.floor(np.min(landmarks68, axis=0)).astype(int)
    right, bottom = np.ceil(np.max(landmarks68, axis=0)).astype(int)
    shape = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)), points)
    with DLIB.lock:
        descriptor = DLIB.encoder().compute_face_descriptor(np.ascontiguousarray(image), shape, jitters)
    return np.asarray(descriptor, dtype=np.float32)


def identity_distance(first: FaceInput | np.ndarray, second: FaceInput | np.ndarray) -> float:
    """Euclidean distance between two faces' descriptors (photos, aligned faces or 128-d embeddings)."""
    return float(np.linalg.norm(_as_embedding(first) - _as_embedding(second)))


def same_person(first: FaceInput | np.ndarray, second: FaceInput | np.ndarray, threshold: float = SAME_PERSON_THRESHOLD) -> bool:
    return identity_distance(first, second) < threshold


def _as_embedding(value) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.shape == (EMBEDDING_SIZE,):
        return value.astype(np.float32)
    return face_embedding(value)
