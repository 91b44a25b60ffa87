"""FaceLab's data: photos, exemplars, model versions, recipes and batch jobs. Plain models; each
object has an owner, and the `visible_to` / `editable_by` helpers are the only permission rules."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _public_id() -> str:
    return uuid.uuid4().hex[:16]


def _share_token() -> str:
    return secrets.token_urlsafe(16)


def _photo_path(photo: "Photo", filename: str) -> str:
    # The uploaded name is never used: paths come from the owner and the photo's random id.
    return f"photos/{photo.owner_id}/{photo.public_id}/{filename}"


def _exemplar_path(exemplar: "Exemplar", filename: str) -> str:
    return f"exemplars/{exemplar.public_id}/{filename}"


def _job_path(job: "BatchJob", filename: str) -> str:
    return f"jobs/{job.owner_id}/{job.public_id}/{filename}"


class Photo(models.Model):
    class Status(models.TextChoices):
        READY = "ready"
        FAILED = "failed"

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photos")
    title = models.CharField(max_length=200, blank=True)
    # What the user sent, kept private for reprocessing; never served.
    original = models.FileField(upload_to=_photo_path)
    # Re-encoded from pixels: EXIF orientation applied, every metadata block dropped.
    image = models.ImageField(upload_to=_photo_path, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    face_count = models.PositiveSmallIntegerField(default=0)
    face_box = models.JSONField(null=True, blank=True)  # [left, top, right, bottom] in `image` pixels
    landmarks = models.JSONField(null=True, blank=True)  # 68 x [x, y] in `image` pixels
    created = models.DateTimeField(default=timezone.now)
    last_viewed = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title or self.public_id

    @classmethod
    def visible_to(cls, user) -> models.QuerySet:
        return cls.objects.filter(owner=user) if user.is_authenticated else cls.objects.none()

    @classmethod
    def stale(cls, days: int) -> models.QuerySet:
        """Uploads nobody has opened for `days` days (the retention setting deletes them)."""
        return cls.objects.filter(last_viewed__lt=timezone.now() - timedelta(days=days))

    def crop(self, style: str) -> "AlignedCrop | None":
        return self.crops.filter(style=style).first()

    def delete(self, *args, **kwargs):
        files = [self.original, self.image] + [crop.image for crop in self.crops.all()]
        result = super().delete(*args, **kwargs)
        for field_file in files:
            if field_file:
                field_file.storage.delete(field_file.name)
        return result


class AlignedCrop(models.Model):
    """One aligned crop of a photo's face, in one method family's alignment style."""

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="crops")
    style = models.CharField(max_length=12)  # "celeba", "ffhq", "tpgan"
    size = models.PositiveIntegerField()
    image = models.ImageField(upload_to="crops/")
    landmarks = models.JSONField()  # 68 x [x, y] in crop pixels

    class Meta:
        constraints = [models.UniqueConstraint(fields=["photo", "style"], name="one_crop_per_style")]


class Exemplar(models.Model):
    """A reference face in the gallery: 'this style of bangs', 'these glasses'."""

    class Source(models.TextChoices):
        SYNTHETIC = "synthetic"
        USER = "user"
        STAFF = "staff"

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="exemplars")
    attribute = models.CharField(max_length=40, db_index=True)  # a CelebA attribute name
    style = models.CharField(max_length=40, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.USER)
    public = models.BooleanField(default=False)  # listed in everyone's gallery (staff and synthetic)
    # Used by a link-shared or public recipe: readable by anyone who has its id, never listed.
    link_shared = models.BooleanField(default=False)
    image = models.ImageField(upload_to=_exemplar_path)  # an aligned crop ("celeba" style)
    alignment = models.CharField(max_length=12, default="celeba")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["attribute", "style", "-created"]

    def __str__(self) -> str:
        return f"{self.attribute}/{self.style or '-'} {self.public_id}"

    @staticmethod
    def _listed(user) -> Q:
        return Q(public=True) | Q(owner=user) if user.is_authenticated else Q(public=True)

    @classmethod
    def visible_to(cls, user) -> models.QuerySet:
        """What the gallery lists for `user`: public exemplars and their own."""
        return cls.objects.filter(cls._listed(user))

    @classmethod
    def readable_by(cls, user) -> models.QuerySet:
        """What `user` may use by id: the listed ones, and those a shared recipe uses."""
        return cls.objects.filter(cls._listed(user) | Q(link_shared=True))

    def delete(self, *args, **kwargs):
        image = self.image
        result = super().delete(*args, **kwargs)
        if image:
            image.storage.delete(image.name)
        return result


class ModelVersion(models.Model):
    """A trained checkpoint of one method that the editor can use; recipes pin one."""

    method = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=100)  # e.g. "starter-128"
    checkpoint = models.CharField(max_length=500)  # a directory with weights + manifest.json
    manifest = models.JSONField(default=dict)
    # Copied from the editor at registration, so the web process validates controls without torch.
    controls_schema = models.JSONField(default=dict)
    image_size = models.PositiveIntegerField(default=128)
    alignment = models.CharField(max_length=12, default="celeba")
    metrics = models.JSONField(default=dict)
    active = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["method", "-created"]
        constraints = [
            models.UniqueConstraint(fields=["method", "name"], name="unique_version_name"),
            models.UniqueConstraint(fields=["method"], condition=Q(active=True), name="one_active_version"),
        ]

    def __str__(self) -> str:
        return f"{self.method}:{self.name}"

    @classmethod
    def active_for(cls, method: str) -> "ModelVersion | None":
        return cls.objects.filter(method=method, active=True).first()

    def activate(self) -> None:
        ModelVersion.objects.filter(method=self.method, active=True).exclude(pk=self.pk).update(active=False)
        self.active = True
        self.save(update_fields=["active"])


class Recipe(models.Model):
    """An ordered list of edit steps, each {method, model_version, controls}, to apply to any photo."""

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        LINK = "link"  # anyone who has the share link
        PUBLIC = "public"

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recipes")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    steps = models.JSONField()
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    share_token = models.CharField(max_length=32, unique=True, default=_share_token, editable=False)
    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    source_photo = models.ForeignKey(Photo, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def visible_to(cls, user, share_token: str | None = None) -> models.QuerySet:
        shown = Q(visibility=cls.Visibility.PUBLIC)
        if user.is_authenticated:
            shown |= Q(owner=user)
        if share_token:
            shown |= Q(visibility=cls.Visibility.LINK, share_token=share_token)
        return cls.objects.filter(shown)

    def lineage(self) -> list["Recipe"]:
        """This recipe's ancestors, nearest first (stops at a cycle or a deleted parent)."""
        chain, seen, node = [], {self.pk}, self.forked_from
        while node is not None and node.pk not in seen:
            chain.append(node)
            seen.add(node.pk)
            node = node.forked_from
        return chain

    def share_exemplars(self, exemplar_ids: list[str]) -> None:
        """A shared recipe shares the owner's exemplars it uses, as a link shares the recipe."""
        if self.visibility != self.Visibility.PRIVATE and exemplar_ids:
            Exemplar.objects.filter(owner=self.owner, public_id__in=exemplar_ids).update(link_shared=True)

    def fork(self, user) -> "Recipe":
        return Recipe.objects.create(owner=user, title=f"{self.title} (fork)", description=self.description,
                                     steps=self.steps, forked_from=self)


class BatchJob(models.Model):
    """A recipe applied to many photos in the background; results downloadable one by one or as a zip."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    recipe = models.ForeignKey(Recipe, on_delete=models.SET_NULL, null=True, related_name="jobs")
    steps = models.JSONField()  # copied from the recipe when the job starts: later edits don't change it
    photos = models.ManyToManyField(Photo, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    archive = models.FileField(upload_to=_job_path, blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]


class BatchResult(models.Model):
    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="results")
    # Deleting a photo deletes what was made from it, batch results included.
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="batch_results")
    image = models.ImageField(upload_to="results/", blank=True)
    error = models.TextField(blank=True)
