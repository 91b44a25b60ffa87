"""The Celery app. Queues: `preview` (short, prefetch 1, acks early), `encode`, `training` (acks late)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("facelab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
