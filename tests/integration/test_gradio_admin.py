"""The Gradio admin inside the ASGI app answers staff only, through the Django session."""
import json

import httpx
import pytest

from tests.conftest import login

pytestmark = pytest.mark.stack
PAGE = "/admin/gradio/"
SMOKE_API = "/admin/gradio/gradio_api/call/smoke_check"


@pytest.fixture
def users(transactional_db, django_user_model):
    django_user_model.objects.create_user("staffer", password="correct horse battery", is_staff=True)
    django_user_model.objects.create_user("member", password="correct horse battery")


def test_anonymous_visitors_are_refused(stack_server):
    assert httpx.get(stack_server.url + PAGE, timeout=30).status_code == 401
    assert httpx.post(stack_server.url + SMOKE_API, json={"data": [None, 1.0]}, timeout=30).status_code == 401


def test_signed_in_non_staff_users_are_refused(stack_server, users):
    member = login(stack_server.url, "member", "correct horse battery")
    assert member.get(PAGE).status_code == 401
    assert member.post(SMOKE_API, json={"data": [None, 1.0]}).status_code == 401


def test_a_forged_session_cookie_is_refused(stack_server):
    response = httpx.get(stack_server.url + PAGE, cookies={"sessionid": "not-a-real-session"}, timeout=30)
    assert response.status_code == 401


def test_staff_get_the_page_and_run_the_smoke_check(stack_server, users):
    staffer = login(stack_server.url, "staffer", "correct horse battery")
    page = staffer.get(PAGE)
    assert page.status_code == 200 and "gradio" in page.text.lower()

    event_id = staffer.post(SMOKE_API, json={"data": [None, 1.0]}).json()["event_id"]
    stream = staffer.get(f"{SMOKE_API}/{event_id}", timeout=120).text
    assert "event: complete" in stream, stream[-2000:]
    payload = json.loads(stream.split("event: complete")[1].split("data:", 1)[1].strip().splitlines()[0])
    image, summary = payload
    assert "87 parameters" in summary and "128×128 px" in summary
    assert image["url"]  # the output image is served back to the staff member
