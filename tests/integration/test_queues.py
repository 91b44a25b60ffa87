"""Each Celery queue reaches a real worker process over Redis, and its result comes back."""
import pytest

from editing import tasks

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("queue", ["preview", "encode", "training"])
def test_a_task_sent_on_each_queue_returns_its_result(celery_worker_process, queue):
    result = tasks.worker_ping.apply_async(("hello " + queue,), queue=queue).get(timeout=60)
    assert result["payload"] == "hello " + queue
    assert result["queue"] == queue
    assert result["hostname"].startswith("test-worker@")


def test_task_routes_put_each_family_on_its_queue(settings):
    from webapp.celery import app

    router = app.amqp.router
    assert router.route({}, "editing.tasks.preview_smoke")["queue"].name == "preview"
    assert router.route({}, "editing.tasks.encode_photo")["queue"].name == "encode"
    assert router.route({}, "editing.tasks.training_run")["queue"].name == "training"


def test_preview_queue_prefetches_one_and_training_outlasts_checkpoints(settings):
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 3600
