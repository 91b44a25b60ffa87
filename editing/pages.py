"""The editor's pages: thin server-rendered shells; the page scripts talk to the REST API and the
editor WebSocket. Permission comes from the models' `visible_to`, like the API's."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from editing.models import Exemplar, Photo, Recipe


@login_required
def photos(request: HttpRequest) -> HttpResponse:
    """My photos: upload (drag and drop, progress, landmarks), list, delete, edit."""
    return render(request, "pages/photos.html", {"page": "photos"})


@login_required
def editor(request: HttpRequest, photo_id: str) -> HttpResponse:
    photo = get_object_or_404(Photo.visible_to(request.user), public_id=photo_id)
    return render(request, "pages/editor.html", {"page": "photos", "photo": photo,
                                                 "ready": photo.status == Photo.Status.READY})


@login_required
def recipes(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/recipes.html", {"page": "recipes"})


@login_required
def recipe(request: HttpRequest, recipe_id: str) -> HttpResponse:
    share = request.GET.get("share") or ""
    found = get_object_or_404(Recipe.visible_to(request.user, share or None).select_related("owner"),
                              public_id=recipe_id)
    return render(request, "pages/recipe.html", {"page": "recipes", "recipe": found, "share": share,
                                                 "is_owner": found.owner_id == request.user.id})


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    visible = Exemplar.visible_to(request.user)
    attributes = sorted(set(visible.values_list("attribute", flat=True)))
    styles = sorted(set(visible.exclude(style="").values_list("style", flat=True)))
    return render(request, "pages/gallery.html", {"page": "gallery", "attributes": attributes, "styles": styles})
