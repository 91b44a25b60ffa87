"""Uploads: real image files through the API, on PostgreSQL; what is stored, served and refused."""
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from editing.models import AlignedCrop, Photo

pytestmark = pytest.mark.django_db
FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("uploader", password="x"))
    return client


def upload(api, data: bytes, name: str = "photo.jpg"):
    return api.post("/api/photos/", {"image": SimpleUploadedFile(name, data), "title": name}, format="multipart")


def test_a_face_photo_is_stored_re_encoded_with_its_aligned_crops_and_landmarks(api):
    response = upload(api, (FACES / "astronaut.jpg").read_bytes())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["face_count"] == 1
    assert len(body["landmarks"]) == 68 and len(body["face_box"]) == 4
    assert set(body["crops"]) == {"celeba", "ffhq", "tpgan"}
    crop = api.get(body["crops"]["celeba"]["url"])
    assert crop.status_code == 200 and Image.open(io.BytesIO(b"".join(crop.streaming_content))).size == (256, 256)
    served = api.get(body["image_url"])
    assert served["Content-Type"] == "image/jpeg"


def test_a_photo_without_a_face_is_kept_as_failed_with_a_clear_error(api):
    body = upload(api, (FACES / "coffee.jpg").read_bytes()).json()
    assert body["status"] == "failed"
    assert "no face" in body["error"].lower()
    assert body["crops"] == {}


def test_two_faces_edit_the_largest_and_report_the_count(api):
    body = upload(api, (FACES / "two_faces.jpg").read_bytes()).json()
    assert body["status"] == "ready" and body["face_count"] == 2


def test_a_decompression_bomb_is_refused_before_decoding_and_nothing_is_stored(api):
    buffer = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, "PNG")  # 81 megapixels in a few hundred kilobytes
    response = upload(api, buffer.getvalue(), "huge.png")
    assert response.status_code == 400
    assert "too large" in response.json()["image"][0]
    assert not Photo.objects.exists()


def test_a_file_over_the_size_limit_is_refused(api, settings):
    settings.FACELAB_UPLOAD_MAX_BYTES = 10_000
    response = upload(api, (FACES / "astronaut.jpg").read_bytes())
    assert response.status_code == 400 and "limit is" in response.json()["image"][0]


def test_a_truncated_file_is_refused(api):
    data = (FACES / "astronaut.jpg").read_bytes()
    response = upload(api, data[: len(data) // 3])
    assert response.status_code == 400 and "not a readable" in response.json()["image"][0]
    assert not Photo.objects.exists()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_another_format_named_jpg_is_refused_by_its_content(api, fmt):
    buffer = io.BytesIO()
    Image.open(FACES / "astronaut.jpg").save(buffer, fmt)
    response = upload(api, buffer.getvalue(), "innocent.jpg")
    assert response.status_code == 400 and "JPEG, PNG or WebP" in response.json()["image"][0]


def test_exif_rotation_is_applied_and_every_metadata_block_is_stripped(api, tmp_path):
    portrait = Image.open(FACES / "astronaut.jpg").convert("RGB").resize((300, 200))  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS position
    path = tmp_path / "phone.jpg"
    portrait.save(path, "JPEG", exif=exif, comment=b"shot at home", icc_profile=b"\0" * 128)
    with Image.open(path) as check:
        assert check.getexif()[0x0112] == 6 and check.info.get("comment")

    body = upload(api, path.read_bytes(), "phone.jpg").json()
    assert (body["width"], body["height"]) == (200, 300)  # upright
    stored = Photo.objects.get(public_id=body["id"])
    with stored.image.open("rb") as handle:
        cleaned = Image.open(io.BytesIO(handle.read()))
        cleaned.load()
    assert not cleaned.getexif()
    for key in ("exif", "comment", "icc_profile", "xmp"):
        assert key not in cleaned.info, key


def test_the_original_is_never_served_and_uploaded_names_are_never_paths(api):
    body = upload(api, (FACES / "astronaut.jpg").read_bytes(), "../../etc/passwd.jpg").json()
    photo = Photo.objects.get(public_id=body["id"])
    assert "passwd" not in photo.original.name and "passwd" not in photo.image.name
    assert photo.original.name.startswith(f"photos/{photo.owner_id}/{photo.public_id}/")
    assert "original" not in str(body)


def test_owners_delete_a_photo_and_everything_made_from_it(api):
    body = upload(api, (FACES / "astronaut.jpg").read_bytes()).json()
    photo = Photo.objects.get(public_id=body["id"])
    files = [photo.original, photo.image] + [crop.image for crop in photo.crops.all()]
    assert api.delete(f"/api/photos/{body['id']}/").status_code == 204
    assert not Photo.objects.exists() and not AlignedCrop.objects.exists()
    for field_file in files:
        assert not field_file.storage.exists(field_file.name)


def test_retention_deletes_uploads_nobody_opened(api, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    old = upload(api, (FACES / "astronaut.jpg").read_bytes()).json()["id"]
    fresh = upload(api, (FACES / "astronaut.jpg").read_bytes()).json()["id"]
    Photo.objects.filter(public_id=old).update(last_viewed=timezone.now() - timedelta(days=31))
    call_command("delete_stale_photos", days=30)
    assert list(Photo.objects.values_list("public_id", flat=True)) == [fresh]
