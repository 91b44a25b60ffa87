"""Recipes: saved with validated steps, refused with reasons, forked with a lineage, applied to one
photo or many by a real Celery worker, results downloadable one by one or as a zip."""
import io
import time
import zipfile

import pytest
from PIL import Image

from editing.models import BatchJob, Recipe

pytestmark = pytest.mark.stack


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password="x")


def steps_for(version, **controls):
    return [{"method": version.method, "model_version": version.pk, "controls": controls}]


def test_a_saved_recipe_pins_its_model_and_completes_its_controls(carol, api_as, model_versions):
    version = model_versions["elegant"]
    response = api_as(carol).post("/api/recipes/", {"title": "bangs", "steps": steps_for(version, Bangs_strength=0.5),
                                                   "visibility": "link"}, format="json")
    assert response.status_code == 201, response.json()
    steps = response.json()["steps"]
    assert steps[0]["model_version"] == version.pk
    assert steps[0]["controls"]["Bangs_strength"] == 0.5
    assert steps[0]["controls"]["Eyeglasses_strength"] == version.controls_schema["properties"][
        "Eyeglasses_strength"]["default"]
    assert response.json()["share_url"].endswith(f"?share={Recipe.objects.get().share_token}")


def test_a_step_without_a_model_version_takes_the_active_one(carol, api_as, model_versions):
    response = api_as(carol).post("/api/recipes/", {"title": "t", "steps": [{"method": "homointerp"}]}, format="json")
    assert response.json()["steps"][0]["model_version"] == model_versions["homointerp"].pk


@pytest.mark.parametrize("steps, reason", [
    ("smile please", "steps must be a non-empty list"),
    ([], "steps must be a non-empty list"),
    (["elegant"], "step 1 must be an object"),
    ([{"method": "photoshop"}], "unknown method 'photoshop'"),
    ([{"method": "elegant", "model_version": 987654}], "elegant has no model version 987654"),
    ([{"method": "elegant", "controls": {"Bangs_strength": 9}}], "above its maximum"),
    ([{"method": "elegant", "controls": {"Grin": 1}}], "unknown control(s): Grin"),
    ([{"method": "elegant", "controls": {"Bangs_exemplar": "nope"}}], "exemplar 'nope' does not exist"),
    ([{"method": "elegant", "color": "red"}], "unknown field(s) color"),
    ([{"method": "elegant"}] * 9, "at most 8 steps"),
])
def test_a_malformed_recipe_is_refused_with_the_reason(carol, api_as, model_versions, steps, reason):
    response = api_as(carol).post("/api/recipes/", {"title": "bad", "steps": steps}, format="json")
    assert response.status_code == 400
    assert reason in response.json()["steps"][0]
    assert not Recipe.objects.exists()


def test_forks_remember_their_lineage(carol, django_user_model, api_as, model_versions):
    dave = django_user_model.objects.create_user("dave", password="x")
    original = api_as(carol).post("/api/recipes/", {"title": "base", "steps": steps_for(model_versions["elegant"]),
                                                   "visibility": "public"}, format="json").json()
    first = api_as(dave).post(f"/api/recipes/{original['id']}/fork/").json()
    api_as(dave).patch(f"/api/recipes/{first['id']}/", {"visibility": "public"}, format="json")
    second = api_as(carol).post(f"/api/recipes/{first['id']}/fork/").json()
    lineage = api_as(carol).get(f"/api/recipes/{second['id']}/lineage/").json()
    assert [(r["id"], r["owner"]) for r in lineage] == [(first["id"], "dave"), (original["id"], "carol")]


def wait_for_job(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}/").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_batch_apply_runs_on_the_worker_and_zips_the_results(carol, api_as, model_versions, make_photo,
                                                               celery_worker_process):
    photos = [make_photo(carol), make_photo(carol, "astronaut_grey.jpg")]
    recipe = api_as(carol).post("/api/recipes/", {"title": "both", "steps": steps_for(
        model_versions["elegant"], Bangs_strength=0.7)}, format="json").json()
    response = api_as(carol).post(f"/api/recipes/{recipe['id']}/apply/",
                                  {"photos": [p.public_id for p in photos]}, format="json")
    assert response.status_code == 202 and response.json()["total"] == 2
    job = wait_for_job(api_as(carol), response.json()["id"])
    assert job["status"] == "done" and job["done"] == 2, job
    assert all(result["url"] and not result["error"] for result in job["results"])

    one = api_as(carol).get(job["results"][0]["url"])
    size = photos[0].crops.get(style="celeba").size  # ELEGANT's residual edit, laid on the aligned crop
    assert Image.open(io.BytesIO(b"".join(one.streaming_content))).size == (size, size)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(api_as(carol).get(job["archive_url"]).streaming_content)))
    assert len(archive.namelist()) == 2 and all(name.endswith(".png") for name in archive.namelist())


def test_a_recipe_chains_steps_of_two_methods(carol, api_as, model_versions, make_photo, celery_worker_process):
    photo = make_photo(carol)
    steps = steps_for(model_versions["elegant"], Bangs_strength=1.0) + steps_for(model_versions["homointerp"])
    recipe = api_as(carol).post("/api/recipes/", {"title": "chain", "steps": steps}, format="json").json()
    job_id = api_as(carol).post(f"/api/recipes/{recipe['id']}/apply/", {"photos": [photo.public_id]},
                                format="json").json()["id"]
    assert wait_for_job(api_as(carol), job_id)["status"] == "done"
    assert BatchJob.objects.get(public_id=job_id).steps == recipe["steps"]


def test_a_photo_the_model_cannot_edit_is_reported_and_the_rest_of_the_batch_goes_on(
        carol, api_as, model_versions, make_photo, celery_worker_process):
    # The untrained demo HomoInterpGAN has no mean reference: a slider without an exemplar can't move.
    photo = make_photo(carol)
    recipe = api_as(carol).post("/api/recipes/", {"title": "x", "steps": steps_for(
        model_versions["homointerp"], expression=1.0)}, format="json").json()
    job_id = api_as(carol).post(f"/api/recipes/{recipe['id']}/apply/", {"photos": [photo.public_id]},
                                format="json").json()["id"]
    job = wait_for_job(api_as(carol), job_id)
    assert job["status"] == "done" and job["results"][0]["url"] is None
    assert "needs a reference image" in job["results"][0]["error"]
