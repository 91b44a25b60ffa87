"""The Celery app. Queues: `preview` (short, prefetch 1, acks early), `encode`, `training` (acks late)."""
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("facelab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def warm_up(**kwargs):
    """Import torch and set its threads before the first task, so a preview never waits for them."""
    from editing import engine

    engine.warm_up()
