"""`python -m ml eval`: the evaluation runs end to end on tiny untrained checkpoints and a handful
of held-out faces (graded by untrained tiny oracles: this checks the plumbing, not the numbers),
and the committed starter models load with their recorded metrics."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ml import checkpoints, registry
from ml.evaluation import faces
from ml.evaluation.cli import CONTROL_SUCCESS, METHOD_KEYS, evaluate, format_report, recorded_metrics
from ml.evaluation.grading import Graders, spearman

REPO = Path(__file__).resolve().parents[2]
RECORDED_KEYS = ("attribute_success", "identity_similarity", "reconstruction_l1")


@pytest.fixture(scope="module")
def graders():
    return Graders.untrained()


def test_spearman_orders_and_ties():
    assert spearman(np.arange(5), np.array([0.1, 0.2, 0.4, 0.5, 0.9])) == pytest.approx(1.0)
    assert spearman(np.arange(5), np.array([5, 4, 3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.arange(5), np.ones(5)) == 0.0  # a slider that moves nothing


def test_blurred_truth_keeps_broad_changes_and_fades_one_pixel_strokes():
    from ml.evaluation.edits import blurred_change

    source = np.full((1, 32, 32, 3), 100, np.uint8)
    target = source.copy()
    target[0, 6:22, 6:22] = 200  # a patch, as a hair colour changes
    target[0, 28, 2:30] = 200  # a stroke one pixel wide, as a wrinkle
    assert np.array_equal(blurred_change(source, target, sigma=0), target)
    blurred = blurred_change(source, target).astype(int)
    assert abs(blurred[0, 14, 14] - 200).max() <= 2
    assert (blurred[0, 28, 16] - 100).max() < 50  # under half the stroke's contrast is left
    assert (blurred[0, 2, 28] == 100).all()


def test_success_intervals_are_wilson_intervals_that_narrow_with_more_faces():
    from ml.evaluation.edits import pooled_success_interval
    from ml.evaluation.grading import success_interval

    assert success_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))  # not (0, 0)
    assert success_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert success_interval(42, 48) == (pytest.approx(0.753, abs=1e-3), pytest.approx(0.941, abs=1e-3))
    low_48, high_48 = success_interval(45, 48)
    low_480, high_480 = success_interval(450, 480)
    assert low_48 < low_480 < 45 / 48 < high_480 < high_48
    # over attributes: every edit a trial, so two attributes of 48 faces grade as 96
    pooled = pooled_success_interval({"A": {"success": 1.0, "faces": 48}, "B": {"success": 0.75, "faces": 48}})
    assert pooled == success_interval(84, 96)


def test_held_out_faces_are_new_people():
    params = faces.held_out_params(faces.eval_world(32), 8, seed=10_000)
    assert len(params) == 8
    assert not set(int(i) for i in params.identity) & faces.training_identities()


def _untrained_editor(method: str, directory: Path):
    registry.get(method).untrained_checkpoint(directory, "tiny")
    return registry.get(method).load_editor(directory)


def _check_report(method: str, report: dict, editor):
    summary = report["summary"]
    for key in RECORDED_KEYS + (METHOD_KEYS[method], "outside_change", "counterfactual_l1"):
        assert key in summary and math.isfinite(summary[key]), key
    assert 0.0 <= summary["attribute_success"] <= 1.0
    low, high = report["attribute_success_interval"]
    assert low <= summary["attribute_success"] <= high
    for entry in report["attributes"].values():
        low, high = entry["success_interval"]
        assert 0.0 <= low <= entry["success"] <= high <= 1.0 and high - low > 0.1  # a handful of faces
    metrics = recorded_metrics(method, report)
    assert set(RECORDED_KEYS) | {METHOD_KEYS[method]} <= set(metrics)
    _check_control_success(metrics, editor)
    json.dumps(report, default=float)  # what eval.json holds
    assert method in format_report(report)


def _check_control_success(metrics: dict, editor) -> None:
    """Each graded attribute's success is kept under a control of the editor's schema, the one
    whose edits were graded, so the editor page can show it beside that control."""
    controls = editor.controls_schema()["properties"]
    graded = {}  # attribute -> (control, success)
    for key, value in metrics.items():
        if key.startswith(CONTROL_SUCCESS + "/"):
            _, control, attribute = key.split("/")
            graded[attribute] = (control, value)
    attributes = {key.split("/", 1)[1] for key in metrics if key.startswith("attribute_success/")}
    assert attributes and set(graded) == attributes
    for attribute, (control, success) in graded.items():
        assert control in controls, (attribute, control)
        assert success == metrics[f"attribute_success/{attribute}"]


def test_elegant_evaluation_returns_every_key(tmp_path, graders):
    editor = _untrained_editor("elegant", tmp_path / "model")
    report = evaluate("elegant", editor, graders, count=3, figures_dir=tmp_path / "figures", photos=())
    _check_report("elegant", report, editor)
    assert report["pose"] == "celeba"  # ELEGANT edits CelebA crops: near-frontal held-out faces
    assert set(report["attributes"]) == set(editor.attributes)
    assert {"Bangs", "Eyeglasses", "Eyeglasses_color"} <= set(report["styles"])
    assert all(0.0 <= entry["block_ceiling"] <= 1.0 for entry in report["styles"].values())
    assert all(0.0 <= entry["block_ceiling"] <= 1.0 for entry in report["attributes"].values())
    assert all(0.0 <= entry["blurred_truth_success"] <= 1.0 for entry in report["attributes"].values())
    assert "blur 1" in format_report(report)
    assert (tmp_path / "figures" / "elegant-swap.png").is_file()
    assert (tmp_path / "figures" / "elegant-matrix.png").is_file()


def test_elegant_block_ceiling_swaps_in_the_truths_own_block(tmp_path):
    """The block ceiling gives each source the attribute's block of its truth's encoding, decoded
    on the source's skips: with the source as its own truth that is the unedited render, and
    another face's block makes a different picture."""
    from ml.evaluation.edits import encode_all
    from ml.evaluation.elegant import block_ceiling

    editor = _untrained_editor("elegant", tmp_path / "model")
    world = faces.eval_world(editor.image_size, "celeba")
    sources = faces.render(world, faces.held_out_params(world, 2, seed=10_000)).images
    latents, _ = encode_all(editor, sources)
    controls = {"Bangs_exemplar": "exemplar", "Bangs_strength": 1.0}
    own = block_ceiling(editor, latents, sources, controls)
    assert all(np.array_equal(image, editor.render(latent, {})) for image, latent in zip(own, latents))
    other = block_ceiling(editor, latents, sources[::-1], controls)
    assert not np.array_equal(other[0], own[0])


def test_photo_edits_are_graded_as_the_app_shows_them(tmp_path):
    """A real photo's edits are shown and measured on the app's 256 px aligned crop, an in-place
    edit laid on it: a render that changes nothing gives the crop back (dlib distance 0), and
    one that darkens the face moves it."""
    from PIL import Image

    from ml.data.align import CROP_SIZES
    from ml.evaluation.photos import PHOTOS, edit_photos

    crop_size = CROP_SIZES["celeba"]
    editor = _untrained_editor("elegant", tmp_path / "model")  # tiny: a 32 px model
    assert editor.image_size < crop_size and editor.edits_in_place({})
    report = edit_photos(editor, lambda editor, small: [("unchanged", small), ("darker", small // 2)],
                         tmp_path / "photo.png")
    distances = report["dlib_distance"][PHOTOS[0].name]
    assert distances["unchanged"] == 0.0
    assert distances["darker"] > 0.05
    with Image.open(report["figure"]) as figure:
        assert figure.width == 2 + 3 * (crop_size + 2)  # original, then the two edits, at crop size


def test_homointerp_ceiling_decodes_the_truth_as_an_edit_of_its_source(tmp_path):
    """A slider's ceiling is the truth's encoding drawn on its source's skip maps and detail, as any
    edit of the source is drawn: with the source as its own truth it is the unedited render, and a
    truth drawn on its own maps (which no edit of the source gets) is a different picture."""
    from ml.evaluation.edits import encode_all
    from ml.evaluation.homointerp import decoded_truths

    registry.get("homointerp").untrained_checkpoint(tmp_path, "tiny", latent_stride=8, decoder_skips=2,
                                                    keep_detail=True)
    editor = registry.get("homointerp").load_editor(tmp_path)
    world = faces.eval_world(editor.image_size)
    images = world.render_maps(world.sample(2, seed=5))["rgb"]
    latents, _ = encode_all(editor, images)
    unedited = np.stack([editor.render(latent, {}) for latent in latents])
    assert np.array_equal(decoded_truths(editor, latents, images), unedited)
    swapped = decoded_truths(editor, latents, images[::-1])
    own_maps = np.stack([editor.render({**latent, "image": source["image"],
                                        "reconstruction": source["reconstruction"]}, {})
                         for latent, source in zip(latents[::-1], latents)])
    assert not np.array_equal(swapped, own_maps)


def test_homointerp_evaluation_returns_every_key(tmp_path, graders):
    from ml.data.world import ATTRIBUTES

    editor = _untrained_editor("homointerp", tmp_path / "model")
    # an untrained model has seen no faces: give its mean references a few, as training would
    world = faces.eval_world(editor.image_size)
    params = world.sample(8, seed=5)
    images = world.render_maps(params)["rgb"]
    with torch.no_grad():
        features = torch.cat([editor.encode(image)["features"] for image in images])
    labels = editor.model.references.labels
    columns = [ATTRIBUTES.index(label) if label in ATTRIBUTES else None for label in labels]
    labels_seen = params.labels()
    attributes = torch.tensor([[labels_seen[i, c] if c is not None else -1 for c in columns]
                               for i in range(len(images))], dtype=torch.float32)
    attributes[0], attributes[1] = 1, -1  # every label seen present and absent at least once
    editor.model.references.update(features, attributes)

    report = evaluate("homointerp", editor, graders, count=2, figures_dir=tmp_path / "figures", photos=())
    _check_report("homointerp", report, editor)
    assert report["summary"]["decoder_reconstruction_l1"] == report["summary"]["reconstruction_l1"]
    editor.set_defaults({"keep_detail": True})  # what `--control keep_detail=true` does
    assert editor.describe()["controls"]["properties"]["keep_detail"]["default"] is True
    kept = evaluate("homointerp", editor, graders, count=2, figures_dir=None, pose="wide")
    assert kept["pose"] == "wide" and report["pose"] == "celeba"
    kept = kept["summary"]
    assert kept["reconstruction_l1"] < 0.005 < kept["decoder_reconstruction_l1"]
    assert set(report["sliders"]) == {"expression", "gender", "hair_color", "hair_style", "age"}
    # each slider's ceiling: the truth decoded from its own encoding, graded like the edit
    assert all(0.0 <= entry["decoder_ceiling"] <= 1.0 for entry in report["sliders"].values())
    assert "decoder ceiling" in format_report(report)
    assert (tmp_path / "figures" / "homointerp-strips.png").is_file()


def test_sweep_grades_every_checkpoint_a_run_keeps_oldest_first(tmp_path, graders):
    from ml.evaluation.cli import format_sweep, sweep

    run = tmp_path / "run"
    for step, init_std in ((4, 0.05), (2, 0.02)):  # written out of order, graded in step order
        directory = checkpoints.checkpoint_dir(run, step)
        registry.get("elegant").untrained_checkpoint(directory, "tiny", init_std=init_std)
        manifest = checkpoints.read_manifest(directory)
        manifest.steps = step
        checkpoints.write_manifest(directory, manifest)
    rows = sweep("elegant", run, graders, count=2)
    assert [row["step"] for row in rows] == [2, 4]
    assert rows[0]["checkpoint"].endswith("step-0000002")
    for row in rows:
        assert 0.0 <= row["attribute_success"] <= 1.0 and math.isfinite(row["exemplar_fidelity"])
    assert rows[0]["reconstruction_l1"] != rows[1]["reconstruction_l1"]  # two different networks
    table = format_sweep("elegant", rows).splitlines()
    assert "exemplar_fidelity" in table[0] and len(table) == 3
    with pytest.raises(checkpoints.CheckpointError, match="keeps no checkpoints"):
        sweep("elegant", tmp_path / "empty", graders)


def test_eval_controls_are_parsed_and_checked_against_the_schema(tmp_path):
    from ml.controls import ControlsError
    from ml.evaluation.cli import parse_controls

    assert parse_controls(["keep_detail=false", "hair_color=0.5", "hair_color_target=not Blond_Hair"]) == \
        {"keep_detail": False, "hair_color": 0.5, "hair_color_target": "not Blond_Hair"}
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_controls(["keep_detail"])
    editor = _untrained_editor("homointerp", tmp_path / "model")
    with pytest.raises(ControlsError, match="unknown control"):
        editor.set_defaults({"keep_details": True})
    with pytest.raises(ControlsError, match="must be boolean"):
        editor.set_defaults({"keep_detail": "yes"})


@pytest.mark.parametrize("method", ["elegant", "homointerp"])
def test_committed_starter_model_loads_with_its_metrics(method):
    directory = REPO / "ml" / "weights" / method
    if not (directory / checkpoints.MANIFEST_FILE).is_file():
        pytest.skip(f"no starter {method} model committed yet")
    assert (directory / checkpoints.WEIGHTS_FILE).stat().st_size <= 15 * 1024 * 1024
    editor = registry.get(method).load_editor(directory)
    manifest = checkpoints.read_manifest(directory)
    assert manifest.steps > 0 and not manifest.metrics.get("untrained")
    for key in RECORDED_KEYS + (METHOD_KEYS[method],):
        assert math.isfinite(manifest.metrics[key]), key
    _check_control_success(manifest.metrics, editor)
    image = np.zeros((editor.image_size, editor.image_size, 3), dtype=np.uint8)
    assert editor.render(editor.encode(image), {}).shape == image.shape


def test_a_loaded_homointerp_editor_folds_its_batch_norms_and_draws_as_the_model_does():
    from ml.methods.homointerp.config import Config
    from ml.methods.homointerp.editor import HomoInterpEditor
    from ml.methods.homointerp.networks import HomoInterpGAN

    directory = REPO / "ml" / "weights" / "homointerp"
    folded = registry.get("homointerp").load_editor(directory)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in folded.model.modules())
    checkpoint = checkpoints.load_checkpoint(directory)
    model = HomoInterpGAN(Config.from_dict(checkpoint.manifest.config))
    networks = {name: getattr(model, name) for name in ("encoder", "interpolator", "decoder", "references")}
    checkpoints.load_networks(networks, checkpoint.weights, strict=True)
    plain = HomoInterpEditor(model, folded.config, checkpoint.manifest.to_dict())
    assert any(isinstance(module, torch.nn.BatchNorm2d) for module in plain.model.modules())
    world = faces.eval_world(folded.image_size)
    image = world.render_maps(world.sample(1, seed=3))["rgb"][0]
    controls = {"hair_color": 0.8, "hair_color_target": "Blond_Hair", "keep_detail": False}
    drawn, expected = folded.render(folded.encode(image), controls), plain.render(plain.encode(image), controls)
    assert np.abs(drawn.astype(int) - expected.astype(int)).max() <= 1


def test_bf16_render_stays_close_to_float32(tmp_path):
    """The editors' fast path (bf16 autocast + channels-last) changes pixels by a few 1/255 at most."""
    editor = _untrained_editor("elegant", tmp_path / "model")
    image = np.random.default_rng(0).integers(0, 256, (editor.image_size, editor.image_size, 3), dtype=np.uint8)
    exact = editor.render(editor.encode(image), {})
    fast = editor.set_precision("bf16").render(editor.encode(image), {})
    assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 4
