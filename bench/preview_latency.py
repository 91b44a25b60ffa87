"""Slider-to-frame latency of live previews through the real stack.

uvicorn (web + WebSockets) + Redis + one Celery worker + a WebSocket client on loopback. The client
drags a slider at 60 Hz for a few seconds and throttles like the editor page (one request in flight
plus a trailing one); latency runs from the moment the slider reached a value to the moment the
frame for that value arrived. Each registered method is measured at 64 and 128 px with networks of
its starter architecture (untrained weights cost the same time as trained ones).

    .venv/bin/python bench/preview_latency.py [--quick] [--seconds 6] [--sizes 64 128] [--worker-threads 2]

Writes bench/results/preview_latency.json. Needs PostgreSQL and Redis (`make services`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine, percentile, print_table, write_result  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/facelab_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PASSWORD = "bench-password-123"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare(sizes: list[int], methods: list[str] | None) -> tuple[list, str]:
    """Migrate, make a user, a photo and one model version per method and size."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model

    from editing import services
    from editing.models import ModelVersion
    from ml import registry

    user, _ = get_user_model().objects.get_or_create(username="bench")
    user.set_password(PASSWORD)
    user.save()
    face = (ROOT / "tests/fixtures/faces/astronaut.jpg").read_bytes()
    photo = services.create_photo(user, face, "bench")
    # Every exemplar control points at this one, so sliders that need a reference can move.
    exemplar = services.create_exemplar(user, face, "Bangs", title="bench")
    versions = []
    for method in methods or registry.available():
        for size in sizes:
            directory = ROOT / "var" / "bench-models" / f"{method}-{size}"
            if not (directory / "manifest.json").exists():
                registry.get(method).untrained_checkpoint(directory, preset="starter", image_size=size)
            ModelVersion.objects.filter(method=method, name=f"bench-{size}").delete()
            versions.append(services.register_model_version(method, f"bench-{size}", str(directory),
                                                            activate=False).version)
    return versions, photo.public_id, exemplar.public_id


def start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    log = open(ROOT / "var" / f"bench-{name}.log", "w")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def login(base_url: str):
    import httpx

    client = httpx.Client(base_url=base_url, timeout=30)
    client.get("/accounts/login/")
    client.post("/accounts/login/", data={"username": "bench", "password": PASSWORD,
                                          "csrfmiddlewaretoken": client.cookies["csrftoken"]})
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


async def drag(ws_url: str, origin: str, cookie: str, photo: str, exemplar: str, version, seconds: float) -> dict:
    """Drag one slider at 60 Hz, throttled like the page; return latencies and counts."""
    import websockets

    from editing.frames import unpack_frame

    schema = version.controls_schema["properties"]
    slider = next(name for name, spec in schema.items() if spec.get("widget") == "slider")
    low, high = schema[slider]["minimum"], schema[slider]["maximum"]
    references = {name: exemplar for name, spec in schema.items() if spec.get("widget") == "exemplar"}

    def request(seq, value, final=False):
        return json.dumps({"type": "preview", "seq": seq, "final": final, "steps": [
            {"method": version.method, "model_version": version.pk, "controls": {**references, slider: value}}]})

    async with websockets.connect(f"{ws_url}/ws/edit/{photo}/", additional_headers={"Cookie": cookie,
                                  "Origin": origin}, open_timeout=30, max_size=None) as socket:
        json.loads(await socket.recv())
        await socket.send(json.dumps({"type": "encode", "steps": [{"method": version.method,
                                                                   "model_version": version.pk}]}))
        while True:
            message = await asyncio.wait_for(socket.recv(), 120)
            if isinstance(message, str) and json.loads(message)["type"] == "encoded":
                break
        for seq in range(1, 4):  # warm up: first renders load the model
            await socket.send(request(seq, low))
            await asyncio.wait_for(socket.recv(), 120)

        moved_at: dict[int, float] = {}
        latencies, render_ms, queue_ms, stale = [], [], [], 0
        state = {"seq": 3, "in_flight": False, "trailing": False, "value": low}

        async def send_current():
            state["seq"] += 1
            moved_at[state["seq"]] = state["moved"]
            state["in_flight"] = True
            await socket.send(request(state["seq"], state["value"]))

        async def receive():
            nonlocal stale
            last_drawn = 3
            while True:
                message = await socket.recv()
                if isinstance(message, str):
                    continue
                header, _ = unpack_frame(message)
                arrived = time.perf_counter()
                state["in_flight"] = False
                if header["seq"] > last_drawn:
                    last_drawn = header["seq"]
                    latencies.append((arrived - moved_at[header["seq"]]) * 1000)
                    render_ms.append(header["render_ms"])
                    queue_ms.append(header.get("queue_ms", 0.0))
                    stale = max(stale, header.get("stale_dropped", 0))
                if state["trailing"]:
                    state["trailing"] = False
                    await send_current()

        receiver = asyncio.create_task(receive())
        started = time.perf_counter()
        ticks = 0
        while time.perf_counter() - started < seconds:
            ticks += 1
            phase = (ticks % 120) / 120
            state["value"] = round(low + (high - low) * (phase if ticks % 240 < 120 else 1 - phase), 4)
            state["moved"] = time.perf_counter()
            if state["in_flight"]:
                state["trailing"] = True
            else:
                await send_current()
            await asyncio.sleep(max(0.0, started + ticks / 60 - time.perf_counter()))
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)
        receiver.cancel()
        return {"latencies": latencies, "render_ms": render_ms, "queue_ms": queue_ms, "requests": state["seq"] - 3, "ticks": ticks,
                "stale": stale, "elapsed": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-second drags (under a minute in all)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--worker-threads", type=int, default=2)
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds

    ensure_database(DATABASE_URL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACELAB_RENDER", "CELERY_"))}
    env.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="webapp.settings",
               PYTHONUNBUFFERED="1")
    os.environ.update(env)
    (ROOT / "var").mkdir(exist_ok=True)
    versions, photo, exemplar = prepare(args.sizes, args.methods)

    import httpx

    port = 8765
    worker = start("worker", [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "preview,encode",
                              "--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle", "-l", "warning"],
                   {**env, "FACELAB_TORCH_THREADS": str(args.worker_threads)})
    server = start("server", [sys.executable, "-m", "webapp.serve", "--port", str(port), "--no-setup",
                              "--no-migrate"], {**env, "FACELAB_TORCH_THREADS": "1", "FACELAB_LOG_LEVEL": "warning"})
    results, rows = {}, []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            if server.poll() is not None or worker.poll() is not None:
                raise RuntimeError("the server or the worker exited: see var/bench-server.log, var/bench-worker.log")
            try:
                if httpx.get(base + "/healthz", timeout=2).json()["checks"]["workers"]["queues"]["preview"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        cookie = login(base)
        for version in versions:
            run = asyncio.run(drag(f"ws://127.0.0.1:{port}", base, cookie, photo, exemplar, version, seconds))
            size = version.image_size
            entry = {"p50_ms": percentile(run["latencies"], 0.5), "p95_ms": percentile(run["latencies"], 0.95),
                     "p99_ms": percentile(run["latencies"], 0.99),
                     "frames_per_second": len(run["latencies"]) / run["elapsed"],
                     "render_p50_ms": percentile(run["render_ms"], 0.5),
                     "queue_p50_ms": percentile(run["queue_ms"], 0.5), "frames": len(run["latencies"]),
                     "requests_sent": run["requests"], "slider_moves": run["ticks"],
                     "dropped_as_stale": run["stale"], "coalesced_by_client": run["ticks"] - run["requests"]}
            results.setdefault(version.method, {})[str(size)] = entry
            rows.append([version.method, size, entry["p50_ms"], entry["p95_ms"], entry["p99_ms"],
                         entry["frames_per_second"], entry["render_p50_ms"], entry["queue_p50_ms"], run["ticks"], run["requests"],
                         len(run["latencies"]), run["stale"]])
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=20)

    print_table(["method", "px", "p50 ms", "p95 ms", "p99 ms", "frames/s", "render ms", "queue ms", "moves", "sent", "frames",
                 "stale"], rows)
    path = write_result("preview_latency", {"benchmark": "preview_latency", "drag_seconds": seconds,
                                            "drag_hz": 60, "machine": machine(args.worker_threads),
                                            "goal_128px": {"p95_ms": 50, "frames_per_second": 20},
                                            "results": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
