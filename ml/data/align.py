"""Align real face photos the way the published methods expect them.

Three crops, all at any output size, all from dlib's face detector and 68-point shape predictor:

- ``"ffhq"``: the FFHQ-style crop pSp uses. A square whose orientation follows the eyes and mouth,
  with half-side max(2 x eye distance, 1.8 x eye-to-mouth distance), centred a tenth of the way from
  the eye midpoint to the mouth midpoint; where it leaves the photo the border is a blurred mirror.
- ``"celeba"``: the 5-point similarity crop ELEGANT uses: eyes, nose tip and mouth corners fitted
  (least squares, no reflection) onto a fixed template (70 px between pupils at 256 px); black border.
- ``"tpgan"``: the MultiPIE crop TP-GAN uses: eyes level, the eye midpoint at (64, 40) and the
  eye-to-mouth midpoint distance 48 px in a 128 px crop; black border.

Bad inputs never produce a silent garbage crop; each has an exception class below. The policy for
several faces is documented on :func:`align_face`.

Coordinates are pixel-index coordinates throughout: the centre of pixel (column x, row y) is at
(x, y). A transform is a 2x3 float64 matrix ``M`` with ``source = M[:, :2] @ crop + M[:, 2]``.
"""
from __future__ import annotations

import importlib.util
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageFilter, ImageOps

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, io.IOBase, np.ndarray, Image.Image]

CROP_STYLES = ("ffhq", "celeba", "tpgan")
# The size FaceLab keeps each style's crop of a photo at: edits in place are laid on it.
CROP_SIZES = {"celeba": 256, "ffhq": 256, "tpgan": 128}
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
DEFAULT_MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to 120 MB of RGB; beyond that, refuse
DEFAULT_MIN_FACE_SIZE = 40  # detector box side in source pixels; smaller faces give blurred crops
DEFAULT_MIN_SCORE = 0.3  # weaker detections are mostly false positives (textures, flags)
DETECT_MAX_SIDE = 800  # detection runs on a copy no larger than this; landmarks use full resolution


# --------------------------------------------------------------------------------------- errors
class AlignmentError(Exception):
    """Base class: the photo cannot be turned into an aligned face."""


class UnsupportedImage(AlignmentError):
    """Not a JPEG, PNG or WebP, corrupt, or a pixel format we cannot convert to RGB."""


class ImageTooLarge(UnsupportedImage):
    """More pixels (or bytes) than allowed: refused before decoding (decompression bombs)."""


class NoFaceFound(AlignmentError):
    """The detector found no face."""


class FaceTooSmall(AlignmentError):
    """A face was found but is too small to give a useful crop."""

    def __init__(self, face_size: float, minimum: float):
        super().__init__(f"the face is {face_size:.0f} px across; at least {minimum:.0f} px is needed")
        self.face_size = face_size
        self.minimum = minimum


class MultipleFaces(AlignmentError):
    """Several faces were found and the caller asked not to choose (``on_multiple="error"``)."""

    def __init__(self, count: int):
        super().__init__(f"{count} faces found; crop the photo to one face")
        self.count = count


# --------------------------------------------------------------------------------------- loading
def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None) -> np.ndarray:
    """Decode a JPEG, PNG or WebP into an RGB uint8 array (H, W, 3), EXIF orientation applied.

    Greyscale, palette, alpha (composited on white), CMYK and 16-bit images are converted.
    Images above ``max_pixels`` are refused from their header, before any pixel is decoded.
    """
    return np.asarray(open_image(source, max_pixels=max_pixels, max_bytes=max_bytes))


def open_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None) -> Image.Image:
    """Like :func:`load_image` but returns a PIL RGB image. Arrays and PIL images are converted too."""
    if isinstance(source, np.ndarray):
        return Image.fromarray(_array_to_rgb(source))
    if isinstance(source, Image.Image):
        _check_pixel_count(source.size, max_pixels)
        return to_rgb(_upright(source))
    stream = _as_stream(source, max_bytes)
    try:
        image = Image.open(stream, formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from error
    except (Image.UnidentifiedImageError, OSError, SyntaxError) as error:
        raise UnsupportedImage(f"not a readable JPEG, PNG or WebP image ({error})") from error
    _check_pixel_count(image.size, max_pixels)
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UnsupportedImage(f"the image data is corrupt or truncated ({error})") from error
    return to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a photo whose EXIF block is malformed is kept as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # Pillow raises several types on broken EXIF; the pixels are still good
        return image


def _as_stream(source, max_bytes: int | None) -> io.IOBase:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise ImageTooLarge(f"{path.stat().st_size} bytes; at most {max_bytes} allowed")
        data = path.read_bytes()
    else:  # a file object
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLarge(f"more than {max_bytes} bytes")
    return io.BytesIO(data)


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} pixels; at most {max_pixels} allowed")
    if width < 1 or height < 1:
        raise UnsupportedImage("the image is empty")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any decoded PIL mode to 8-bit RGB (alpha composited on white, 16-bit scaled down)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # PIL's own I->RGB conversion clips at 255 instead of scaling, turning 16-bit photos white.
        return Image.fromarray(_array_to_rgb(np.asarray(image)))
    if mode == "F":
        return Image.fromarray(_array_to_rgb(np.asarray(image)))
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    raise UnsupportedImage(f"pixel format {mode!r} is not supported")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Any H x W (x C) array -> RGB uint8. Integer data wider than 8 bits is scaled by its type's range."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UnsupportedImage(f"an image array must be HxW, HxWx3 or HxWx4, not {array.shape}")
    array = _to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        top = 1.0 if float(np.nanmax(array, initial=0.0)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(array) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if array.dtype in (np.uint16, np.int32, np.uint32, np.int64) and array.max(initial=0) > 255:
        # 16-bit data (PIL decodes 16-bit PNGs to uint16 or int32): scale 0..65535 to 0..255
        return np.clip(array.astype(np.float64) / 257.0 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------- dlib models
def dlib_model_path(filename: str) -> str:
    """Path of a model file shipped by ``face_recognition_models``.

    Found without importing the package: its ``__init__`` needs ``pkg_resources``, which recent
    setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed (pip install face_recognition_models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / filename
    if not path.is_file():
        raise RuntimeError(f"missing dlib model file {path}")
    return str(path)


class _DlibModels:
    """One detector, shape predictor and face encoder per process, loaded on first use.

    dlib's objects are not documented as thread-safe, so every call into them holds ``lock``.
    """

    def __init__(self):
        self.lock = threading.RLock()
        self._detector = None
        self._predictor = None
        self._encoder = None

    def detector(self):
        with self.lock:
            if self._detector is None:
                import dlib

                self._detector = dlib.get_frontal_face_detector()
            return self._detector

    def predictor(self):
        with self.lock:
            if self._predictor is None:
                import dlib

                self._predictor = dlib.shape_predictor(dlib_model_path("shape_predictor_68_face_landmarks.dat"))
            return self._predictor

    def encoder(self):
        with self.lock:
            if self._encoder is None:
                import dlib

                self._encoder = dlib.face_recognition_model_v1(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))
            return self._encoder


DLIB = _DlibModels()


# --------------------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class FaceDetection:
    """One face in a source photo: detector box (left, top, right, bottom), score, 68 landmarks."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # (68, 2) float32, source pixel coordinates

    @property
    def size(self) -> float:
        """Side of the detector's (square) box in source pixels."""
        left, top, right, bottom = self.box
        return float(min(right - left, bottom - top))


def detect_faces(image: np.ndarray, *, min_score: float = DEFAULT_MIN_SCORE) -> list[FaceDetection]:
    """All faces in an RGB uint8 image, largest first, each with its 68 landmarks.

    Detections scoring below ``min_score`` are dropped, unless nothing scores higher: then the best
    weak detection is kept, so a hard but real single face is still found.
    """
    image = np.ascontiguousarray(_array_to_rgb(image))
    boxes, scores = _run_detector(image)
    if not boxes:
        return []
    confident = [index for index, score in enumerate(scores) if score >= min_score]
    if not confident:
        confident = [int(np.argmax(scores))]
    faces = [FaceDetection(boxes[i], float(scores[i]), predict_landmarks(image, boxes[i])) for i in confident]
    return sorted(faces, key=lambda face: (face.size, face.score), reverse=True)


def _run_detector(image: np.ndarray) -> tuple[list[tuple[float, float, float, float]], list[float]]:
    """Run dlib's HOG detector on a copy no larger than DETECT_MAX_SIDE; boxes in source pixels."""
    height, width = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = image
    if scale < 1.0:
        small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(image).resize(small_size, Image.BILINEAR))
        scale_x, scale_y = small_size[0] / width, small_size[1] / height
    else:
        scale_x = scale_y = 1.0
    # Small photos are upsampled more so that faces down to ~20 px can still be found (and then
    # reported as too small rather than missing).
    short_side = min(small.shape[:2])
    upsample = 1 if short_side >= 256 else 2 if short_side >= 128 else 3
    with DLIB.lock:
        rects, scores, _ = DLIB.detector().run(small, upsample, 0.0)
    boxes = [(r.left() / scale_x, r.top() / scale_y, (r.right() + 1) / scale_x, (r.bottom() + 1) / scale_y) for r in rects]
    return boxes, list(scores)


def predict_landmarks(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 68 iBUG landmarks inside ``box`` (left, top, right, bottom), as (68, 2) float32."""
    import dlib

    left, top, right, bottom = box
    rect = dlib.rectangle(int(round(left)), int(round(top)), int(round(right)) - 1, int(round(bottom)) - 1)
    with DLIB.lock:
        shape = DLIB.predictor()(image, rect)
    return np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float32)


# --------------------------------------------------------------------------------------- templates
# ELEGANT's 5-point template in a 256 px crop: left eye, right eye, nose tip, left and right mouth corner
# ("left" = image left). Inter-pupil distance 70 px.
CELEBA_TEMPLATE_256 = np.array(
    [[92.8, 105.8], [162.8, 105.6], [127.6, 153.1], [98.7, 190.7], [157.0, 190.2]], dtype=np.float64
)
# TP-GAN's MultiPIE crop at 128 px: eye midpoint position and vertical eye-to-mouth distance.
TPGAN_EYE_CENTRE_128 = (64.0, 40.0)
TPGAN_EYE_TO_MOUTH_128 = 48.0


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The 5 points CelebA and MultiPIE use, from 68 iBUG landmarks: eye centres, nose tip, mouth corners."""
    landmarks68 = np.asarray(landmarks68, dtype=np.float64)
    return np.stack(
        [
            landmarks68[36:42].mean(axis=0),
            landmarks68[42:48].mean(axis=0),
            landmarks68[30],
            landmarks68[48],
            landmarks68[54],
        ]
    )


def ffhq_quad(landmarks68: np.ndarray) -> np.ndarray:
    """The FFHQ crop square as 4 corners (top-left, bottom-left, bottom-right, top-right) in source pixels."""
    points = np.asarray(landmarks68, dtype=np.float64)
    eye_left, eye_right = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    eye_mid = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_mid = (points[48] + points[54]) / 2
    eye_to_mouth = mouth_mid - eye_mid
    # x axis: the eye line, tilted toward the perpendicular of the eye-to-mouth line, so that both
    # cues decide the roll.
    across = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    across /= np.hypot(*across)
    half_side = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    x_axis = across * half_side
    y_axis = np.array([-x_axis[1], x_axis[0]])
    centre = eye_mid + eye_to_mouth * 0.1
    return np.stack([centre - x_axis - y_axis, centre - x_axis + y_axis, centre + x_axis + y_axis, centre + x_axis - y_axis])


def similarity_transform(source_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation (no reflection) taking source onto target.

    Returns the 2x3 matrix mapping source coordinates to target coordinates (Umeyama's closed form).
    """
    source = np.asarray(source_points, dtype=np.float64)
    target = np.asarray(target_points, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (source_centred**2).sum() / len(source)
    scale = np.trace(np.diag(singular) @ sign) / variance
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    linear_inverse = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear_inverse, -linear_inverse @ matrix[:, 2:3]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_to_source_transform(landmarks68: np.ndarray, style: str, size: int) -> np.ndarray:
    """The 2x3 matrix taking crop pixel coordinates to source pixel coordinates for a crop style."""
    if style == "ffhq":
        quad = ffhq_quad(landmarks68)
        top_left, bottom_left, top_right = quad[0], quad[1], quad[3]
        # crop corner (-0.5, -0.5) sits on the quad's first corner; the crop spans `size` pixels
        x_step = (top_right - top_left) / size
        y_step = (bottom_left - top_left) / size
        origin = top_left + 0.5 * (x_step + y_step)
        return np.column_stack([x_step, y_step, origin])
    if style == "celeba":
        source_to_crop = similarity_transform(five_points(landmarks68), CELEBA_TEMPLATE_256 * (size / 256.0))
        return invert_affine(source_to_crop)
    if style == "tpgan":
        return invert_affine(_tpgan_source_to_crop(landmarks68, size))
    raise ValueError(f"unknown crop style {style!r}; choose one of {CROP_STYLES}")


def _tpgan_source_to_crop(landmarks68: np.ndarray, size: int) -> np.ndarray:
    points = five_points(landmarks68)
    eye_left, eye_right, _, mouth_left, mouth_right = points
    eye_mid, mouth_mid = (eye_left + eye_right) / 2, (mouth_left + mouth_right) / 2
    angle = np.arctan2(*(eye_right - eye_left)[::-1])
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    vertical = (rotation @ (mouth_mid - eye_mid))[1]
    # in profile the mouth can sit almost level with the eyes; keep the scale finite
    vertical = max(vertical, 0.25 * np.hypot(*(eye_right - eye_left)), 1e-3)
    factor = size / 128.0
    scale = TPGAN_EYE_TO_MOUTH_128 * factor / vertical
    target = np.array(TPGAN_EYE_CENTRE_128) * factor
    linear = scale * rotation
    return np.hstack([linear, (target - linear @ eye_mid)[:, None]])


# --------------------------------------------------------------------------------------- warping
def warp_crop(image: np.ndarray, crop_to_source: np.ndarray, size: int, *, border: str = "black") -> np.ndarray:
    """Sample a size x size crop; ``border`` is "black" (ELEGANT, TP-GAN) or "reflect" (FFHQ's blurred mirror)."""
    image = np.ascontiguousarray(_array_to_rgb(image))
    matrix = np.asarray(crop_to_source, dtype=np.float64)
    # Bilinear sampling aliases when shrinking a lot: first box-reduce by an integer factor.
    source_pixels_per_crop_pixel = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    shrink = int(source_pixels_per_crop_pixel / 2)
    if shrink >= 2:
        image = np.asarray(Image.fromarray(image).reduce(shrink))
        matrix = _after_reduce(matrix, shrink)
    offset = np.zeros(2)
    if border == "reflect":
        image, offset = _pad_for_crop(image, matrix, size)
        matrix = matrix.copy()
        matrix[:, 2] += offset
    elif border != "black":
        raise ValueError(f"border must be 'black' or 'reflect', not {border!r}")
    return _pil_affine(image, matrix, size)


def _after_reduce(matrix: np.ndarray, factor: int) -> np.ndarray:
    # a source pixel index x lands at (x + 0.5) / factor - 0.5 in the reduced image
    reduced = matrix / factor
    reduced[:, 2] += 0.5 / factor - 0.5
    return reduced


def _pil_affine(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    # PIL's affine maps output to input in coordinates whose pixel centres sit at +0.5
    a, b, c = matrix[0]
    d, e, f = matrix[1]
    data = (a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e))
    crop = Image.fromarray(image).transform((size, size), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(crop)


def _pad_for_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror-pad the image where the crop leaves it, fading the mirror into a blur and the median colour."""
    height, width = image.shape[:2]
    corners = apply_affine(matrix, [[-1, -1], [size, -1], [-1, size], [size, size]])
    lower, upper = np.floor(corners.min(axis=0)) - 2, np.ceil(corners.max(axis=0)) + 2
    pad_left, pad_top = int(max(0, -lower[0])), int(max(0, -lower[1]))
    pad_right, pad_bottom = int(max(0, upper[0] - (width - 1))), int(max(0, upper[1] - (height - 1)))
    if max(pad_left, pad_top, pad_right, pad_bottom) == 0:
        return image, np.zeros(2)
    padded = np.pad(image.astype(np.float32), ((pad_top, pad_bottom), (pad_left, pad_right), (0, 0)), mode="reflect")
    # how far outside the photo each pixel is, as a fraction of that side's padding (<= 0 inside)
    rows = np.arange(padded.shape[0], dtype=np.float32)[:, None]
    cols = np.arange(padded.shape[1], dtype=np.float32)[None, :]
    outside = np.maximum(
        np.maximum((pad_left - cols) / max(pad_left, 1), (cols - (pad_left + width - 1)) / max(pad_right, 1)),
        np.maximum((pad_top - rows) / max(pad_top, 1), (rows - (pad_top + height - 1)) / max(pad_bottom, 1)),
    )[:, :, None]
    face_scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2])))) * size
    blurred = np.asarray(
        Image.fromarray(padded.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(max(1.0, 0.02 * face_scale)))
    ).astype(np.float32)
    padded += (blurred - padded) * np.clip(outside * 3.0, 0.0, 1.0)
    padded += (np.median(image.reshape(-1, 3), axis=0) - padded) * np.clip(outside, 0.0, 1.0)
    return padded.clip(0, 255).round().astype(np.uint8), np.array([pad_left, pad_top], dtype=np.float64)


# --------------------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class AlignedFace:
    """An aligned crop of one face and how it relates to its source photo."""

    crop: np.ndarray  # (size, size, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) float32 in crop pixel coordinates
    source_box: tuple[int, int, int, int]  # detector box (left, top, right, bottom) in the source photo
    crop_to_source: np.ndarray  # 2x3 float64: source = M[:, :2] @ crop + M[:, 2]
    style: str
    source_landmarks: np.ndarray  # (68, 2) float32 in source pixel coordinates
    source_size: tuple[int, int]  # (width, height) of the photo after EXIF orientation
    face_count: int = 1  # faces found in the photo (this one is the largest)
    score: float = field(default=float("nan"))  # detector score (nan when landmarks were given)

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])

    @property
    def source_to_crop(self) -> np.ndarray:
        return invert_affine(self.crop_to_source)

    @property
    def five_points(self) -> np.ndarray:
        """Eye centres, nose tip and mouth corners in crop coordinates (CelebA's landmark order)."""
        return five_points(self.landmarks).astype(np.float32)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """A square uint8 image at size x size (Lanczos), or the image itself at that size: an aligned
    crop at a model's input size, or a model's output at the crop's."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def align_landmarks(image: np.ndarray, landmarks68: np.ndarray, *, style: str = "ffhq", size: int = 256) -> AlignedFace:
    """Crop a face whose 68 landmarks are already known (synthetic renders, or a detection)."""
    image = np.ascontiguousarray(_array_to_rgb(image))
    landmarks68 = np.asarray(landmarks68, dtype=np.float32)
    if landmarks68.shape != (68, 2):
        raise ValueError(f"expected 68x2 landmarks, got {landmarks68.shape}")
    matrix = crop_to_source_transform(landmarks68, style, size)
    crop = warp_crop(image, matrix, size, border="reflect" if style == "ffhq" else "black")
    crop_landmarks = apply_affine(invert_affine(matrix), landmarks68).astype(np.float32)
    left, top = landmarks68.min(axis=0)
    right, bottom = landmarks68.max(axis=0)
    return AlignedFace(
        crop=crop,
        landmarks=crop_landmarks,
        source_box=(int(left), int(top), int(np.ceil(right)) + 1, int(np.ceil(bottom)) + 1),
        crop_to_source=matrix,
        style=style,
        source_landmarks=landmarks68,
        source_size=(image.shape[1], image.shape[0]),
    )


def align_face(
    source: ImageSource,
    *,
    style: str = "ffhq",
    size: int = 256,
    on_multiple: str = "largest",
    min_face_size: float = DEFAULT_MIN_FACE_SIZE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> AlignedFace:
    """Detect, landmark and crop the face in a photo (path, bytes, file, array or PIL image).

    Several faces: with ``on_multiple="largest"`` (the default) the largest face is cropped and
    ``face_count`` reports how many were found; with ``on_multiple="error"`` :class:`MultipleFaces`
    is raised. Raises :class:`UnsupportedImage` / :class:`ImageTooLarge` for unreadable input,
    :class:`NoFaceFound` and :class:`FaceTooSmall` (detector box under ``min_face_size`` pixels).
    """
    if style not in CROP_STYLES:
        raise ValueError(f"unknown crop style {style!r}; choose one of {CROP_STYLES}")
    if on_multiple not in ("largest", "error"):
        raise ValueError("on_multiple must be 'largest' or 'error'")
    image = np.asarray(open_image(source, max_pixels=max_pixels))
    faces = detect_faces(image)
    if not faces:
        raise NoFaceFound("no face was found in the photo")
    if len(faces) > 1 and on_multiple == "error":
        raise MultipleFaces(len(faces))
    face = faces[0]
    if face.size < min_face_size:
        raise FaceTooSmall(face.size, min_face_size)
    aligned = align_landmarks(image, face.landmarks, style=style, size=size)
    left, top, right, bottom = face.box
    return AlignedFace(
        crop=aligned.crop,
        landmarks=aligned.landmarks,
        source_box=(int(round(left)), int(round(top)), int(round(right)), int(round(bottom))),
        crop_to_source=aligned.crop_to_source,
        style=style,
        source_landmarks=face.landmarks,
        source_size=aligned.source_size,
        face_count=len(faces),
        score=face.score,
    )
