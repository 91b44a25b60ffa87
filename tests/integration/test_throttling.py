"""Uploads and previews are throttled per user, with a message that says so."""
import asyncio
import json
import time

import pytest

from asgiref.testing import ApplicationCommunicator
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from editing.consumers import EditorConsumer
from tests.conftest import FACES


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_uploads_past_the_rate_get_429(api_as, django_user_model, settings, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"uploads": "2/min", "renders": "600/hour"})
    client = api_as(django_user_model.objects.create_user("eager", password="x"))
    data = (FACES / "flat.png").read_bytes()
    codes = [client.post("/api/photos/", {"image": SimpleUploadedFile("f.png", data)}, format="multipart").status_code
             for _ in range(3)]
    assert codes[:2] == [201, 201] and codes[2] == 429


@pytest.mark.django_db(transaction=True)
def test_previews_past_the_rate_are_dropped_with_one_notice(django_user_model, make_photo, settings):
    settings.FACELAB_RENDER_MODE = "inprocess"
    settings.FACELAB_PREVIEW_MAX_PER_SECOND = 3
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    user = django_user_model.objects.create_user("flooder", password="x")
    photo = make_photo(user)

    async def scenario():
        # The consumer on its own, no server: channels.testing would need daphne, so plain asgiref.
        scope = {"type": "websocket", "path": f"/ws/edit/{photo.public_id}/", "user": user, "headers": [],
                 "url_route": {"kwargs": {"photo": photo.public_id}}}
        communicator = ApplicationCommunicator(EditorConsumer.as_asgi(), scope)
        await communicator.send_input({"type": "websocket.connect"})
        assert (await communicator.receive_output(10))["type"] == "websocket.accept"
        await communicator.receive_output(10)  # hello
        # The rate counts whole clock seconds; start the burst just after one ticks so it lands in one.
        await asyncio.sleep(1 - time.time() % 1)
        for seq in range(10):
            await communicator.send_input({"type": "websocket.receive", "text": json.dumps(
                {"type": "wave", "seq": seq})})  # cheap to answer, so all ten land in one second
        messages = []
        while not await communicator.receive_nothing(timeout=3):
            messages.append(json.loads((await communicator.receive_output())["text"]))
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        return messages

    from asgiref.sync import async_to_sync

    messages = async_to_sync(scenario)()
    notices = [m for m in messages if m.get("error") == "Too many preview requests; slow down."]
    assert len(notices) == 1
    assert len([m for m in messages if m.get("error") == "unknown message type"]) == 3
