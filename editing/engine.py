"""The one bridge from the web app to `ml/`. Nothing else in `editing/` imports `ml`.

Workers and the in-process renderer call these functions. Models load lazily, after the process
has started, and torch's thread count is set once per process. Per process the engine keeps:
editors per model version, a bounded LRU of encoded latents per (photo or exemplar, model
version), a small LRU of the latents inside chained recipes (the photo after the first steps,
so a slider of a later step re-runs that step alone) and one of the aligned crops that edits are
laid on at the crop's resolution; across processes, photo and exemplar latents are shared
through Redis as safetensors bytes, never pickles.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image

from editing.frames import encode_image, pack_frame
from ml.data.align import resize_square  # numpy and PIL only: loads no model

log = logging.getLogger(__name__)


class EngineError(Exception):
    """Something a person can act on: a bad image, no face, a missing checkpoint."""


class BadImage(EngineError):
    pass


class NoFace(EngineError):
    pass


class MissingCheckpoint(EngineError):
    pass


class BadControls(EngineError):
    """Controls the model cannot honour (a slider that needs a reference this model lacks, say)."""


def configure() -> int:
    from ml.runtime import configure_torch

    return configure_torch(settings.FACELAB_TORCH_THREADS)


# --------------------------------------------------------------------------- methods and schemas
def available_methods() -> list[dict]:
    from ml import registry

    methods = []
    for name in registry.available():
        method = registry.get(name)
        methods.append({"name": method.name, "title": method.title, "summary": method.summary,
                        "alignment": method.alignment})
    return methods


@functools.cache
def _method_names() -> frozenset:
    from ml import registry

    return frozenset(registry.available())


def method_exists(name: str) -> bool:
    return name in _method_names()


def validate_controls(schema: dict, controls) -> dict:
    """Controls with defaults filled in; raises ValueError (ControlsError) with the reason."""
    from ml.controls import validate_controls as validate

    return validate(schema, controls)


def exemplar_ids(schema: dict, controls: dict) -> list[str]:
    """The gallery exemplars that validated controls use (a preset such as "mean" is none)."""
    from ml.controls import exemplar_ids as ids

    return ids(schema, controls)


def describe_checkpoint(method: str, checkpoint: str | Path) -> dict:
    """What the web app stores for a model version: manifest, metrics, controls schema, sizes."""
    editor = load_editor_uncached(method, checkpoint)
    manifest = dict(editor.manifest)
    return {"manifest": manifest, "metrics": manifest.get("metrics", {}), "controls_schema": editor.controls_schema(),
            "image_size": editor.image_size, "alignment": editor.alignment}


# --------------------------------------------------------------------------- images and alignment
def decode_upload(data: bytes) -> np.ndarray:
    """RGB uint8 pixels of an uploaded JPEG/PNG/WebP (format sniffed, EXIF orientation applied)."""
    from ml.data.align import ImageTooLarge, UnsupportedImage, load_image

    try:
        return load_image(data, max_pixels=settings.FACELAB_UPLOAD_MAX_PIXELS)
    except ImageTooLarge as error:
        raise BadImage(f"the image is too large: {error}") from None
    except UnsupportedImage as error:
        raise BadImage(f"not a readable JPEG, PNG or WebP image: {error}") from None


@dataclass
class AlignedPhoto:
    face_count: int
    box: list[float]
    landmarks: list[list[float]]
    crops: dict[str, tuple[np.ndarray, list[list[float]]]]  # style -> (crop, landmarks in crop)


def align_photo(image: np.ndarray) -> AlignedPhoto:
    """Find the largest face and cut every alignment style the methods need."""
    from ml.data.align import CROP_SIZES, AlignmentError, align_face, align_landmarks

    try:
        first = align_face(image, style="celeba", size=CROP_SIZES["celeba"])
    except AlignmentError as error:
        raise NoFace(str(error)) from None
    crops = {"celeba": (first.crop, first.landmarks.tolist())}
    for style, size in CROP_SIZES.items():
        if style not in crops:
            aligned = align_landmarks(image, first.source_landmarks, style=style, size=size)
            crops[style] = (aligned.crop, aligned.landmarks.tolist())
    return AlignedPhoto(first.face_count, list(first.source_box), first.source_landmarks.tolist(), crops)


def to_png(image: np.ndarray) -> bytes:
    return encode_image(image, fmt="PNG")


def to_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    return encode_image(image, quality=quality)


def read_image_file(field_file) -> np.ndarray:
    with field_file.open("rb") as handle:
        return np.asarray(Image.open(io.BytesIO(handle.read())).convert("RGB"))


# --------------------------------------------------------------------------- editors and latents
_lock = threading.Lock()
_editors: dict[tuple[str, str], object] = {}
_latents: OrderedDict = OrderedDict()
# (latent, image, image at the model's size) of a chain's intermediate images, per process only:
# while a user drags a slider of an earlier step every frame makes a new one, too many and too
# short-lived to send to Redis.
_chain_latents: OrderedDict = OrderedDict()
CHAIN_CACHE_SIZE = 8
# Aligned crops that renders lay their edits on (a few hundred kB each), per process.
_crops: OrderedDict = OrderedDict()
CROP_CACHE_SIZE = 16


def load_editor_uncached(method: str, checkpoint: str | Path):
    from ml import registry

    path = Path(checkpoint)
    if not path.is_absolute():
        path = settings.BASE_DIR / path
    if not (path / "manifest.json").exists():
        raise MissingCheckpoint(f"the {method} checkpoint at {checkpoint} is missing (no manifest.json)")
    configure()
    return registry.get(method).load_editor(path)


def editor_for(method: str, checkpoint: str):
    key = (method, str(checkpoint))
    with _lock:
        editor = _editors.get(key)
    if editor is None:
        # bf16 on AMX CPUs renders a slider move in ~9 ms instead of ~15, within 4/255 of fp32.
        editor = load_editor_uncached(method, checkpoint).set_precision(settings.FACELAB_RENDER_PRECISION)
        with _lock:
            _editors[key] = editor
    return editor


def _redis():
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _latent_to_bytes(latent) -> bytes:
    from safetensors.torch import save

    return save({name: tensor.contiguous() for name, tensor in latent.items()})


def _latent_from_bytes(data: bytes):
    from safetensors.torch import load

    return load(data)


def _lru_get(cache: OrderedDict, key: str):
    with _lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    return None


def _lru_put(cache: OrderedDict, key: str, value, size: int) -> None:
    with _lock:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)


def cached_latent(key: str, editor, image_source) -> object:
    """The latent for `key` from this process's LRU, then Redis, else encode `image_source()` once."""
    latent = _lru_get(_latents, key)
    if latent is not None:
        return latent
    client = _redis()
    stored = client.get("latent:" + key) if client else None
    if stored:
        latent = _latent_from_bytes(stored)
    else:
        latent = editor.encode(resize_square(image_source(), editor.image_size))
        if client:
            client.set("latent:" + key, _latent_to_bytes(latent), ex=settings.FACELAB_LATENT_TTL)
    _lru_put(_latents, key, latent, settings.FACELAB_LATENT_CACHE_SIZE)
    return latent


def cached_crop(key: str, photo_loader, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo's aligned crop and its copy at a model's `size`, from this process's LRU, else
    from `photo_loader()`: an edit is laid on the crop every frame, and a frame should read no
    file and resample nothing it resampled before."""
    key = f"{key}:{size}"
    pair = _lru_get(_crops, key)
    if pair is None:
        crop = photo_loader()
        pair = (crop, resize_square(crop, size))
        _lru_put(_crops, key, pair, CROP_CACHE_SIZE)
    return pair


def forget_latents(prefix: str) -> None:
    """Drop cached latents whose key starts with `prefix` (a deleted photo's, say)."""
    with _lock:
        for cache in (_latents, _chain_latents, _crops):
            for key in [k for k in cache if k.startswith(prefix)]:
                del cache[key]
    client = _redis()
    if client:
        for key in client.scan_iter(f"latent:{prefix}*"):
            client.delete(key)


def cache_stats() -> dict:
    with _lock:
        return {"latents": len(_latents), "chain_latents": len(_chain_latents), "crops": len(_crops),
                "editors": len(_editors)}


@dataclass
class Step:
    """One resolved recipe step: an editor, its checkpoint and validated controls."""

    method: str
    checkpoint: str
    version_id: int
    alignment: str
    controls: dict
    references: dict  # exemplar id -> (cache key, image loader)


def chain_key(photo_key: str, steps: list[Step], index: int) -> str:
    """The key of the latent step `index` edits: the photo after steps[:index], as step `index`'s
    model encodes it. It starts with the photo's key, so forgetting the photo forgets it too."""
    done = [[step.method, step.version_id, step.controls, sorted(step.references)] for step in steps[:index]]
    digest = hashlib.sha256(json.dumps(done, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"{photo_key}:after:{digest}:{steps[index].version_id}"


def render_steps(photo_key: str, photo_loader, steps: list[Step]) -> np.ndarray:
    """Run the steps in order: the first edits the photo's cached latent, each next step encodes
    the image so far. A step whose editor edits in place (a residual on its input) has its change
    laid on the image it was given at that image's size, so a chain of such steps returns the
    aligned crop, sharp, with the edits in it; a step that redraws the face returns its model's
    size. A chain starts from its last step whose input is cached, so moving a slider of the
    last step renders that step alone."""
    from ml.methods.base import lay_change_on

    start, latent, image, small = 0, None, None, None  # small: `image` at the step's model size
    for index in range(len(steps) - 1, 0, -1):
        cached = _lru_get(_chain_latents, chain_key(photo_key, steps, index))
        if cached is not None:
            start, (latent, image, small) = index, cached
            break
    for index in range(start, len(steps)):
        step = steps[index]
        editor = editor_for(step.method, step.checkpoint)
        if index == 0:
            latent = cached_latent(f"{photo_key}:{step.version_id}", editor, photo_loader)
        elif index > start:
            small = resize_square(image, editor.image_size)
            latent = editor.encode(small)
            _lru_put(_chain_latents, chain_key(photo_key, steps, index), (latent, image, small), CHAIN_CACHE_SIZE)
        references = {ref_id: cached_latent(f"{key}:{step.version_id}", editor, loader)
                      for ref_id, (key, loader) in step.references.items()}
        try:
            rendered = editor.render(latent, step.controls, references)
            in_place = editor.edits_in_place(step.controls)
        except ValueError as error:  # ml.controls.ControlsError: the reason is meant for people
            raise BadControls(f"{step.method}: {error}") from None
        if in_place and index == 0:
            image, small = cached_crop(f"{photo_key}:crop:{step.alignment}", photo_loader, editor.image_size)
        image = lay_change_on(image, small, rendered) if in_place else rendered
    return image


def render_frame(seq: int, photo_key: str, photo_loader, steps: list[Step], final: bool,
                 extra_header: dict | None = None) -> bytes:
    """Render and pack one preview frame: JPEG while dragging, PNG when the slider is released."""
    started = time.perf_counter()
    image = render_steps(photo_key, photo_loader, steps)
    rendered = time.perf_counter()
    payload = to_png(image) if final else encode_image(image, quality=settings.FACELAB_PREVIEW_JPEG_QUALITY)
    header = {"seq": seq, "kind": "final" if final else "draft", "width": image.shape[1], "height": image.shape[0],
              "render_ms": round((rendered - started) * 1000, 2),
              "encode_ms": round((time.perf_counter() - rendered) * 1000, 2), **(extra_header or {})}
    return pack_frame(header, payload)


def smoke_frame(seq: int, strength: float, quality: int = 80) -> bytes:
    """Render the built-in test card through the tiny smoke network, packed as a preview frame."""
    from ml.smoke import run_smoke

    started = time.perf_counter()
    result = run_smoke(strength=strength, threads=configure())
    jpeg = encode_image(result.image, quality=quality)
    header = {"seq": seq, "kind": "smoke", "render_ms": round(result.milliseconds, 2),
              "total_ms": round((time.perf_counter() - started) * 1000, 2),
              "width": result.image.shape[1], "height": result.image.shape[0]}
    return pack_frame(header, jpeg)


# --------------------------------------------------------------------------- synthetic exemplars
def synthetic_exemplars(size: int = 128, per_style: int = 2, seed: int = 2024) -> list[dict]:
    """Aligned synthetic faces showing each attribute (and each style where the attribute has kinds)."""
    from ml.data.exemplars import render_exemplars

    configure()
    return render_exemplars(size=size, per_style=per_style, seed=seed)


def write_untrained_checkpoint(method: str, directory: Path) -> Path:
    from ml import registry

    configure()
    if not (Path(directory) / "manifest.json").exists():
        registry.get(method).untrained_checkpoint(directory)
    return Path(directory)


def warm_up() -> None:
    """Load torch, set its threads and run the smoke network once (a worker calls this at start)."""
    smoke_frame(0, 1.0)
    log.info("engine warm: torch threads %s, methods %s", configure(), ", ".join(sorted(_method_names())))
