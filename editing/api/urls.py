from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from editing.api import views

router = DefaultRouter()
router.register("photos", views.PhotoViewSet, basename="photo")
router.register("exemplars", views.ExemplarViewSet, basename="exemplar")
router.register("model-versions", views.ModelVersionViewSet, basename="modelversion")
router.register("recipes", views.RecipeViewSet, basename="recipe")
router.register("jobs", views.BatchJobViewSet, basename="job")

urlpatterns = [
    path("me/", views.me, name="api-me"),
    path("methods/", views.methods, name="api-methods"),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("photos/<str:id>/image/", views.photo_image, name="photo-image"),
    path("photos/<str:id>/crops/<str:style>/", views.photo_crop, name="photo-crop"),
    path("exemplars/<str:id>/image/", views.exemplar_image, name="exemplar-image"),
    path("jobs/<str:id>/archive/", views.job_archive, name="job-archive"),
    path("jobs/<str:id>/results/<str:photo>/", views.job_result, name="job-result"),
    path("", include(router.urls)),
]
