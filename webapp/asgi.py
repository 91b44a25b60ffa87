"""One ASGI process: HTTP and lifespan go to a FastAPI parent that mounts the staff Gradio page
and Django; WebSockets go to Channels. Served by uvicorn (Gradio's queue needs lifespan)."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

import gradio as gr  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from editing import gradio_admin  # noqa: E402
from editing.routing import websocket_urlpatterns  # noqa: E402

django_http = get_asgi_application()


def _static_files(app):
    from django.conf import settings

    if not settings.DEBUG:
        return app  # production serves /static/ from a proxy or storage
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(app)


parent = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
gr.mount_gradio_app(parent, gradio_admin.build_blocks(), path=gradio_admin.MOUNT_PATH,
                    auth_dependency=gradio_admin.staff_username, ssr_mode=False)
parent.mount("/", _static_files(django_http))

application = ProtocolTypeRouter({
    "http": parent,
    "lifespan": parent,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
