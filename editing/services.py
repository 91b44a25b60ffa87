"""What the views, consumers and tasks share: turning uploads into photos and recipe steps into renders."""
from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from editing import engine
from editing.models import AlignedCrop, BatchJob, BatchResult, Exemplar, ModelVersion, Photo

MAX_STEPS = 8
# What a render may raise that the person should read: a deleted photo or exemplar counts too.
RENDER_ERRORS = (engine.EngineError, ObjectDoesNotExist)


class InvalidRecipe(ValueError):
    """Steps that do not fit the methods' contracts; the message says which step and why."""


# --------------------------------------------------------------------------- uploads
def read_upload(uploaded_file) -> bytes:
    if uploaded_file.size > settings.FACELAB_UPLOAD_MAX_BYTES:
        raise engine.BadImage(f"the file is {uploaded_file.size / 1e6:.1f} MB; the limit is "
                              f"{settings.FACELAB_UPLOAD_MAX_BYTES / 1e6:.0f} MB")
    return uploaded_file.read()


def create_photo(owner, data: bytes, title: str = "") -> Photo:
    """Decode, re-encode without metadata, align; a photo without a usable face is kept as failed."""
    pixels = engine.decode_upload(data)  # raises BadImage: nothing is stored
    photo = Photo(owner=owner, title=title[:200], sha256=hashlib.sha256(data).hexdigest(),
                  width=pixels.shape[1], height=pixels.shape[0])
    photo.original.save("original.bin", ContentFile(data), save=False)
    photo.image.save("photo.jpg", ContentFile(engine.to_jpeg(pixels)), save=False)
    try:
        aligned = engine.align_photo(pixels)
    except engine.NoFace as error:
        photo.status, photo.error = Photo.Status.FAILED, str(error).capitalize()
        photo.save()
        return photo
    with transaction.atomic():
        photo.face_count = aligned.face_count
        photo.face_box = aligned.box
        photo.landmarks = aligned.landmarks
        photo.save()
        for style, (crop, landmarks) in aligned.crops.items():
            record = AlignedCrop(photo=photo, style=style, size=crop.shape[0], landmarks=landmarks)
            record.image.save(f"{photo.public_id}-{style}.png", ContentFile(engine.to_png(crop)), save=False)
            record.save()
    return photo


def create_exemplar(owner, data: bytes, attribute: str, style: str = "", title: str = "",
                    public: bool = False) -> Exemplar:
    """An exemplar from an uploaded photo: its face aligned the way the editors expect."""
    if not attribute.replace("_", "").isalnum():
        raise ValueError("an attribute is a CelebA name such as Bangs or Eyeglasses")
    pixels = engine.decode_upload(data)
    crop, _ = engine.align_photo(pixels).crops["celeba"]
    exemplar = Exemplar(owner=owner, attribute=attribute, style=style[:40], title=title[:200], public=public,
                        source=Exemplar.Source.STAFF if owner.is_staff else Exemplar.Source.USER)
    exemplar.image.save("exemplar.png", ContentFile(engine.to_png(crop)), save=False)
    exemplar.save()
    return exemplar


def delete_photo(photo: Photo) -> None:
    engine.forget_latents(f"photo:{photo.public_id}:")
    photo.delete()


def delete_stale_photos(days: int | None = None) -> int:
    count = 0
    for photo in Photo.stale(days or settings.FACELAB_RETENTION_DAYS):
        delete_photo(photo)
        count += 1
    return count


# --------------------------------------------------------------------------- recipe steps
@dataclass(frozen=True)
class _VersionFacts:
    method: str
    checkpoint: str
    alignment: str
    schema: dict


_version_cache: dict[int, tuple[float, _VersionFacts]] = {}
VERSION_CACHE_SECONDS = 30


def _version_facts(pk: int) -> _VersionFacts:
    """What rendering needs of a model version, cached briefly: a slider move costs no query."""
    cached = _version_cache.get(pk)
    if cached and time.monotonic() - cached[0] < VERSION_CACHE_SECONDS:
        return cached[1]
    version = ModelVersion.objects.get(pk=pk)
    facts = _VersionFacts(version.method, version.checkpoint, version.alignment, version.controls_schema)
    _version_cache[pk] = (time.monotonic(), facts)
    return facts


def _version_for(step: dict, index: int) -> tuple[int, _VersionFacts]:
    method = step.get("method")
    if not isinstance(method, str) or not engine.method_exists(method):
        raise InvalidRecipe(f"step {index + 1}: unknown method {method!r}")
    version_id = step.get("model_version")
    if version_id is None:
        version = ModelVersion.active_for(method)
        if version is None:
            raise InvalidRecipe(f"step {index + 1}: no trained {method} model is installed")
        version_id = version.pk
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise InvalidRecipe(f"step {index + 1}: model_version must be an integer id")
    try:
        facts = _version_facts(version_id)
    except ModelVersion.DoesNotExist:
        facts = None
    if facts is None or facts.method != method:
        raise InvalidRecipe(f"step {index + 1}: {method} has no model version {version_id}")
    return version_id, facts


def validate_steps(steps, user, visible_exemplars: set | None = None) -> list[dict]:
    """Normalised steps (model version pinned, controls completed) or InvalidRecipe with the reason.

    `visible_exemplars` remembers exemplar ids already checked for `user`, so a live editor
    connection pays for each check once, not on every slider move.
    """
    if not isinstance(steps, list) or not steps:
        raise InvalidRecipe("steps must be a non-empty list")
    if len(steps) > MAX_STEPS:
        raise InvalidRecipe(f"a recipe has at most {MAX_STEPS} steps")
    visible_exemplars = set() if visible_exemplars is None else visible_exemplars
    normalised = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise InvalidRecipe(f"step {index + 1} must be an object")
        unknown = set(step) - {"method", "model_version", "controls"}
        if unknown:
            raise InvalidRecipe(f"step {index + 1}: unknown field(s) {', '.join(sorted(unknown))}")
        version_id, facts = _version_for(step, index)
        try:
            controls = engine.validate_controls(facts.schema, step.get("controls", {}))
        except ValueError as error:
            raise InvalidRecipe(f"step {index + 1} ({facts.method}): {error}") from None
        for ref_id in engine.exemplar_ids(facts.schema, controls):
            if ref_id not in visible_exemplars:
                if not Exemplar.readable_by(user).filter(public_id=ref_id).exists():
                    raise InvalidRecipe(f"step {index + 1}: exemplar {ref_id!r} does not exist or is not shared "
                                        "with you")
                visible_exemplars.add(ref_id)
        normalised.append({"method": facts.method, "model_version": version_id, "controls": controls})
    return normalised


def referenced_exemplars(steps: list[dict]) -> list[str]:
    """Exemplar ids that validated steps use."""
    return [ref_id for step in steps
            for ref_id in engine.exemplar_ids(_version_facts(step["model_version"]).schema, step["controls"])]




def _once(load):
    """A loader that runs `load` at most once (the engine calls it only when a latent is not cached)."""
    cache = {}

    def loader():
        if "image" not in cache:
            cache["image"] = load()
        return cache["image"]

    return loader


def _exemplar_image(public_id: str):
    return engine.read_image_file(Exemplar.objects.get(public_id=public_id).image)


def _photo_crop_image(public_id: str, alignment: str):
    crop = Photo.objects.get(public_id=public_id).crop(alignment)
    if crop is None:
        raise engine.NoFace("this photo has no aligned face to edit")
    return engine.read_image_file(crop.image)


def resolve_steps(steps: list[dict]) -> list[engine.Step]:
    """Validated steps -> what the engine runs. Images load lazily, only for latents not yet cached."""
    resolved = []
    for step in steps:
        facts = _version_facts(step["model_version"])
        references = {ref_id: (f"exemplar:{ref_id}", _once(lambda ref_id=ref_id: _exemplar_image(ref_id)))
                      for ref_id in engine.exemplar_ids(facts.schema, step["controls"])}
        resolved.append(engine.Step(facts.method, facts.checkpoint, step["model_version"], facts.alignment,
                                    step["controls"], references))
    return resolved


def photo_source(photo_id: str, alignment: str):
    """The cache key of a photo's latent and a loader of its aligned crop."""
    return f"photo:{photo_id}", _once(lambda: _photo_crop_image(photo_id, alignment))


def render_photo(photo: Photo, steps: list[dict]):
    resolved = resolve_steps(steps)
    key, loader = photo_source(photo.public_id, resolved[0].alignment)
    return engine.render_steps(key, loader, resolved)


# --------------------------------------------------------------------------- batch jobs
def start_batch(owner, recipe, photos: list[Photo]) -> BatchJob:
    """Create the job and hand it to a worker (or a thread of this process) once it is committed."""
    job = BatchJob.objects.create(owner=owner, recipe=recipe, steps=recipe.steps, total=len(photos))
    job.photos.set(photos)
    transaction.on_commit(lambda: _dispatch_batch(job.pk))
    return job


def _dispatch_batch(job_id: int) -> None:
    if settings.FACELAB_RENDER_MODE == "celery":
        from editing.tasks import encode_batch_job

        encode_batch_job.delay(job_id)
    else:
        threading.Thread(target=run_batch_by_id, args=(job_id,), daemon=True).start()


def run_batch_by_id(job_id: int) -> None:
    job = BatchJob.objects.get(pk=job_id)
    try:
        run_batch(job)
    except Exception as error:  # the job records any failure so the page can say what happened
        BatchJob.objects.filter(pk=job_id).update(status=BatchJob.Status.FAILED, error=str(error)[:2000])
        raise
    finally:
        connection.close()  # a thread's own connection; workers reuse theirs


def run_batch(job: BatchJob, progress=None) -> BatchJob:
    """Render every photo of the job, then a zip of the PNGs; a failing photo is reported, not fatal."""
    job.status = BatchJob.Status.RUNNING
    job.save(update_fields=["status"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for photo in job.photos.order_by("pk"):
            result = BatchResult(job=job, photo=photo)
            try:
                png = engine.to_png(render_photo(photo, job.steps))
                result.image.save(f"{job.public_id}-{photo.public_id}.png", ContentFile(png), save=False)
                zipped.writestr(f"{photo.title or photo.public_id}-{photo.public_id}.png", png)
            except RENDER_ERRORS as error:
                result.error = str(error)
            result.save()
            job.done += 1
            job.save(update_fields=["done"])
            if progress:
                progress(job)
    job.archive.save("results.zip", ContentFile(archive.getvalue()), save=False)
    job.status = BatchJob.Status.DONE
    job.finished = timezone.now()
    job.save()
    return job


@dataclass
class RegisteredVersion:
    version: ModelVersion
    created: bool


def register_model_version(method: str, name: str, checkpoint: str, activate: bool = True) -> RegisteredVersion:
    """Record a checkpoint as a model version (idempotent by method + name)."""
    description = engine.describe_checkpoint(method, checkpoint)
    version, created = ModelVersion.objects.update_or_create(
        method=method, name=name, defaults={"checkpoint": str(checkpoint), **description})
    if activate and (created or ModelVersion.active_for(method) is None):
        version.activate()
    return RegisteredVersion(version, created)
