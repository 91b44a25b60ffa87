"""docker-compose.yml cannot run here (no Docker engine), so its contract is read and checked."""
from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())


def service(name):
    return COMPOSE["services"][name]


def environment(name) -> dict:
    env = service(name).get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_it_names_the_five_services_each_with_a_health_check():
    assert set(COMPOSE["services"]) == {"postgres", "redis", "web", "worker-preview", "worker-training"}
    for name in COMPOSE["services"]:
        assert "test" in service(name)["healthcheck"], name


def test_app_services_point_at_postgres_and_redis_and_wait_for_them():
    for name in ("web", "worker-preview", "worker-training"):
        env = environment(name)
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        depends = service(name)["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_web_serves_with_uvicorn_and_checks_healthz():
    assert "webapp.serve" in " ".join(service("web")["command"])
    assert "/healthz" in " ".join(service("web")["healthcheck"]["test"])


def test_workers_consume_their_queues_one_model_process_per_gpu():
    preview = " ".join(service("worker-preview")["command"])
    training = " ".join(service("worker-training")["command"])
    assert "-Q preview,encode" in preview and "-Q training" in training
    for command in (preview, training):
        assert "--pool=solo" in command and "--concurrency=1" in command
    for name in ("worker-preview", "worker-training"):
        devices = service(name)["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
