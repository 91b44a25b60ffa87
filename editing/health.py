"""What /healthz reports: each part the configuration names, and whether it answers."""
from __future__ import annotations

import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

QUEUES = ("preview", "encode", "training")


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        result = check()
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


def check_channel_layer() -> dict:
    layer = get_channel_layer()

    async def round_trip():
        channel = await layer.new_channel("health.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.ping", "token": token})
        message = await layer.receive(channel)
        return message.get("token") == token

    return {"ok": async_to_sync(round_trip)(), "backend": type(layer).__name__}


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


def report() -> dict:
    checks = {"database": check_database, "channel_layer": check_channel_layer,
              "broker": check_broker, "workers": check_workers}
    results = {name: _timed(check) for name, check in checks.items()}
    return {"ok": all(r["ok"] for r in results.values()), "render_mode": settings.FACELAB_RENDER_MODE,
            "checks": results}
