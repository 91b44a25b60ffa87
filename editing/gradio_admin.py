"""The staff-only Gradio page, mounted at /admin/gradio/ inside the same ASGI app.

Access: `staff_username` is Gradio's `auth_dependency`; it reads the Django session cookie and
answers the username only for an active staff user, so Gradio refuses everyone else with 401.
"""
from __future__ import annotations

import gradio as gr
import numpy as np
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from django.utils.module_loading import import_string

from editing import engine

MOUNT_PATH = "/admin/gradio"


def _staff_username_for_session(session_key: str | None) -> str | None:
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_string(settings.SESSION_ENGINE + ".SessionStore")(session_key)
    user = get_user(request)  # also checks the session's password hash, like any Django view
    if user.is_authenticated and user.is_active and user.is_staff:
        return user.get_username()
    return None


async def staff_username(request) -> str | None:
    session_key = request.cookies.get(settings.SESSION_COOKIE_NAME)
    return await sync_to_async(_staff_username_for_session)(session_key)


def smoke_check(image: np.ndarray | None, strength: float):
    from ml.smoke import run_smoke  # ml stays out of the web process until a check runs

    engine.configure()
    result = run_smoke(image, strength)
    summary = (f"{result.parameters} parameters · {result.image.shape[1]}×{result.image.shape[0]} px · "
               f"{result.milliseconds:.1f} ms on {result.threads} thread(s)")
    return result.image, summary


def build_blocks() -> gr.Blocks:
    with gr.Blocks(title="FaceLab model checks") as blocks:
        gr.Markdown("# FaceLab model checks\nStaff only. Each tab runs a check inside this server.")
        with gr.Tab("ml smoke check"):
            gr.Markdown("Builds a tiny network and runs it on your image (or the built-in test card).")
            with gr.Row():
                source = gr.Image(type="numpy", label="Image (optional)")
                output = gr.Image(type="numpy", label="Output")
            strength = gr.Slider(0, 2, value=1, step=0.05, label="Strength")
            summary = gr.Textbox(label="Timing")
            gr.Button("Run").click(smoke_check, inputs=[source, strength], outputs=[output, summary],
                                   api_name="smoke_check")
    return blocks
