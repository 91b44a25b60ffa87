"""WebSockets: signed-in users join their group and get messages and frames sent by the worker."""
import asyncio
import json

import pytest
import websockets

from editing import tasks
from editing.frames import unpack_frame
from editing.groups import user_group
from tests.conftest import login

pytestmark = pytest.mark.stack


def connect(server, client=None, origin=None):
    headers = {"Origin": origin or server.url}
    if client is not None:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return websockets.connect(server.ws_url + "/ws/preview/", additional_headers=headers, open_timeout=30)


@pytest.fixture
def alice(stack_server, transactional_db, django_user_model):
    django_user_model.objects.create_user("alice", password="correct horse battery")
    client = login(stack_server.url, "alice", "correct horse battery")
    client.user_id = django_user_model.objects.get(username="alice").id
    return client


async def receive_json(socket, kind, timeout=30):
    while True:
        message = await asyncio.wait_for(socket.recv(), timeout)
        if isinstance(message, str) and json.loads(message)["type"] == kind:
            return json.loads(message)


def test_a_message_sent_from_a_celery_worker_reaches_the_users_group(stack_server, alice):
    async def scenario():
        async with connect(stack_server, alice) as socket:
            await receive_json(socket, "hello")
            await asyncio.to_thread(tasks.preview_notify_group.delay, user_group(alice.user_id),
                                    {"text": "training finished"})
            notice = await receive_json(socket, "notice")
            assert notice["text"] == "training finished"

    asyncio.run(scenario())


def test_a_preview_request_comes_back_as_a_binary_frame_rendered_by_the_worker(stack_server, alice):
    async def scenario():
        async with connect(stack_server, alice) as socket:
            hello = await receive_json(socket, "hello")
            assert hello["render_mode"] == "celery"
            await socket.send(json.dumps({"type": "smoke", "seq": 41, "strength": 0.5}))
            frame = await asyncio.wait_for(socket.recv(), 60)
            header, jpeg = unpack_frame(frame)
            assert header["seq"] == 41 and header["kind"] == "smoke"
            assert jpeg[:2] == b"\xff\xd8"  # a JPEG

    asyncio.run(scenario())


def test_anonymous_connections_are_refused_at_the_handshake(stack_server):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(stack_server):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_connections_from_another_site_are_refused(stack_server, alice):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(stack_server, alice, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())
