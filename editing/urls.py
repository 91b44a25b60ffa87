from django.urls import path

from editing import pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("healthz", views.healthz, name="healthz"),
    path("photos/", pages.photos, name="photos"),
    path("photos/<str:photo_id>/edit/", pages.editor, name="editor"),
    path("recipes/", pages.recipes, name="recipes"),
    path("recipes/<str:recipe_id>/", pages.recipe, name="recipe"),
    path("gallery/", pages.gallery, name="gallery"),
]
