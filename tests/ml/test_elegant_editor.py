"""ELEGANT's editor: schema, refusal of bad controls, encode/render round trip, figures."""
import numpy as np
import pytest
import torch

from ml import registry
from ml.checkpoints import Manifest, save_checkpoint
from ml.controls import ControlsError
from ml.methods.elegant import Config, ElegantEditor
from ml.methods.elegant.networks import build_discriminators, build_generator
from ml.runtime import configure_torch

configure_torch()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = Config.preset("tiny")
    torch.manual_seed(0)
    generator = build_generator(config)
    d1, d2 = build_discriminators(config)
    path = tmp_path_factory.mktemp("elegant") / "ckpt"
    save_checkpoint(path, {"encoder": generator.encoder, "decoder": generator.decoder, "d1": d1, "d2": d2},
                    Manifest.create("elegant", config.to_dict(), steps=0))
    return path


@pytest.fixture(scope="module")
def editor(checkpoint):
    return registry.get("elegant").load_editor(checkpoint)


def photo(seed):
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_schema_has_an_exemplar_and_a_strength_per_attribute(editor):
    properties = editor.controls_schema()["properties"]
    assert set(properties) == {"Bangs_exemplar", "Bangs_strength", "Eyeglasses_exemplar", "Eyeglasses_strength"}
    assert properties["Bangs_exemplar"]["widget"] == "exemplar"
    assert properties["Bangs_strength"]["widget"] == "slider"
    assert editor.describe()["method"] == "elegant"


@pytest.mark.parametrize("controls, message", [
    ({"Smiling_strength": 1.0}, "unknown control"),
    ({"Bangs_strength": 7.0}, "above its maximum"),
    ({"Bangs_strength": -0.5}, "below its minimum"),
    ({"Bangs_strength": "lots"}, "must be number"),
    ({"Bangs_exemplar": 3}, "must be string or null"),
    ({"Bangs_exemplar": "missing"}, "no encoded latent"),
])
def test_controls_outside_the_schema_are_refused(editor, controls, message):
    latent = editor.encode(photo(0))
    with pytest.raises(ControlsError, match=message):
        editor.render(latent, controls, references={})


def test_encode_render_round_trip(editor):
    latent = editor.encode(photo(0))
    assert latent["z"].shape == (1, 32, 1, 1) and latent["image"].shape == (1, 3, 32, 32)
    assert all(isinstance(value, torch.Tensor) for value in latent.values())
    unchanged = editor.render(latent, {})
    assert unchanged.shape == (32, 32, 3) and unchanged.dtype == np.uint8
    reference = editor.encode(photo(1))
    no_strength = editor.render(latent, {"Bangs_exemplar": "r", "Bangs_strength": 0.0}, {"r": reference})
    assert np.array_equal(no_strength, unchanged)
    edited = editor.render(latent, {"Bangs_exemplar": "r"}, {"r": reference})
    assert not np.array_equal(edited, unchanged)
    assert editor.referenced_ids({"Bangs_exemplar": "r", "Eyeglasses_exemplar": None}) == ["r"]


def test_strength_one_is_the_swap(editor):
    a, b = editor.encode(photo(0)), editor.encode(photo(1))
    swapped_a, swapped_b = editor.swap(a, b, "Eyeglasses")
    assert np.array_equal(editor.render(a, {"Eyeglasses_exemplar": "b"}, {"b": b}), swapped_a)
    assert swapped_b.shape == (32, 32, 3)


def test_interpolation_matrix(editor):
    a, r1, r2 = (editor.encode(photo(seed)) for seed in range(3))
    matrix = editor.interpolation_matrix(a, r1, r2, ["Bangs", "Eyeglasses"], size=4)
    assert matrix.shape == (4, 4, 32, 32, 3)
    assert np.array_equal(matrix[0, 0], editor.render(a, {}))
    assert np.array_equal(matrix[3, 0], editor.render(a, {"Bangs_exemplar": "r1"}, {"r1": r1}))


def test_wrong_image_size_is_refused(editor):
    with pytest.raises(ValueError, match="32x32"):
        editor.encode(np.zeros((64, 64, 3), np.uint8))


def test_auto_precision_renders_what_float32_renders_on_a_cpu_without_bf16(checkpoint):
    """'auto' (the app's default) is bf16 only where the CPU has it in hardware; editors run
    channels-last on a CPU either way, which must not change a pixel in float32."""
    from ml.training.precision import has_fast_bf16

    plain = registry.get("elegant").load_editor(checkpoint)  # fp32, contiguous
    auto = registry.get("elegant").load_editor(checkpoint).set_precision("auto")
    assert auto.precision == ("bf16" if has_fast_bf16("cpu") else "fp32") and auto.channels_last
    if auto.precision == "fp32":
        latent_plain, latent_auto = plain.encode(photo(3)), auto.encode(photo(3))
        assert np.abs(plain.render(latent_plain, {}).astype(int) - auto.render(latent_auto, {})).max() <= 1
