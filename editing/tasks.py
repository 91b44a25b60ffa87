"""Celery tasks: thin orchestration over `editing.engine`. Queues follow the name prefix
(`preview_*`, `encode_*`, `training_*`; see CELERY_TASK_ROUTES)."""
from __future__ import annotations

import os
import socket

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from editing import engine


@shared_task(bind=True, name="editing.tasks.worker_ping")
def worker_ping(self, payload: str = "") -> dict:
    """Answer with who ran it and from which queue; sent to every queue by the health checks."""
    delivery = self.request.delivery_info or {}
    return {"payload": payload, "queue": delivery.get("routing_key"), "hostname": self.request.hostname
            or socket.gethostname(), "pid": os.getpid()}


# Previews are worth nothing late: no retries, and the caller sets a short `expires`.
@shared_task(name="editing.tasks.preview_smoke", ignore_result=True, acks_late=False)
def preview_smoke(channel_name: str, seq: int, strength: float) -> None:
    frame = engine.smoke_frame(seq, strength)
    async_to_sync(get_channel_layer().send)(channel_name, {"type": "preview.frame", "frame": frame})


@shared_task(name="editing.tasks.preview_notify_group", ignore_result=True)
def preview_notify_group(group: str, message: dict) -> None:
    """Broadcast a JSON message to every browser in a group (a user's tabs, later a room)."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "group.message", "message": message})
