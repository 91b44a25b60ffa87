"""Live previews, latest wins.

While a render is queued or running, newer requests from the same editor connection replace older
ones, and only the newest is rendered; a frame overtaken by a newer request is dropped before it
is sent. With Celery the newest request of each connection lives in Redis:

    preview:req:<channel>   the newest request (JSON)       preview:seq:<channel>  its sequence number
    preview:busy:<channel>  set (to the enqueue time) while a render task is queued or running

The consumer enqueues a render only when it sets `busy`; the worker renders until no newer request
is waiting and clears `busy` atomically with that check, so no request is ever left unrendered.
In-process mode keeps the same rule inside the consumer (see consumers.EditorConsumer).
"""
from __future__ import annotations

import json
import time

from django.conf import settings

from editing import engine, services

EXPIRY_SECONDS = 60
RENDER_ERRORS = services.RENDER_ERRORS
# Clear `busy` (and the request) only if the newest sequence number is the one just rendered, in one
# step: a request stored between a check and a delete would otherwise be lost without a render.
FINISH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end
return 0
"""


def keys(channel: str) -> tuple[str, str, str]:
    return f"preview:req:{channel}", f"preview:seq:{channel}", f"preview:busy:{channel}"


def render_request(request: dict, stale_dropped: int = 0) -> bytes:
    """Render one request {seq, photo, steps, final, received} into a frame."""
    started = time.time()
    steps = services.resolve_steps(request["steps"])
    key, loader = services.photo_source(request["photo"], steps[0].alignment)
    header = {"queue_ms": round((started - request.get("received", started)) * 1000, 2),
              "stale_dropped": stale_dropped}
    return engine.render_frame(int(request["seq"]), key, loader, steps, bool(request.get("final")), header)


# --------------------------------------------------------------------------- Celery mode
async def submit(redis_client, channel: str, request: dict) -> bool:
    """Store `request` as the newest; return True when the caller must enqueue a render task."""
    request_key, seq_key, busy_key = keys(channel)
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.set(request_key, json.dumps(request), ex=EXPIRY_SECONDS)
        pipe.set(seq_key, str(request["seq"]), ex=EXPIRY_SECONDS)
        pipe.set(busy_key, str(time.time()), nx=True, ex=EXPIRY_SECONDS)
        _, _, became_busy = await pipe.execute()
    return bool(became_busy)


async def release(redis_client, channel: str) -> None:
    """Forget a stalled render (its worker died) so that the next request enqueues a new one."""
    await redis_client.delete(keys(channel)[2])


def run_render_loop(redis_client, channel: str, send_frame, send_error) -> dict:
    """The worker side: render the newest request until none newer waits. Returns counts."""
    request_key, seq_key, busy_key = keys(channel)
    finish = redis_client.register_script(FINISH_SCRIPT)
    rendered = stale = 0
    while True:
        raw = redis_client.get(request_key)
        if raw is None:
            redis_client.delete(busy_key)
            return {"rendered": rendered, "stale": stale}
        request = json.loads(raw)
        seq = str(request["seq"])
        try:
            frame = render_request(request, stale)
        except RENDER_ERRORS as error:
            send_error(int(seq), str(error))
            frame = None
        if redis_client.get(seq_key).decode() != seq:
            stale += 1  # a newer request came while rendering: render that one instead
            continue
        if frame is not None:
            send_frame(frame)
            rendered += 1
        if finish(keys=[seq_key, busy_key, request_key], args=[seq]):
            return {"rendered": rendered, "stale": stale}


def stall_seconds() -> float:
    return float(settings.FACELAB_PREVIEW_STALL_SECONDS)
