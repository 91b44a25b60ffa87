from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework import serializers

from editing.models import BatchJob, BatchResult, Exemplar, ModelVersion, Photo, Recipe


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "is_staff", "date_joined"]
        read_only_fields = fields


class MethodSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    alignment = serializers.CharField()


class PhotoSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    image_url = serializers.SerializerMethodField()
    crops = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = ["id", "title", "status", "error", "width", "height", "face_count", "face_box", "landmarks",
                  "image_url", "crops", "created"]
        read_only_fields = fields

    def get_image_url(self, photo) -> str:
        return reverse("photo-image", args=[photo.public_id])

    def get_crops(self, photo) -> dict:
        return {crop.style: {"size": crop.size, "landmarks": crop.landmarks,
                             "url": reverse("photo-crop", args=[photo.public_id, crop.style])}
                for crop in photo.crops.all()}


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField()
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ExemplarSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Exemplar
        fields = ["id", "attribute", "style", "title", "source", "public", "owner", "image_url", "created"]
        read_only_fields = ["id", "source", "owner", "image_url", "created"]

    def get_image_url(self, exemplar) -> str:
        return reverse("exemplar-image", args=[exemplar.public_id])


class ExemplarUploadSerializer(serializers.Serializer):
    image = serializers.FileField()
    attribute = serializers.CharField(max_length=40)
    style = serializers.CharField(max_length=40, required=False, allow_blank=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    public = serializers.BooleanField(required=False, default=False)


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "method", "name", "active", "image_size", "alignment", "controls_schema", "metrics",
                  "manifest", "created"]
        read_only_fields = fields


class StepSerializer(serializers.Serializer):
    method = serializers.CharField()
    model_version = serializers.IntegerField(required=False)
    controls = serializers.DictField(required=False)


class RecipeSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    forked_from = serializers.CharField(source="forked_from.public_id", read_only=True, default=None)
    share_url = serializers.SerializerMethodField()
    steps = serializers.JSONField(help_text="ordered steps: [{method, model_version, controls}]")
    source_photo = serializers.SlugRelatedField(slug_field="public_id", queryset=Photo.objects.none(),
                                                required=False, allow_null=True)

    class Meta:
        model = Recipe
        fields = ["id", "title", "description", "steps", "visibility", "owner", "forked_from", "share_url",
                  "source_photo", "created", "updated"]
        read_only_fields = ["id", "owner", "forked_from", "share_url", "created", "updated"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["source_photo"].queryset = Photo.visible_to(request.user)

    def get_share_url(self, recipe) -> str | None:
        request = self.context.get("request")
        if request is None or recipe.owner_id != request.user.id or recipe.visibility == Recipe.Visibility.PRIVATE:
            return None
        return f"/recipes/{recipe.public_id}/?share={recipe.share_token}"  # the recipe page


class LineageSerializer(serializers.ModelSerializer):
    """An ancestor in a fork's lineage. One the reader may not open shows no id (no link); a private
    one shows neither title nor owner, a link-shared one does (whoever forked it held the link)."""

    visible = serializers.SerializerMethodField()

    class Meta:
        model = Recipe
        fields = ["id", "title", "owner", "visible"]

    def get_visible(self, recipe) -> bool:
        return Recipe.visible_to(self.context["request"].user).filter(pk=recipe.pk).exists()

    def to_representation(self, recipe) -> dict:
        if self.get_visible(recipe):
            return {"id": recipe.public_id, "title": recipe.title, "owner": recipe.owner.username, "visible": True}
        if recipe.visibility == Recipe.Visibility.LINK:
            return {"id": None, "title": recipe.title, "owner": recipe.owner.username, "visible": False}
        return {"id": None, "title": "a private recipe", "owner": None, "visible": False}


class ApplySerializer(serializers.Serializer):
    photos = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=200)


class BatchResultSerializer(serializers.ModelSerializer):
    photo = serializers.CharField(source="photo.public_id", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = BatchResult
        fields = ["photo", "error", "url"]

    def get_url(self, result) -> str | None:
        if not result.image:
            return None
        return reverse("job-result", args=[result.job.public_id, result.photo.public_id])


class BatchJobSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    recipe = serializers.CharField(source="recipe.public_id", read_only=True, default=None)
    results = BatchResultSerializer(many=True, read_only=True)
    archive_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = ["id", "recipe", "status", "done", "total", "error", "results", "archive_url", "created", "finished"]
        read_only_fields = fields

    def get_archive_url(self, job) -> str | None:
        return reverse("job-archive", args=[job.public_id]) if job.archive else None
