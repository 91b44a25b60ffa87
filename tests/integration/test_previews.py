"""Live previews over the editor WebSocket, rendered by a real Celery worker: encode once, frames
per slider move, latest wins under a burst, clear errors for bad controls and a dead worker."""
import asyncio
import json

import pytest
import websockets

from editing.frames import unpack_frame
from tests.conftest import clean_environment, login, start_server

pytestmark = pytest.mark.stack
PASSWORD = "correct horse battery"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def photo(alice, make_photo):
    return make_photo(alice)


def editor_socket(server, username, photo_id):
    client = login(server.url, username, PASSWORD)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return websockets.connect(f"{server.ws_url}/ws/edit/{photo_id}/", open_timeout=30,
                              additional_headers={"Cookie": cookie, "Origin": server.url})


def preview(seq, version, final=False, **controls):
    return json.dumps({"type": "preview", "seq": seq, "final": final, "steps": [
        {"method": version.method, "model_version": version.pk, "controls": controls}]})


async def next_message(socket, timeout=60):
    message = await asyncio.wait_for(socket.recv(), timeout)
    return unpack_frame(message) if isinstance(message, bytes) else json.loads(message)


def test_encode_once_then_each_slider_move_is_a_frame(stack_server, alice, photo, model_versions):
    version = model_versions["elegant"]
    crop_size = photo.crops.get(style="celeba").size

    async def scenario():
        async with editor_socket(stack_server, "alice", photo.public_id) as socket:
            assert (await next_message(socket))["render_mode"] == "celery"
            await socket.send(json.dumps({"type": "encode", "steps": [{"method": "elegant"}]}))
            assert (await next_message(socket)) == {"type": "encoded", "model_version": version.pk}
            await socket.send(preview(1, version, Bangs_strength=0.3))
            header, jpeg = await next_message(socket)
            assert (header["seq"], header["kind"], jpeg[:2]) == (1, "draft", b"\xff\xd8")
            # ELEGANT's residual edit comes back laid on the aligned crop, at the crop's size
            assert header["width"] == crop_size and header["render_ms"] > 0
            await socket.send(preview(2, version, final=True, Bangs_strength=0.9))
            header, png = await next_message(socket)
            assert (header["seq"], header["kind"], png[:4]) == (2, "final", b"\x89PNG")

    asyncio.run(scenario())


def test_latest_wins_a_burst_of_50_renders_far_fewer_frames_and_ends_on_the_last(
        stack_server, alice, photo, model_versions):
    version = model_versions["elegant"]

    async def scenario():
        async with editor_socket(stack_server, "alice", photo.public_id) as socket:
            await next_message(socket)
            for seq in range(1, 51):
                await socket.send(preview(seq, version, Bangs_strength=seq / 50))
            seqs = []
            while not seqs or seqs[-1] != 50:
                header, _ = await next_message(socket)
                seqs.append(header["seq"])
            return seqs

    seqs = asyncio.run(scenario())
    assert seqs == sorted(set(seqs)), "frames arrive in order, each once"
    assert len(seqs) <= 25, f"{len(seqs)} frames rendered for 50 requests"
    assert seqs[-1] == 50


def test_controls_outside_the_schema_get_the_reason_and_no_frame(stack_server, alice, photo, model_versions):
    version = model_versions["elegant"]

    async def scenario():
        async with editor_socket(stack_server, "alice", photo.public_id) as socket:
            await next_message(socket)
            await socket.send(preview(5, version, Bangs_strength=40))
            error = await next_message(socket)
            assert error["type"] == "error" and error["seq"] == 5
            assert "Bangs_strength" in error["error"] and "maximum" in error["error"]
            await socket.send(json.dumps({"type": "draw a moustache"}))
            assert (await next_message(socket))["error"] == "unknown message type"
            await socket.send("{not json")
            assert (await next_message(socket))["error"] == "messages must be JSON text"
            await socket.send(b"\x00\x01")
            assert (await next_message(socket))["error"] == "messages must be JSON text"
            await socket.send(preview(6, version, Bangs_strength=0.5))  # the connection is still good
            header, _ = await next_message(socket)
            assert header["seq"] == 6

    asyncio.run(scenario())


def test_nobody_opens_an_editor_on_someone_elses_photo(stack_server, photo, django_user_model):
    django_user_model.objects.create_user("mallory", password=PASSWORD)

    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with editor_socket(stack_server, "mallory", photo.public_id):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_a_dead_preview_worker_gives_a_clear_message_not_a_hang(stack_database, alice, photo, model_versions):
    env = clean_environment(DATABASE_URL=stack_database, REDIS_URL=__import__("os").environ["REDIS_URL"],
                            FACELAB_PREVIEW_QUEUE="preview-with-no-worker", FACELAB_PREVIEW_STALL_SECONDS="2")
    server = start_server("stack-server-no-worker", env)
    try:
        async def scenario():
            async with editor_socket(server, "alice", photo.public_id) as socket:
                await next_message(socket)
                await socket.send(preview(1, model_versions["elegant"]))
                error = await next_message(socket, timeout=15)
                assert error["type"] == "error" and "No preview worker answered" in error["error"]

        asyncio.run(scenario())
    finally:
        server.process.stop()
