"""The REST API. Every queryset starts from the model's `visible_to`, so a user reaches only what
they own or what was shared with them; writes are the owner's alone."""
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from editing import engine, services
from editing.api import serializers as s
from editing.models import BatchJob, Exemplar, ModelVersion, Photo, Recipe


@extend_schema(responses=s.UserSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """The signed-in user."""
    return Response(s.UserSerializer(request.user).data)


@extend_schema(responses=s.MethodSerializer(many=True))
@api_view(["GET"])
def methods(request: Request) -> Response:
    """The editing methods this server has."""
    return Response(s.MethodSerializer(engine.available_methods(), many=True).data)


def _file(field_file, content_type: str, download_name: str | None = None) -> FileResponse:
    if not field_file:
        raise Http404("no file")
    response = FileResponse(field_file.open("rb"), content_type=content_type,
                            as_attachment=download_name is not None, filename=download_name or "")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class UploadThrottle(ScopedRateThrottle):
    scope_attr = "throttle_scope"

    def get_cache_key(self, request, view):
        return None if request.method != "POST" else super().get_cache_key(request, view)


class UploadedImageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                           viewsets.GenericViewSet):
    """Objects made from an uploaded image: found by their public id, created by a throttled upload."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UploadThrottle]
    throttle_scope = "uploads"


class PhotoViewSet(UploadedImageViewSet):
    """Your photos. Upload with multipart `image`; the original is never served."""

    serializer_class = s.PhotoSerializer

    def get_queryset(self):
        return Photo.visible_to(self.request.user).prefetch_related("crops")

    @extend_schema(request=s.PhotoUploadSerializer, responses={201: s.PhotoSerializer})
    def create(self, request):
        upload = s.PhotoUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        try:
            data = services.read_upload(upload.validated_data["image"])
            photo = services.create_photo(request.user, data, upload.validated_data.get("title", ""))
        except engine.BadImage as error:
            raise ValidationError({"image": [str(error)]})
        return Response(s.PhotoSerializer(photo, context={"request": request}).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, *args, **kwargs):
        photo = self.get_object()
        Photo.objects.filter(pk=photo.pk).update(last_viewed=timezone.now())
        return Response(self.get_serializer(photo).data)

    def perform_destroy(self, photo):
        services.delete_photo(photo)


@extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
@api_view(["GET"])
def photo_image(request, id: str):
    """The photo as stored: re-encoded, EXIF orientation applied, no metadata."""
    photo = get_object_or_404(Photo.visible_to(request.user), public_id=id)
    return _file(photo.image, "image/jpeg")


@extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
@api_view(["GET"])
def photo_crop(request, id: str, style: str):
    """An aligned crop of the photo's face ("celeba", "ffhq" or "tpgan")."""
    photo = get_object_or_404(Photo.visible_to(request.user), public_id=id)
    crop = photo.crop(style)
    if crop is None:
        raise Http404("no such crop")
    return _file(crop.image, "image/png")


class ExemplarViewSet(UploadedImageViewSet):
    """The exemplar gallery: public exemplars and your own. Filter with ?attribute=Bangs&style=side."""

    serializer_class = s.ExemplarSerializer

    @extend_schema(parameters=[OpenApiParameter("attribute", str), OpenApiParameter("style", str),
                               OpenApiParameter("source", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        if self.action != "list":  # one by id: also those a shared recipe uses
            return Exemplar.readable_by(self.request.user).select_related("owner")
        queryset = Exemplar.visible_to(self.request.user).select_related("owner")
        for name in ("attribute", "style", "source"):
            value = self.request.query_params.get(name)
            if value:
                queryset = queryset.filter(**{name: value})
        return queryset

    @extend_schema(request=s.ExemplarUploadSerializer, responses={201: s.ExemplarSerializer})
    def create(self, request):
        """Add your own exemplar from a photo; its face is aligned like the methods' inputs."""
        upload = s.ExemplarUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        public = data["public"] and request.user.is_staff  # only staff publish to everyone
        try:
            exemplar = services.create_exemplar(request.user, services.read_upload(data["image"]), data["attribute"],
                                            data.get("style", ""), data.get("title", ""), public)
        except (engine.BadImage, engine.NoFace) as error:
            raise ValidationError({"image": [str(error)]})
        except ValueError as error:
            raise ValidationError({"attribute": [str(error)]})
        return Response(s.ExemplarSerializer(exemplar, context={"request": request}).data, status=201)

    def perform_destroy(self, exemplar):
        if exemplar.owner_id != self.request.user.id and not self.request.user.is_staff:
            raise PermissionDenied("only its owner can delete an exemplar")
        exemplar.delete()


@extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
@api_view(["GET"])
def exemplar_image(request, id: str):
    exemplar = get_object_or_404(Exemplar.readable_by(request.user), public_id=id)
    return _file(exemplar.image, "image/png")


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Trained model versions; staff promote one per method to active."""

    serializer_class = s.ModelVersionSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    queryset = ModelVersion.objects.all()

    @extend_schema(parameters=[OpenApiParameter("method", str), OpenApiParameter("active", bool)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.request.query_params.get("method"):
            queryset = queryset.filter(method=self.request.query_params["method"])
        if self.request.query_params.get("active") in ("true", "1"):
            queryset = queryset.filter(active=True)
        return queryset

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        version = self.get_object()
        with transaction.atomic():
            version.activate()
        return Response(self.get_serializer(version).data)


class RecipeViewSet(viewsets.ModelViewSet):
    """Edit recipes: yours, public ones, and link-shared ones (pass ?share=TOKEN)."""

    serializer_class = s.RecipeSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        queryset = Recipe.visible_to(self.request.user, self.request.query_params.get("share"))
        if self.action == "list":
            scope = self.request.query_params.get("scope", "mine")
            queryset = queryset.filter(owner=self.request.user) if scope == "mine" else queryset.filter(
                visibility=Recipe.Visibility.PUBLIC)
        return queryset.select_related("owner", "forked_from")

    @extend_schema(parameters=[OpenApiParameter("scope", str, enum=["mine", "public"])])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _validated_steps(self, serializer):
        try:
            return services.validate_steps(serializer.validated_data.get("steps"), self.request.user)
        except services.InvalidRecipe as error:
            raise ValidationError({"steps": [str(error)]})

    def perform_create(self, serializer):
        recipe = serializer.save(owner=self.request.user, steps=self._validated_steps(serializer))
        recipe.share_exemplars(services.referenced_exemplars(recipe.steps))

    def perform_update(self, serializer):
        if serializer.instance.owner_id != self.request.user.id:
            raise PermissionDenied("only its owner can change a recipe")
        extra = {"steps": self._validated_steps(serializer)} if "steps" in serializer.validated_data else {}
        recipe = serializer.save(**extra)
        recipe.share_exemplars(services.referenced_exemplars(recipe.steps))

    def perform_destroy(self, recipe):
        if recipe.owner_id != self.request.user.id:
            raise PermissionDenied("only its owner can delete a recipe")
        recipe.delete()

    @extend_schema(request=None, responses={201: s.RecipeSerializer})
    @action(detail=True, methods=["post"])
    def fork(self, request, id=None):
        """Copy a recipe you can see into your own; the copy remembers where it came from."""
        fork = self.get_object().fork(request.user)
        return Response(self.get_serializer(fork).data, status=201)

    @extend_schema(responses=s.LineageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def lineage(self, request, id=None):
        return Response(s.LineageSerializer(self.get_object().lineage(), many=True,
                                            context={"request": request}).data)

    @extend_schema(request=s.ApplySerializer, responses={202: s.BatchJobSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, id=None):
        """Apply the recipe to one or many of your photos, as a background job."""
        recipe = self.get_object()
        body = s.ApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = list(dict.fromkeys(body.validated_data["photos"]))
        photos = list(Photo.visible_to(request.user).filter(public_id__in=wanted, status=Photo.Status.READY))
        if len(photos) != len(wanted):
            missing = sorted(set(wanted) - {p.public_id for p in photos})
            raise ValidationError({"photos": [f"not your photo, or no face to edit: {', '.join(missing)}"]})
        try:
            services.validate_steps(recipe.steps, request.user)
        except services.InvalidRecipe as error:
            raise ValidationError({"steps": [str(error)]})
        job = services.start_batch(request.user, recipe, photos)
        return Response(s.BatchJobSerializer(job, context={"request": request}).data, status=202)


class BatchJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Your batch jobs: progress, per-photo results and a zip of them."""

    serializer_class = s.BatchJobSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return BatchJob.objects.none()
        return BatchJob.objects.filter(owner=self.request.user).prefetch_related("results__photo")


@extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
@api_view(["GET"])
def job_archive(request, id: str):
    job = get_object_or_404(BatchJob, owner=request.user, public_id=id)
    return _file(job.archive, "application/zip", f"facelab-{job.public_id}.zip")


@extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
@api_view(["GET"])
def job_result(request, id: str, photo: str):
    job = get_object_or_404(BatchJob, owner=request.user, public_id=id)
    result = get_object_or_404(job.results, photo__public_id=photo)
    return _file(result.image, "image/png", f"{photo}.png")
