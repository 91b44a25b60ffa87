"""Celery tasks: thin orchestration over `editing.services`, `editing.previews` and `editing.engine`.
Queues follow the name prefix (`preview_*`, `encode_*`, `training_*`; see CELERY_TASK_ROUTES)."""
from __future__ import annotations

import asyncio
import os
import socket
import threading

from celery import shared_task
from channels.layers import get_channel_layer
from django.conf import settings

from editing import engine, previews, services


class _LayerSender:
    """Sends through the channel layer from one long-lived event loop, so a worker reuses its Redis
    connections instead of opening new ones for every frame (as `async_to_sync` per call would)."""

    def __init__(self):
        self._loop = None
        self._lock = threading.Lock()

    def run(self, coroutine, timeout: float = 10):
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="channel-layer", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


_sender = _LayerSender()


def _send(channel_name: str, event: dict) -> None:
    _sender.run(get_channel_layer().send(channel_name, event))


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
    _send(channel_name, {"type": "preview.frame", "frame": frame})


@shared_task(name="editing.tasks.preview_render", ignore_result=True, acks_late=False)
def preview_render(channel_name: str) -> dict:
    """Render the newest preview request of one editor connection (latest wins, see previews.py)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return previews.run_render_loop(
        client, channel_name,
        send_frame=lambda frame: _send(channel_name, {"type": "preview.frame", "frame": frame}),
        send_error=lambda seq, error: _send(channel_name, {"type": "preview.error", "seq": seq, "error": error}))


@shared_task(name="editing.tasks.preview_notify_group", ignore_result=True)
def preview_notify_group(group: str, message: dict) -> None:
    """Broadcast a JSON message to every browser in a group (a user's tabs, later a room)."""
    _sender.run(get_channel_layer().group_send(group, {"type": "group.message", "message": message}))


@shared_task(name="editing.tasks.encode_latent", ignore_result=True, autoretry_for=(ConnectionError,),
             retry_backoff=True, max_retries=3)
def encode_latent(photo_id: str, version_id: int, channel_name: str | None = None) -> None:
    """Encode a photo once per model version (idempotent: a cached latent is a no-op)."""
    encode_now(photo_id, version_id)
    if channel_name:
        _send(channel_name, {"type": "preview.encoded", "photo": photo_id, "model_version": version_id})


def encode_now(photo_id: str, version_id: int) -> None:
    (step,) = services.resolve_steps([{"model_version": version_id, "controls": {}}])
    key, loader = services.photo_source(photo_id, step.alignment)
    engine.cached_latent(f"{key}:{version_id}", engine.editor_for(step.method, step.checkpoint), loader)


@shared_task(name="editing.tasks.encode_batch_job", ignore_result=True, acks_late=True)
def encode_batch_job(job_id: int) -> None:
    """Apply a recipe to a batch of photos (queue `encode`: heavier than a preview, shorter than training)."""
    services.run_batch_by_id(job_id)
