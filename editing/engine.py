"""The one bridge from the web app to `ml/`. Nothing else in `editing/` imports `ml`.

Workers and the in-process renderer call these functions; they load models lazily, after the
process has started, and set torch's thread count once per process.
"""
from __future__ import annotations

import time

from django.conf import settings

from editing.frames import encode_image, pack_frame


def configure() -> int:
    from ml.runtime import configure_torch

    return configure_torch(settings.FACELAB_TORCH_THREADS)


def available_methods() -> list[dict]:
    from ml import registry

    methods = []
    for name in registry.available():
        method = registry.get(name)
        methods.append({"name": method.name, "title": method.title, "summary": method.summary,
                        "alignment": method.alignment})
    return methods


def smoke_frame(seq: int, strength: float, quality: int = 80) -> bytes:
    """Render the built-in test card through the tiny smoke network, packed as a preview frame."""
    from ml.smoke import run_smoke

    started = time.perf_counter()
    result = run_smoke(strength=strength, threads=configure())
    jpeg = encode_image(result.image, quality=quality)
    header = {"seq": seq, "kind": "smoke", "render_ms": round(result.milliseconds, 2),
              "total_ms": round((time.perf_counter() - started) * 1000, 2),
              "width": result.image.shape[1], "height": result.image.shape[0]}
    return pack_frame(header, jpeg)
