"""`make run` with no environment: SQLite, in-memory channel layer, rendering in the web process."""
import asyncio
import json
import subprocess
import sys

import httpx
import websockets

from editing.frames import unpack_frame
from tests.conftest import ROOT, clean_environment, login


def test_home_page_and_health_on_the_embedded_default(embedded_server):
    home = httpx.get(embedded_server.url + "/", timeout=30)
    assert home.status_code == 200 and "FaceLab" in home.text
    health = httpx.get(embedded_server.url + "/healthz", timeout=30).json()
    assert health["ok"] and health["render_mode"] == "inprocess"
    assert health["checks"]["database"]["vendor"] == "sqlite"
    assert health["checks"]["channel_layer"]["backend"] == "InMemoryChannelLayer"
    assert (embedded_server.var_dir / "db.sqlite3").exists()
    assert f"FaceLab is running at http://127.0.0.1:{embedded_server.port}/" in embedded_server.process.output()


def test_a_preview_renders_in_process_on_the_embedded_default(embedded_server):
    env = clean_environment(FACELAB_VAR_DIR=str(embedded_server.var_dir), DJANGO_SUPERUSER_PASSWORD="pw-for-tests-1")
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "root",
                    "--email", "root@example.com"], cwd=ROOT, env=env, check=True, capture_output=True)
    client = login(embedded_server.url, "root", "pw-for-tests-1")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

    async def scenario():
        async with websockets.connect(embedded_server.ws_url + "/ws/preview/", open_timeout=30,
                                      additional_headers={"Cookie": cookie, "Origin": embedded_server.url}) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 30))
            assert hello["render_mode"] == "inprocess"
            await socket.send(json.dumps({"type": "smoke", "seq": 3, "strength": 2.0}))
            header, jpeg = unpack_frame(await asyncio.wait_for(socket.recv(), 60))
            assert header["seq"] == 3 and header["width"] == 128
            assert jpeg[:2] == b"\xff\xd8"

    asyncio.run(scenario())


def test_the_editor_previews_in_process_with_latest_wins_on_the_embedded_default(embedded_server):
    env = clean_environment(FACELAB_VAR_DIR=str(embedded_server.var_dir), DJANGO_SUPERUSER_PASSWORD="pw-for-tests-2")
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "editor",
                    "--email", "editor@example.com"], cwd=ROOT, env=env, check=True, capture_output=True)
    client = login(embedded_server.url, "editor", "pw-for-tests-2")
    csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
    with open(ROOT / "tests" / "fixtures" / "faces" / "astronaut.jpg", "rb") as image:
        photo = client.post("/api/photos/", files={"image": ("a.jpg", image, "image/jpeg")}, headers=csrf).json()
    assert photo["status"] == "ready"
    version = next(v for v in client.get("/api/model-versions/?active=true").json()["results"]
                   if v["method"] == "elegant")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

    async def scenario():
        async with websockets.connect(f"{embedded_server.ws_url}/ws/edit/{photo['id']}/", open_timeout=30,
                                      additional_headers={"Cookie": cookie, "Origin": embedded_server.url}) as socket:
            assert json.loads(await socket.recv())["render_mode"] == "inprocess"
            for seq in range(1, 21):
                await socket.send(json.dumps({"type": "preview", "seq": seq, "steps": [
                    {"method": "elegant", "model_version": version["id"], "controls": {"Bangs_strength": seq / 20}}]}))
            seqs = []
            while not seqs or seqs[-1] != 20:
                header, _ = unpack_frame(await asyncio.wait_for(socket.recv(), 60))
                seqs.append(header["seq"])
            return seqs

    seqs = asyncio.run(scenario())
    assert seqs[-1] == 20 and seqs == sorted(set(seqs)) and len(seqs) < 20
