"""WebSocket consumers. Signed-in users only; frames go to the asking connection, notices to groups."""
from __future__ import annotations

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from editing import engine, tasks
from editing.groups import user_group

CLOSE_UNAUTHENTICATED = 4401  # closing before accept() refuses the handshake with 403
MAX_STRENGTH = 2.0


class PreviewConsumer(AsyncJsonWebsocketConsumer):
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
            await sync_to_async(tasks.preview_smoke.apply_async)(
                (self.channel_name, seq, strength), expires=settings.FACELAB_PREVIEW_EXPIRES)
        else:
            frame = await sync_to_async(engine.smoke_frame, thread_sensitive=False)(seq, strength)
            await self.send(bytes_data=frame)

    async def preview_frame(self, event):
        await self.send(bytes_data=event["frame"])

    async def group_message(self, event):
        await self.send_json({"type": "notice", **event["message"]})
