"""WebSocket consumers. Signed-in users only; frames go to the asking connection, notices to groups."""
from __future__ import annotations

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from editing import engine, previews, services, tasks
from editing.frames import unpack_frame
from editing.groups import user_group
from editing.models import Photo

# Closing before accept() refuses the handshake with HTTP 403. Celery publishes below run off the
# thread that Django's sync views share (thread_sensitive=False): a slow broker must not stall pages.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
MAX_STRENGTH = 2.0


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON consumer that answers a message that is not JSON instead of dropping the connection."""

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        if content is None:
            await self.send_json({"type": "error", "error": "messages must be JSON text"})
            return
        await self.receive_json(content, **kwargs)


class PreviewConsumer(JsonConsumer):
    """`/ws/preview/`: live previews for one browser tab, and notices for all of a user's tabs.

    Client -> server: {"type": "smoke", "seq": 7, "strength": 0.5}
    Server -> client: binary frames (editing.frames), and {"type": "notice", ...} text messages.
    """

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "render_mode": settings.FACELAB_RENDER_MODE})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "smoke":
            await self.send_json({"type": "error", "error": "unknown message type"})
            return
        try:
            seq = int(content["seq"])
            strength = float(content.get("strength", 1.0))
        except (KeyError, TypeError, ValueError):
            await self.send_json({"type": "error", "error": "a smoke request needs an integer seq and a number strength"})
            return
        strength = min(max(strength, 0.0), MAX_STRENGTH)
        if settings.FACELAB_RENDER_MODE == "celery":
            await sync_to_async(tasks.preview_smoke.apply_async, thread_sensitive=False)(
                (self.channel_name, seq, strength), expires=settings.FACELAB_PREVIEW_EXPIRES)
        else:
            frame = await sync_to_async(engine.smoke_frame, thread_sensitive=False)(seq, strength)
            await self.send(bytes_data=frame)

    async def preview_frame(self, event):
        await self.send(bytes_data=event["frame"])

    async def group_message(self, event):
        await self.send_json({"type": "notice", **event["message"]})


class EditorConsumer(JsonConsumer):
    """`/ws/edit/<photo>/`: live previews of one photo under recipe steps, latest wins.

    Client -> server:
        {"type": "encode", "steps": [...]}                       encode the photo for the first step's model
        {"type": "preview", "seq": 12, "steps": [...], "final": false}
    Server -> client: binary frames (editing.frames; header: seq, kind draft|final, timings),
        {"type": "encoded"}, {"type": "error", "seq": 12, "error": "..."}.
    """


    async def connect(self):
        user = self.scope.get("user")
        photo_id = self.scope["url_route"]["kwargs"]["photo"]
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(self._can_edit)(user, photo_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user, self.photo_id = user, photo_id
        self.pending = None  # in-process mode: the newest request not yet rendered
        self.render_task = None
        self.stale_dropped = 0
        self.last_sent_seq = 0
        self.throttled_notice_at = 0.0
        self.visible_exemplars = set()  # exemplar ids already checked for this user
        self.encoded = set()  # model versions the worker has encoded this photo for
        self.last_request, self.retried_seq = None, None
        self.redis = None
        if settings.FACELAB_RENDER_MODE == "celery":
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        await self.accept()
        await self.send_json({"type": "hello", "render_mode": settings.FACELAB_RENDER_MODE, "photo": photo_id})

    @staticmethod
    def _can_edit(user, photo_id) -> bool:
        return Photo.visible_to(user).filter(public_id=photo_id, status=Photo.Status.READY).exists()

    async def disconnect(self, code):
        if getattr(self, "render_task", None):
            self.render_task.cancel()
        if getattr(self, "redis", None):
            await self.redis.aclose()

    async def _over_rate(self) -> bool:
        """Per user, across all their tabs: at most FACELAB_PREVIEW_MAX_PER_SECOND messages a second."""
        key = f"preview-rate:{self.user.id}:{int(time.time())}"
        if self.redis is not None:  # one round trip on the connection we hold, no thread hop
            async with self.redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, 5).execute()
        else:
            await cache.aadd(key, 0, timeout=5)
            count = await cache.aincr(key)
        return count > settings.FACELAB_PREVIEW_MAX_PER_SECOND

    async def receive_json(self, content, **kwargs):
        if await self._over_rate():
            if time.monotonic() - self.throttled_notice_at > 1:
                self.throttled_notice_at = time.monotonic()
                await self.send_json({"type": "error", "error": "Too many preview requests; slow down."})
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in ("preview", "encode"):
            await self.send_json({"type": "error", "error": "unknown message type"})
            return
        seq = content.get("seq", 0)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            await self.send_json({"type": "error", "error": "seq must be a non-negative integer"})
            return
        try:
            steps = await database_sync_to_async(services.validate_steps)(
                content.get("steps"), self.user, self.visible_exemplars)
        except services.InvalidRecipe as error:
            await self.send_json({"type": "error", "seq": seq, "error": str(error)})
            return
        if kind == "encode":
            await self._encode(steps[0]["model_version"])
            return
        request = {"seq": seq, "photo": self.photo_id, "steps": steps, "final": bool(content.get("final")),
                   "received": time.time()}
        if self.redis is not None:
            await self._submit_to_workers(request)
        else:
            self._submit_in_process(request)

    # -- Celery mode ------------------------------------------------------------------------
    async def _submit_to_workers(self, request):
        self.last_request = request
        if await previews.submit(self.redis, self.channel_name, request):
            await sync_to_async(tasks.preview_render.apply_async, thread_sensitive=False)(
                (self.channel_name,), expires=settings.FACELAB_PREVIEW_EXPIRES)
            asyncio.get_running_loop().call_later(previews.stall_seconds(), self._check_stalled, request["seq"])

    def _check_encoded(self, version_id):
        if version_id not in self.encoded:
            asyncio.ensure_future(self.send_json({"type": "error", "error": "No worker answered the encode request; "
                                                  "the renderer may be down. Try again in a moment."}))

    def _check_stalled(self, seq):
        if self.last_sent_seq < seq:
            asyncio.ensure_future(self._report_stall(seq))

    async def _report_stall(self, seq):
        await previews.release(self.redis, self.channel_name)
        await self.send_json({"type": "error", "seq": seq, "error": "No preview worker answered in "
                              f"{previews.stall_seconds():.0f} s; the renderer may be down. Trying again."})
        if self.last_request["seq"] == seq and self.retried_seq != seq:
            self.retried_seq = seq  # its task may have expired in a busy queue: ask once more
            await self._submit_to_workers(self.last_request)

    # -- in-process mode: the same latest-wins rule, inside this connection ------------------
    def _submit_in_process(self, request):
        self.pending = request
        if self.render_task is None or self.render_task.done():
            self.render_task = asyncio.ensure_future(self._render_loop())

    async def _render_loop(self):
        while self.pending is not None:
            request, self.pending = self.pending, None
            try:
                frame = await database_sync_to_async(previews.render_request, thread_sensitive=False)(
                    request, self.stale_dropped)
            except previews.RENDER_ERRORS as error:
                await self.send_json({"type": "error", "seq": request["seq"], "error": str(error)})
                continue
            if self.pending is not None:
                self.stale_dropped += 1  # overtaken while rendering: the newer one goes next
                continue
            await self._send_frame(frame, request["seq"])

    async def _send_frame(self, frame, seq):
        self.last_sent_seq = max(self.last_sent_seq, seq)
        await self.send(bytes_data=frame)

    async def _encode(self, version_id):
        if self.redis is not None:
            self.encoded.discard(version_id)
            await sync_to_async(tasks.encode_latent.delay, thread_sensitive=False)(
                self.photo_id, version_id, self.channel_name)
            # Encoding takes longer than a frame: allow it a few stall periods before saying so.
            asyncio.get_running_loop().call_later(3 * previews.stall_seconds(), self._check_encoded, version_id)
            return
        try:
            await database_sync_to_async(tasks.encode_now, thread_sensitive=False)(self.photo_id, version_id)
        except engine.EngineError as error:
            await self.send_json({"type": "error", "error": str(error)})
            return
        await self.send_json({"type": "encoded", "model_version": version_id})

    # -- events from workers ----------------------------------------------------------------------
    async def preview_frame(self, event):
        header, _ = unpack_frame(event["frame"])
        await self._send_frame(event["frame"], header["seq"])

    async def preview_error(self, event):
        self.last_sent_seq = max(self.last_sent_seq, event["seq"])
        await self.send_json({"type": "error", "seq": event["seq"], "error": event["error"]})

    async def preview_encoded(self, event):
        self.encoded.add(event["model_version"])
        await self.send_json({"type": "encoded", "model_version": event["model_version"]})
