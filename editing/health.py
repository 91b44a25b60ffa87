"""What /healthz reports: each part the configuration names, and whether it answers."""
from __future__ import annotations

import asyncio
import time
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

QUEUES = ("preview", "encode", "training")


async def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        if asyncio.iscoroutinefunction(check):
            result = await check()
        else:  # blocking clients (database, Celery) run off the event loop
            result = await sync_to_async(check, thread_sensitive=check is check_database)()
    except Exception as error:  # a health check reports every failure, whatever its kind
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    result.setdefault("configured", True)
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


async def check_channel_layer() -> dict:
    """A message sent to a fresh channel and read back. The channel is a plain one, not a
    process-local `new_channel()`: those are read by the consumers' shared receive loop."""
    layer = get_channel_layer()
    channel = f"health.{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    return {"ok": message.get("token") == token, "backend": type(layer).__name__}


def check_broker() -> dict:
    if settings.FACELAB_RENDER_MODE != "celery":
        return {"ok": True, "configured": False, "detail": "in-process rendering"}
    from webapp.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"ok": True}


def check_workers() -> dict:
    if settings.FACELAB_RENDER_MODE != "celery":
        return {"ok": True, "configured": False, "detail": "in-process rendering"}
    from webapp.celery import app

    replies = app.control.inspect(timeout=1.0).active_queues() or {}
    served = {queue["name"] for queues in replies.values() for queue in queues}
    missing = [queue for queue in QUEUES if queue not in served]
    result = {"ok": not missing, "workers": sorted(replies), "queues": {q: q in served for q in QUEUES}}
    if missing:
        result["error"] = f"no worker consumes {', '.join(missing)}"
    return result


async def report() -> dict:
    checks = {"database": check_database, "channel_layer": check_channel_layer,
              "broker": check_broker, "workers": check_workers}
    timed = await asyncio.gather(*(_timed(check) for check in checks.values()))
    results = dict(zip(checks, timed))
    return {"ok": all(r["ok"] for r in results.values()), "render_mode": settings.FACELAB_RENDER_MODE,
            "checks": results}
