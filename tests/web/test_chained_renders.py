"""Renders of recipes: edits come back at the aligned crop's resolution, and in a chain, moving a
slider of a later step renders that step alone, from the latent of the photo after the earlier
steps, which the engine keeps per process."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editing import engine
from ml import registry
from ml.data.align import resize_square

PHOTO = Image.open(Path(__file__).resolve().parents[1] / "fixtures" / "faces" / "astronaut.jpg").convert("RGB").resize((64, 64))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain-models")
    return {method: str(registry.get(method).untrained_checkpoint(root / method, "tiny"))
            for method in ("elegant", "homointerp")}


def chain(checkpoints, bangs: float, keep_detail: bool, first_checkpoint: str | None = None):
    return [engine.Step("elegant", first_checkpoint or checkpoints["elegant"], 9001, "celeba",
                        {"Bangs_strength": bangs}, {}),
            engine.Step("homointerp", checkpoints["homointerp"], 9002, "celeba", {"keep_detail": keep_detail}, {})]


def test_a_later_steps_slider_does_not_rerun_the_steps_before_it(checkpoints):
    photo_key = "photo:chain-test-1"
    engine.forget_latents(photo_key)
    loader = lambda: np.array(PHOTO)  # noqa: E731
    first = engine.render_steps(photo_key, loader, chain(checkpoints, 0.5, False))
    assert engine.cache_stats()["chain_latents"] >= 1

    # The first step's model is gone now: only a cached latent of its output can let this render.
    missing = "/nonexistent/elegant"
    moved = engine.render_steps(photo_key, loader, chain(checkpoints, 0.5, True, first_checkpoint=missing))
    assert moved.shape == first.shape and not np.array_equal(moved, first)
    again = engine.render_steps(photo_key, loader, chain(checkpoints, 0.5, False, first_checkpoint=missing))
    assert np.array_equal(again, first)

    # A different first-step control is a different intermediate image: the chain runs from the start.
    with pytest.raises(engine.MissingCheckpoint):
        engine.render_steps(photo_key, loader, chain(checkpoints, 0.7, False, first_checkpoint=missing))


def test_forgetting_a_photo_forgets_its_chain_latents(checkpoints):
    photo_key = "photo:chain-test-2"
    loader = lambda: np.array(PHOTO)  # noqa: E731
    engine.render_steps(photo_key, loader, chain(checkpoints, 1.0, False))
    engine.forget_latents(photo_key)
    with pytest.raises(engine.MissingCheckpoint):
        engine.render_steps(photo_key, loader, chain(checkpoints, 1.0, False, first_checkpoint="/nonexistent/elegant"))


def test_edits_come_back_at_the_crops_resolution_with_its_own_detail(checkpoints):
    """The starter HomoInterpGAN works at 128 px; the aligned crop is 256."""
    crop = np.array(Image.open(Path(__file__).resolve().parents[1] / "fixtures" / "faces" / "astronaut.jpg")
                    .convert("RGB").resize((256, 256)))
    loader = lambda: crop  # noqa: E731
    starter = "ml/weights/homointerp"
    homointerp = lambda controls: [engine.Step("homointerp", starter, 9003, "celeba", controls, {})]  # noqa: E731
    engine.forget_latents("photo:resolution-test")
    # keeping detail with no slider moved: the crop itself, not a 128 px copy
    untouched = engine.render_steps("photo:resolution-test", loader, homointerp({"keep_detail": True}))
    assert np.array_equal(untouched, crop)
    # an edit: the crop plus the model's change, which at the model's size is the model's render
    controls = {"keep_detail": True, "hair_color": 1.0, "hair_color_target": "Blond_Hair"}
    edited = engine.render_steps("photo:resolution-test", loader, homointerp(controls))
    editor = engine.editor_for("homointerp", starter)
    rendered = editor.render(editor.encode(resize_square(crop, 128)), controls)
    assert edited.shape == crop.shape and np.abs(edited.astype(int) - crop).mean() > 2
    assert np.abs(resize_square(edited, 128).astype(int) - rendered).mean() < 2
    # redrawing the face (detail off) gives the model's own size
    redrawn = engine.render_steps("photo:resolution-test", loader, homointerp({"keep_detail": False}))
    assert redrawn.shape == (128, 128, 3)
    # a chain of residual edits (ELEGANT's decoder adds to its input) stays at the crop's size
    assert engine.render_steps("photo:resolution-test", loader, chain(checkpoints, 1.0, True)).shape == crop.shape
