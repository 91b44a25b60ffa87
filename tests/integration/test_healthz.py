"""/healthz reports every configured part and answers 200 only when all of them answer."""
import httpx
import pytest
from asgiref.sync import async_to_sync

pytestmark = pytest.mark.stack


def test_healthz_reports_postgres_redis_broker_and_workers(stack_server):
    response = httpx.get(stack_server.url + "/healthz", timeout=30)
    body = response.json()
    assert response.status_code == 200, body
    checks = body["checks"]
    assert checks["database"]["vendor"] == "postgresql"
    assert checks["channel_layer"]["backend"] == "RedisChannelLayer"
    assert checks["broker"]["ok"] and checks["broker"]["configured"]
    assert checks["workers"]["queues"] == {"preview": True, "encode": True, "training": True}
    assert body["render_mode"] == "celery"


def test_healthz_is_503_when_a_configured_part_is_down(stack_database, monkeypatch, settings):
    from editing import health

    settings.FACELAB_RENDER_MODE = "celery"
    monkeypatch.setattr("webapp.celery.app.conf.broker_url", "redis://127.0.0.1:1/0")
    report = async_to_sync(health.report)()
    assert report["ok"] is False
    assert report["checks"]["broker"]["ok"] is False
    assert "Error" in report["checks"]["broker"]["error"]
