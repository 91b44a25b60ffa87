"""Identity distance for real photos, from dlib's face descriptor."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ml.data.align import NoFaceFound, align_face
from ml.data.identity import SAME_PERSON_THRESHOLD, face_embedding, identity_distance, same_person

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return face_embedding(FACES / "astronaut.jpg")


def other_people() -> list[np.ndarray]:
    """Three faces of other people from scikit-image's LFW subset, enlarged so dlib can see them."""
    faces = data.lfw_subset()[:3]
    photos = []
    for face in faces:
        enlarged = Image.fromarray((face * 255).astype(np.uint8)).resize((200, 200), Image.LANCZOS)
        canvas = Image.new("L", (320, 320), 128)
        canvas.paste(enlarged, (60, 60))
        photos.append(np.asarray(canvas))
    return photos


def test_embedding_is_128_floats(astronaut):
    assert astronaut.shape == (128,) and astronaut.dtype == np.float32


@pytest.mark.parametrize("name", ["astronaut_exif_rotated.jpg", "astronaut_grey.jpg", "astronaut_cmyk.jpg", "two_faces.jpg"])
def test_the_same_person_is_close(astronaut, name):
    assert identity_distance(astronaut, FACES / name) < 0.3
    assert same_person(astronaut, FACES / name)


@pytest.mark.parametrize("style", ["ffhq", "celeba"])
def test_aligned_faces_are_described_from_their_crop(astronaut, style):
    aligned = align_face(FACES / "astronaut.jpg", style=style, size=128)
    assert identity_distance(astronaut, aligned) < 0.3


def test_other_people_are_far(astronaut):
    for photo in other_people():
        assert identity_distance(astronaut, photo) > SAME_PERSON_THRESHOLD


def test_no_face_has_no_embedding():
    with pytest.raises(NoFaceFound):
        face_embedding(FACES / "coffee.jpg")
