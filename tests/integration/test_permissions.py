"""Every boundary between two users: each reaches only what they own or what was shared with them."""
import pytest
from rest_framework.test import APIClient

from editing.models import Exemplar, Recipe

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="x")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="x")


@pytest.fixture
def alices_photo(alice, make_photo):
    return make_photo(alice)


def recipe_for(owner, version, visibility):
    return Recipe.objects.create(owner=owner, title=f"{visibility} recipe", visibility=visibility,
                                 steps=[{"method": version.method, "model_version": version.pk, "controls": {}}])


def test_photos_are_their_owners_alone(alice, bob, alices_photo, api_as):
    base = f"/api/photos/{alices_photo.public_id}"
    assert api_as(alice).get(base + "/").status_code == 200
    for path in ("/", "/image/", "/crops/celeba/"):
        assert api_as(bob).get(base + path).status_code == 404, path
    assert api_as(bob).get("/api/photos/").json()["count"] == 0
    assert api_as(bob).delete(base + "/").status_code == 404
    assert APIClient().get(base + "/image/").status_code == 401


def test_private_exemplars_are_their_owners_public_ones_everyones(alice, bob, api_as):
    private = Exemplar.objects.create(owner=alice, attribute="Bangs", image="x.png")
    public = Exemplar.objects.create(owner=None, attribute="Bangs", public=True, image="y.png",
                                     source=Exemplar.Source.SYNTHETIC)
    listed = {e["id"] for e in api_as(bob).get("/api/exemplars/?attribute=Bangs").json()["results"]}
    assert listed == {public.public_id}
    assert api_as(bob).get(f"/api/exemplars/{private.public_id}/").status_code == 404
    assert api_as(bob).delete(f"/api/exemplars/{public.public_id}/").status_code == 403
    assert {e["id"] for e in api_as(alice).get("/api/exemplars/").json()["results"]} == {private.public_id,
                                                                                         public.public_id}


def test_non_staff_users_cannot_publish_exemplars_or_promote_models(bob, api_as, model_versions, make_photo):
    version = model_versions["elegant"]
    assert api_as(bob).post(f"/api/model-versions/{version.pk}/activate/").status_code == 403
    response = api_as(bob).post("/api/exemplars/", {"image": open(__file__.replace(
        "integration/test_permissions.py", "fixtures/faces/astronaut.jpg"), "rb"), "attribute": "Bangs",
        "public": True}, format="multipart")
    assert response.status_code == 201 and response.json()["public"] is False


@pytest.mark.parametrize("visibility, bob_sees, bob_sees_with_link", [
    ("private", False, False), ("link", False, True), ("public", True, True)])
def test_recipe_visibility(alice, bob, api_as, model_versions, visibility, bob_sees, bob_sees_with_link):
    recipe = recipe_for(alice, model_versions["elegant"], visibility)
    plain = api_as(bob).get(f"/api/recipes/{recipe.public_id}/")
    linked = api_as(bob).get(f"/api/recipes/{recipe.public_id}/?share={recipe.share_token}")
    assert (plain.status_code == 200) is bob_sees
    assert (linked.status_code == 200) is bob_sees_with_link
    wrong_token = api_as(bob).get(f"/api/recipes/{recipe.public_id}/?share=guess")
    assert (wrong_token.status_code == 200) is bob_sees
    public_list = {r["id"] for r in api_as(bob).get("/api/recipes/?scope=public").json()["results"]}
    assert (recipe.public_id in public_list) is (visibility == "public")
    if bob_sees_with_link:
        assert linked.json()["share_url"] is None  # only the owner is shown the share link


def test_only_the_owner_changes_or_deletes_a_recipe_anyone_who_sees_it_forks_it(alice, bob, api_as, model_versions):
    recipe = recipe_for(alice, model_versions["elegant"], "public")
    url = f"/api/recipes/{recipe.public_id}/"
    assert api_as(bob).patch(url, {"title": "mine now"}, format="json").status_code == 403
    assert api_as(bob).delete(url).status_code == 403
    fork = api_as(bob).post(url + "fork/").json()
    assert fork["owner"] == "bob" and fork["forked_from"] == recipe.public_id
    assert api_as(alice).patch(url, {"title": "renamed"}, format="json").json()["title"] == "renamed"


def test_nobody_applies_a_recipe_to_someone_elses_photo(alice, bob, alices_photo, api_as, model_versions):
    recipe = recipe_for(bob, model_versions["elegant"], "private")
    response = api_as(bob).post(f"/api/recipes/{recipe.public_id}/apply/",
                                {"photos": [alices_photo.public_id]}, format="json")
    assert response.status_code == 400 and alices_photo.public_id in response.json()["photos"][0]


def test_jobs_and_their_results_are_their_owners(alice, bob, alices_photo, api_as, model_versions, settings):
    from editing import services

    recipe = recipe_for(alice, model_versions["elegant"], "public")
    job = services.start_batch(alice, recipe, [alices_photo])
    services.run_batch(job)
    assert api_as(alice).get(f"/api/jobs/{job.public_id}/").json()["status"] == "done"
    for path in ("/", "/archive/", f"/results/{alices_photo.public_id}/"):
        assert api_as(bob).get(f"/api/jobs/{job.public_id}{path}").status_code == 404, path
        assert api_as(alice).get(f"/api/jobs/{job.public_id}{path}").status_code == 200, path


def test_a_shared_recipe_shares_the_private_exemplars_it_uses_without_listing_them(
        alice, bob, api_as, model_versions, make_photo):
    exemplar = Exemplar.objects.create(owner=alice, attribute="Bangs", image="x.png")
    version = model_versions["elegant"]
    steps = [{"method": "elegant", "model_version": version.pk, "controls": {"Bangs_exemplar": exemplar.public_id}}]
    private = api_as(alice).post("/api/recipes/", {"title": "p", "steps": steps}, format="json").json()
    assert api_as(bob).get(f"/api/exemplars/{exemplar.public_id}/").status_code == 404

    api_as(alice).patch(f"/api/recipes/{private['id']}/", {"visibility": "link"}, format="json")
    assert api_as(bob).get(f"/api/exemplars/{exemplar.public_id}/").status_code == 200
    assert api_as(bob).get("/api/exemplars/").json()["count"] == 0  # readable by id, never listed
    recipe = Recipe.objects.get(public_id=private["id"])
    photo = make_photo(bob)
    applied = api_as(bob).post(f"/api/recipes/{recipe.public_id}/apply/?share={recipe.share_token}",
                               {"photos": [photo.public_id]}, format="json")
    assert applied.status_code == 202, applied.json()


def test_a_forks_lineage_links_only_ancestors_the_reader_can_open(alice, bob, api_as, model_versions):
    parent = recipe_for(alice, model_versions["elegant"], "link")
    fork = api_as(bob).post(f"/api/recipes/{parent.public_id}/fork/?share={parent.share_token}").json()
    lineage = api_as(bob).get(f"/api/recipes/{fork['id']}/lineage/").json()
    assert lineage == [{"id": None, "title": "link recipe", "owner": "alice", "visible": False}]
    assert api_as(alice).get(f"/api/recipes/{fork['id']}/lineage/").status_code == 404  # bob's fork is private

    parent.visibility = Recipe.Visibility.PRIVATE
    parent.save()
    assert api_as(bob).get(f"/api/recipes/{fork['id']}/lineage/").json() == [
        {"id": None, "title": "a private recipe", "owner": None, "visible": False}]
