"""The editor's pages: rendered for their owner, a login redirect for anonymous visitors, and a 404
for what a user may not see (another user's photo, a private or link-shared recipe without its link)."""
import pytest

from editing.models import Photo, Recipe

pytestmark = pytest.mark.django_db
PASSWORD = "a long pass phrase 42"


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("olive", password=PASSWORD)


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_user("oscar", password=PASSWORD)


@pytest.fixture
def photo(owner):
    return Photo.objects.create(owner=owner, title="portrait", original="x.jpg", sha256="0" * 64)


def recipe_of(user, visibility):
    return Recipe.objects.create(owner=user, title=f"{visibility} recipe", steps=[], visibility=visibility)


@pytest.mark.parametrize("path", ["/photos/", "/recipes/", "/gallery/"])
def test_the_pages_render_for_a_signed_in_user(client, owner, path):
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="nav-photos"' in html and "common.js" in html


@pytest.mark.parametrize("path", ["/photos/", "/recipes/", "/gallery/", "/photos/abc/edit/", "/recipes/abc/"])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_the_editor_renders_for_the_photos_owner(client, owner, photo):
    client.force_login(owner)
    response = client.get(f"/photos/{photo.public_id}/edit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-photo="{photo.public_id}"' in html and "editor.js" in html and "controls.js" in html


def test_the_editor_of_a_photo_with_no_face_says_why(client, owner, photo):
    Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.FAILED, error="no face was found in the photo")
    client.force_login(owner)
    html = client.get(f"/photos/{photo.public_id}/edit/").content.decode()
    assert "no face was found in the photo" in html and "editor.js" not in html


def test_another_users_photo_editor_is_404(client, other, photo):
    client.force_login(other)
    assert client.get(f"/photos/{photo.public_id}/edit/").status_code == 404
    assert client.get("/photos/no-such-photo/edit/").status_code == 404


def test_the_recipe_page_for_its_owner_shows_the_share_panel(client, owner):
    recipe = recipe_of(owner, Recipe.Visibility.LINK)
    client.force_login(owner)
    response = client.get(f"/recipes/{recipe.public_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert recipe.title in html and 'data-testid="share-panel"' in html and 'data-owner="true"' in html


def test_recipes_of_others_need_the_share_link_unless_public(client, owner, other):
    private, link, public = (recipe_of(owner, v) for v in ("private", "link", "public"))
    client.force_login(other)
    assert client.get(f"/recipes/{private.public_id}/").status_code == 404
    assert client.get(f"/recipes/{private.public_id}/?share={private.share_token}").status_code == 404
    assert client.get(f"/recipes/{link.public_id}/").status_code == 404
    assert client.get(f"/recipes/{link.public_id}/?share=wrong").status_code == 404
    response = client.get(f"/recipes/{link.public_id}/?share={link.share_token}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-share="{link.share_token}"' in html and 'data-testid="share-panel"' not in html
    assert client.get(f"/recipes/{public.public_id}/").status_code == 200


def test_the_gallery_offers_the_attributes_and_styles_it_has(client, owner, other):
    from editing.models import Exemplar

    Exemplar.objects.create(attribute="Bangs", style="side", public=True, source="synthetic", image="a.png")
    Exemplar.objects.create(owner=other, attribute="Secret_Hat", style="", image="b.png")
    client.force_login(owner)
    html = client.get("/gallery/").content.decode()
    assert '<option value="Bangs">' in html and '<option value="side">' in html
    assert "Secret_Hat" not in html
