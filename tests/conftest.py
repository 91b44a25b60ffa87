"""Fixtures that start the real parts: a Celery worker process, the web app in its own process
(on the test database and Redis, or on its embedded default), and helpers to log in over HTTP."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# One media folder for this test session, shared by the test process, the worker and the servers.
os.environ.setdefault("FACELAB_MEDIA_ROOT", tempfile.mkdtemp(prefix="facelab-test-media-"))
OUTPUT_DIR = ROOT / "test-results"
# What a child process may inherit: nothing that names our services unless a fixture adds it.
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                     "FACELAB_RENDER_MODE", "DJANGO_SETTINGS_MODULE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(FACELAB_TORCH_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def needs_stack():
    if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and REDIS_URL: run `make test`")


def database_url_for(settings_dict: dict) -> str:
    """DATABASE_URL for the database pytest-django created, so child processes share it."""
    return (f"postgres://{settings_dict['USER']}:{settings_dict.get('PASSWORD') or ''}@"
            f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}")


class Process:
    """A child process whose output goes to a log file under test-results/."""

    def __init__(self, name: str, command: list[str], env: dict):
        OUTPUT_DIR.mkdir(exist_ok=True)
        self.log_path = OUTPUT_DIR / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def wait_for_http(url: str, process: Process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"server exited early:\n{process.output()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server did not answer {url} in {timeout} s:\n{process.output()[-3000:]}")


class Server:
    def __init__(self, process: Process, port: int):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


def start_server(name: str, env: dict) -> Server:
    port = free_port()
    process = Process(name, [sys.executable, "-m", "webapp.serve", "--port", str(port)], env)
    server = Server(process, port)
    wait_for_http(server.url + "/healthz", process)
    return server


def login(base_url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client logged in through the real login form (CSRF included)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", data={
        "username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": base_url + "/accounts/login/"})
    assert response.status_code == 302, response.text[:500]
    return client


@pytest.fixture(scope="session")
def stack_database(django_db_setup, django_db_blocker):
    """DATABASE_URL of the test database, for the worker and server processes."""
    needs_stack()
    from django.db import connection

    return database_url_for(connection.settings_dict)


@pytest.fixture(scope="session")
def celery_worker_process(stack_database):
    """A real Celery worker consuming every queue, on the test database and Redis."""
    from webapp.celery import app

    app.control.purge()
    env = clean_environment(DATABASE_URL=stack_database, REDIS_URL=os.environ["REDIS_URL"])
    process = Process("celery-worker", [sys.executable, "-m", "celery", "-A", "webapp", "worker",
                                        "-Q", "preview,encode,training", "--pool=solo", "--concurrency=1",
                                        "--without-gossip", "--without-mingle", "-n", "test-worker@%h",
                                        "-l", "info"], env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"celery worker exited:\n{process.output()[-3000:]}")
        if app.control.ping(timeout=0.5):
            break
    else:
        process.stop()
        raise RuntimeError(f"celery worker did not answer:\n{process.output()[-3000:]}")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def stack_server(stack_database, celery_worker_process):
    """The web app in its own process on PostgreSQL + Redis, previews on the Celery worker."""
    env = clean_environment(DATABASE_URL=stack_database, REDIS_URL=os.environ["REDIS_URL"])
    server = start_server("stack-server", env)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """The web app exactly as `make run` starts it: no variables, SQLite, in-process rendering."""
    var_dir = tmp_path_factory.mktemp("embedded-var")
    env = clean_environment(FACELAB_VAR_DIR=str(var_dir))
    server = start_server("embedded-server", env)
    server.var_dir = var_dir
    yield server
    server.process.stop()


@pytest.fixture
def output_dir(request) -> Path:
    """test-results/<test name>/ for screenshots and other artefacts a person may want to see."""
    path = OUTPUT_DIR / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_collection_modifyitems(items):
    # Stack tests share the test database with child processes, so their writes must commit;
    # the marker also makes pytest-django create that database even for tests with no ORM use.
    for item in items:
        if item.get_closest_marker("stack") and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(autouse=True)
def media_root(request):
    """Uploads go to this session's media folder, whatever the developer's environment says."""
    if request.config.pluginmanager.hasplugin("django"):  # ml tests also run with -p no:django
        request.getfixturevalue("settings").MEDIA_ROOT = os.environ["FACELAB_MEDIA_ROOT"]


FACES = ROOT / "tests" / "fixtures" / "faces"


@pytest.fixture
def model_versions(django_db_blocker, tmp_path):
    """An untrained tiny model version of every method (the demo models `make run` registers)."""
    from django.core.management import call_command

    from editing.models import ModelVersion

    with django_db_blocker.unblock():
        call_command("register_models", demo=True, weights_dir=str(tmp_path), stdout=open(os.devnull, "w"))
        return {version.method: version for version in ModelVersion.objects.all()}


@pytest.fixture
def gallery(django_db_blocker):
    """The synthetic exemplars `make run` seeds (stack tests flush the database after each test)."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("seed_exemplars", per_style=1, stdout=open(os.devnull, "w"))


@pytest.fixture
def make_photo():
    from editing import services

    def make(owner, name: str = "astronaut.jpg"):
        return services.create_photo(owner, (FACES / name).read_bytes(), title=name)

    return make


@pytest.fixture
def api_as():
    from rest_framework.test import APIClient

    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for
