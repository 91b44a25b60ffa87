"""Real-photo alignment: every bad input gets a defined result or a clear error.

The photos are transforms of scikit-image's astronaut portrait, made by
tests/fixtures/make_face_fixtures.py and committed under tests/fixtures/faces/.
"""
from __future__ import annotations

import io
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.data import align
from ml.data.align import (
    CELEBA_TEMPLATE_256,
    AlignmentError,
    FaceTooSmall,
    ImageTooLarge,
    MultipleFaces,
    NoFaceFound,
    UnsupportedImage,
    align_face,
    align_landmarks,
    apply_affine,
    five_points,
    load_image,
    similarity_transform,
)

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
ONE_FACE_FILES = [
    "astronaut.jpg",
    "astronaut.webp",
    "astronaut_exif_rotated.jpg",
    "astronaut_grey.jpg",
    "astronaut_cmyk.jpg",
    "astronaut_grey16.png",
    "astronaut_rgb16.png",
    "astronaut_palette.png",
    "astronaut_alpha.png",
    "astronaut_at_edge.jpg",
]


def reference_rgb() -> np.ndarray:
    return load_image(FACES / "astronaut.jpg")


def head_region(image: np.ndarray) -> np.ndarray:
    """The 320 px region the lossless fixtures keep (see make_face_fixtures.py)."""
    return image[0:320, 60:380]


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("name", ONE_FACE_FILES + ["astronaut_tiny.png", "two_faces.jpg", "coffee.jpg", "flat.png"])
def test_every_fixture_loads_as_rgb_uint8(name):
    image = load_image(FACES / name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_paths_bytes_and_file_objects_decode_alike():
    path = FACES / "astronaut.jpg"
    from_path = load_image(path)
    assert np.array_equal(from_path, load_image(path.read_bytes()))
    assert np.array_equal(from_path, load_image(io.BytesIO(path.read_bytes())))
    assert np.array_equal(from_path, load_image(str(path)))


def test_exif_orientation_is_applied_before_anything_else():
    upright = reference_rgb()
    rotated = load_image(FACES / "astronaut_exif_rotated.jpg")
    assert rotated.shape == upright.shape
    assert np.abs(rotated.astype(int) - upright.astype(int)).mean() < 4


def test_greyscale_becomes_three_equal_channels():
    grey = load_image(FACES / "astronaut_grey.jpg")
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_cmyk_jpeg_converts_to_the_right_colours():
    cmyk = load_image(FACES / "astronaut_cmyk.jpg")
    assert np.abs(cmyk.astype(int) - reference_rgb().astype(int)).mean() < 10


def test_16_bit_greyscale_is_scaled_not_clipped_white():
    image = load_image(FACES / "astronaut_grey16.png")
    expected = np.asarray(Image.fromarray(head_region(reference_rgb())).convert("L"))
    assert image.mean() < 200  # PIL's own conversion would clip nearly everything to 255
    assert np.abs(image[..., 0].astype(int) - expected.astype(int)).mean() < 4


def test_16_bit_rgb_png_keeps_its_colours():
    image = load_image(FACES / "astronaut_rgb16.png")
    assert np.abs(image.astype(int) - head_region(reference_rgb()).astype(int)).mean() < 4


def test_alpha_is_composited_on_white_and_palette_expands():
    rgba = load_image(FACES / "astronaut_alpha.png")
    assert (rgba[:, :48] == 255).all()
    palette = load_image(FACES / "astronaut_palette.png")
    assert np.abs(palette.astype(int) - head_region(reference_rgb()).astype(int)).mean() < 12


def test_arrays_of_any_depth_are_accepted():
    rgb = reference_rgb()
    assert np.array_equal(load_image(rgb), rgb)
    assert load_image(rgb[..., 0]).shape == rgb.shape
    assert np.abs(load_image(rgb.astype(np.uint16) * 257).astype(int) - rgb).max() <= 1
    assert np.abs(load_image(rgb.astype(np.float32) / 255).astype(int) - rgb).max() <= 1


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header():
    with pytest.raises(ImageTooLarge):
        load_image(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageTooLarge):
        load_image(FACES / "astronaut.jpg", max_pixels=100 * 100)
    with pytest.raises(ImageTooLarge):
        load_image(FACES / "astronaut.jpg", max_bytes=1000)
    assert issubclass(ImageTooLarge, UnsupportedImage) and issubclass(UnsupportedImage, AlignmentError)


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF"])
def test_other_decoders_are_not_reachable(image_format):
    buffer = io.BytesIO()
    Image.fromarray(reference_rgb()).save(buffer, image_format)
    with pytest.raises(UnsupportedImage):
        load_image(buffer.getvalue())


def test_garbage_and_truncated_files_are_unsupported():
    with pytest.raises(UnsupportedImage):
        load_image(b"this is not an image at all")
    data = (FACES / "astronaut.jpg").read_bytes()
    with pytest.raises(UnsupportedImage):
        load_image(data[: len(data) // 3])


# ----------------------------------------------------------------------------- alignment
@pytest.mark.parametrize("name", ONE_FACE_FILES)
def test_one_face_photos_align(name):
    result = align_face(FACES / name, size=128)
    assert result.crop.shape == (128, 128, 3) and result.crop.dtype == np.uint8
    assert result.face_count == 1
    assert result.landmarks.shape == (68, 2)
    assert (result.landmarks > 0).all() and (result.landmarks < 128).all()
    eye_mid = result.five_points[:2].mean(axis=0)
    assert abs(eye_mid[0] - 64) < 6  # FFHQ centres the face horizontally


def test_exif_rotated_photo_gives_the_same_face_box():
    upright = align_face(FACES / "astronaut.jpg")
    rotated = align_face(FACES / "astronaut_exif_rotated.jpg")
    assert np.abs(np.subtract(upright.source_box, rotated.source_box)).max() <= 3
    assert np.abs(upright.crop.astype(int) - rotated.crop.astype(int)).mean() < 6


def test_no_face_raises_no_face_found():
    for name in ("coffee.jpg", "flat.png"):
        with pytest.raises(NoFaceFound):
            align_face(FACES / name)


def test_tiny_face_raises_face_too_small_with_its_size():
    with pytest.raises(FaceTooSmall) as caught:
        align_face(FACES / "astronaut_tiny.png")
    assert 10 < caught.value.face_size < align.DEFAULT_MIN_FACE_SIZE
    # the caller may accept small faces explicitly
    assert align_face(FACES / "astronaut_tiny.png", min_face_size=10, size=64).crop.shape == (64, 64, 3)


def test_several_faces_take_the_largest_and_report_the_count():
    result = align_face(FACES / "two_faces.jpg")
    assert result.face_count == 2
    with pytest.raises(MultipleFaces) as caught:
        align_face(FACES / "two_faces.jpg", on_multiple="error")
    assert caught.value.count == 2


@pytest.mark.parametrize("size", [64, 100, 300])
@pytest.mark.parametrize("style", align.CROP_STYLES)
def test_any_size_and_the_transform_maps_crop_landmarks_back(style, size):
    result = align_face(FACES / "astronaut.jpg", style=style, size=size)
    assert result.crop.shape == (size, size, 3)
    back = apply_affine(result.crop_to_source, result.landmarks)
    assert np.abs(back - result.source_landmarks).max() < 1e-3
    assert np.allclose(result.source_to_crop @ np.append(result.crop_to_source[:, 2], 1), 0, atol=1e-6)


def test_celeba_crop_puts_the_five_points_on_elegants_template():
    result = align_face(FACES / "astronaut.jpg", style="celeba", size=256)
    points = result.five_points
    # a least-squares fit of 5 points: each lands near its template point, not on it
    assert np.linalg.norm(points - CELEBA_TEMPLATE_256, axis=1).max() < 20  # she smiles wide
    eye_distance = np.linalg.norm(points[1] - points[0])
    assert 60 < eye_distance < 85  # ELEGANT: 70 px between the pupils at 256 px
    assert abs(points[1][1] - points[0][1]) < 4  # eyes level
    scaled = align_face(FACES / "astronaut.jpg", style="celeba", size=128)
    assert np.abs(scaled.five_points * 2 - result.five_points).max() < 1.0


def test_tpgan_crop_levels_the_eyes_at_row_40():
    points = align_face(FACES / "astronaut.jpg", style="tpgan", size=128).five_points
    eye_left, eye_right, _, mouth_left, mouth_right = points
    assert abs(eye_left[1] - eye_right[1]) < 0.01
    assert np.allclose((eye_left + eye_right) / 2, (64, 40), atol=0.01)
    assert abs((mouth_left[1] + mouth_right[1]) / 2 - 40 - 48) < 0.01


def test_crop_is_invariant_to_rotating_the_photo():
    """Rotate the photo and its landmarks by a known angle: the aligned crop must not change."""
    image = reference_rgb()
    landmarks = align_face(image).source_landmarks
    angle = np.deg2rad(25.0)
    centre = np.array([255.5, 255.5])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source_from_rotated = np.hstack([rotation.T, (centre - rotation.T @ centre)[:, None]])
    rotated_image = align.warp_crop(image, source_from_rotated, 512)
    rotated_landmarks = apply_affine(align.invert_affine(source_from_rotated), landmarks)
    for style in align.CROP_STYLES:
        original = align_landmarks(image, landmarks, style=style, size=128).crop.astype(int)
        turned = align_landmarks(rotated_image, rotated_landmarks, style=style, size=128).crop.astype(int)
        centre_box = (slice(24, 104), slice(24, 104))  # away from borders the rotation filled in
        assert np.abs(original[centre_box] - turned[centre_box]).mean() < 6, style


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ (scale * rotation).T + shift
    matrix = similarity_transform(points, moved)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)
    assert np.allclose(five_points(np.tile(points[:1], (68, 1)))[0], points[0])


def test_models_are_loaded_once_and_threads_agree():
    results = {}

    def work(index):
        results[index] = align_face(FACES / "astronaut.jpg", size=64).crop

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(results[0], crop) for crop in results.values())
    assert align.DLIB.detector() is align.DLIB.detector() and align.DLIB.predictor() is align.DLIB.predictor()


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError):
        align_face(FACES / "astronaut.jpg", style="nope")
    with pytest.raises(ValueError):
        align_face(FACES / "astronaut.jpg", on_multiple="all")
