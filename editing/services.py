"""What the views, consumers and tasks share: turning uploads into photos and recipe steps into renders."""
from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from editing import engine
from editing.models import AlignedCrop, BatchJob, BatchResult, Exemplar, ModelVersion, Photo

MAX_STEPS = 8


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
def _version_for(step: dict, index: int) -> ModelVersion:
    method = step.get("method")
    if not isinstance(method, str) or not engine.method_exists(method):
        raise InvalidRecipe(f"step {index + 1}: unknown method {method!r}")
    version_id = step.get("model_version")
    if version_id is None:
        version = ModelVersion.active_for(method)
        if version is None:
            raise InvalidRecipe(f"step {index + 1}: no trained {method} model is installed")
        return version
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise InvalidRecipe(f"step {index + 1}: model_version must be an integer id")
    version = ModelVersion.objects.filter(pk=version_id, method=method).first()
    if version is None:
        raise InvalidRecipe(f"step {index + 1}: {method} has no model version {version_id}")
    return version


def validate_steps(steps, user) -> list[dict]:
    """Normalised steps (model version pinned, controls completed) or InvalidRecipe with the reason."""
    if not isinstance(steps, list) or not steps:
        raise InvalidRecipe("steps must be a non-empty list")
    if len(steps) > MAX_STEPS:
        raise InvalidRecipe(f"a recipe has at most {MAX_STEPS} steps")
    normalised = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise InvalidRecipe(f"step {index + 1} must be an object")
        unknown = set(step) - {"method", "model_version", "controls"}
        if unknown:
            raise InvalidRecipe(f"step {index + 1}: unknown field(s) {', '.join(sorted(unknown))}")
        version = _version_for(step, index)
        try:
            controls = engine.validate_controls(version.controls_schema, step.get("controls", {}))
        except ValueError as error:
            raise InvalidRecipe(f"step {index + 1} ({version.method}): {error}") from None
        for ref_id in _exemplar_ids(version.controls_schema, controls):
            if not Exemplar.visible_to(user).filter(public_id=ref_id).exists():
                raise InvalidRecipe(f"step {index + 1}: exemplar {ref_id!r} does not exist or is not shared with you")
        normalised.append({"method": version.method, "model_version": version.pk, "controls": controls})
    return normalised


def _exemplar_ids(schema: dict, controls: dict) -> list[str]:
    return [str(controls[name]) for name, spec in schema.get("properties", {}).items()
            if spec.get("widget") == "exemplar" and controls.get(name)]


def _crop_loader(field_file):
    cache = {}

    def load():
        if "image" not in cache:
            cache["image"] = engine.read_image_file(field_file)
        return cache["image"]

    return load


def resolve_steps(steps: list[dict]) -> list[engine.Step]:
    """Validated steps -> what the engine runs (checkpoints, exemplar loaders)."""
    resolved = []
    versions = {v.pk: v for v in ModelVersion.objects.filter(pk__in=[s["model_version"] for s in steps])}
    for step in steps:
        version = versions[step["model_version"]]
        references = {}
        for ref_id in _exemplar_ids(version.controls_schema, step["controls"]):
            exemplar = Exemplar.objects.get(public_id=ref_id)
            references[ref_id] = (f"exemplar:{ref_id}", _crop_loader(exemplar.image))
        resolved.append(engine.Step(version.method, version.checkpoint, version.pk, step["controls"], references))
    return resolved


def photo_source(photo: Photo, alignment: str):
    crop = photo.crop(alignment)
    if crop is None:
        raise engine.NoFace("this photo has no aligned face to edit")
    return f"photo:{photo.public_id}", _crop_loader(crop.image)


def render_photo(photo: Photo, steps: list[dict]):
    resolved = resolve_steps(steps)
    alignment = ModelVersion.objects.get(pk=steps[0]["model_version"]).alignment
    key, loader = photo_source(photo, alignment)
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
            except engine.EngineError as error:
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
