"""`python -m ml train elegant ...` end to end on a small .npz, with resume and export."""
import json

from ml import checkpoints
from ml.cli import main
from ml.training.datasets import load_npz, save_npz
from test_elegant_training import toy_faces  # noqa: E402  (tests/ml is on sys.path under pytest)


def test_train_command_resumes_and_exports(tmp_path):
    data = save_npz(toy_faces(60), tmp_path / "toy.npz")
    assert load_npz(data).attribute_names == ["Bangs", "Eyeglasses", "Young"]
    command = ["train", "elegant", "--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "run"),
               "--threads", "1", "--no-progress", "--set", "checkpoint_every=2", "--set", "eval_every=2"]
    assert main(command + ["--steps", "2"]) == 0
    assert main(command + ["--steps", "4", "--export", str(tmp_path / "weights")]) == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    manifest = checkpoints.read_manifest(tmp_path / "weights")
    assert manifest.steps == 4 and "reconstruction_l1" in manifest.metrics
    assert manifest.config["preset_name"] == "tiny"


def test_a_fine_tune_keeps_its_parents_hyperparameters(tmp_path):
    data = save_npz(toy_faces(40), tmp_path / "toy.npz")
    common = ["--preset", "tiny", "--data", str(data), "--threads", "1", "--no-progress", "--steps", "1"]
    assert main(["train", "elegant", *common, "--out", str(tmp_path / "parent"), "--set", "reconstruction_weight=7",
                 "--set", "log_every=5", "--export", str(tmp_path / "parent-weights")]) == 0
    assert main(["train", "elegant", *common, "--out", str(tmp_path / "child"), "--set", "lr=1e-3",
                 "--init-from", str(tmp_path / "parent-weights"), "--export", str(tmp_path / "child-weights")]) == 0
    config = checkpoints.read_manifest(tmp_path / "child-weights").config
    assert config["reconstruction_weight"] == 7 and config["lr"] == 1e-3
    assert config["log_every"] == 1  # how often to log is the run's own (the tiny preset's), not the parent's


def test_homointerp_takes_its_label_columns_from_the_data(tmp_path, capsys):
    """The synthetic world has 28 of CelebA's 40 columns: training reads them by name."""
    import numpy as np

    from ml.data.world import ATTRIBUTES
    from ml.training.data import ImageAttributeSet

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    labels = np.where(rng.random((24, len(ATTRIBUTES))) > 0.5, 1, -1).astype(np.int8)
    data = save_npz(ImageAttributeSet(images, labels, list(ATTRIBUTES), "toy"), tmp_path / "world.npz")
    command = ["train", "homointerp", "--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "run"),
               "--threads", "1", "--no-progress", "--steps", "1", "--export", str(tmp_path / "weights")]
    assert main(command) == 0
    assert checkpoints.read_manifest(tmp_path / "weights").config["attribute_names"] == list(ATTRIBUTES)

    keep = [i for i, name in enumerate(ATTRIBUTES) if name != "Bangs"]
    data = save_npz(ImageAttributeSet(images, labels[:, keep], [ATTRIBUTES[i] for i in keep], "toy"),
                    tmp_path / "no-bangs.npz")
    capsys.readouterr()
    assert main(command[:5] + [str(data)] + command[6:]) == 2
    error = capsys.readouterr().err
    assert "'Bangs'" in error and "not a column" in error


def test_a_config_the_method_cannot_train_is_one_clear_line_not_a_traceback(tmp_path, capsys):
    data = save_npz(toy_faces(40), tmp_path / "toy.npz")
    command = ["train", "elegant", "--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "run"),
               "--threads", "1", "--no-progress", "--steps", "1"]
    for setting, message in (("counterfactual_norm=huber", "counterfactual_norm must be 'l1' or 'l2'"),
                             ("frozen=dekoder", "frozen names dekoder"),
                             ("frozen=decoder", "'generator' optimizer updates a frozen network")):
        assert main(command + ["--set", setting]) == 2
        error = capsys.readouterr().err
        assert error.startswith("python -m ml train: ") and message in error and "Traceback" not in error
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained or saved


def test_fit_references_gives_a_checkpoint_its_average_faces(tmp_path):
    """An ELEGANT checkpoint without means (as the official code saves) gets them, exactly."""
    import numpy as np
    import torch

    from ml.methods.elegant import Config, ElegantEditor
    from ml.methods.elegant.editor import AVERAGE
    from ml.methods.elegant.networks import build_generator

    config = Config.preset("tiny")
    generator = build_generator(config)
    checkpoint = tmp_path / "official"
    checkpoints.save_checkpoint(checkpoint, {"encoder": generator.encoder, "decoder": generator.decoder},
                                checkpoints.Manifest.create("elegant", config.to_dict(), steps=0))
    assert "presets" not in ElegantEditor.from_checkpoint(checkpoint).controls_schema()["properties"]["Bangs_exemplar"]
    faces = toy_faces(40)
    data = save_npz(faces, tmp_path / "faces.npz")
    assert main(["fit-references", "elegant", "--checkpoint", str(checkpoint), "--data", str(data),
                 "--threads", "1"]) == 0
    # the means are exact under the encoder as the command deploys it (channels-last on CPU)
    editor = ElegantEditor.from_checkpoint(checkpoint).set_precision("auto")
    assert editor.controls_schema()["properties"]["Bangs_exemplar"]["presets"][0]["value"] == AVERAGE
    with_bangs = faces.images[faces.select(["Bangs"])[:, 0] > 0]
    expected = torch.cat([editor.encode(image)["z"] for image in with_bangs]).mean(0, keepdim=True)
    assert torch.allclose(editor.references.mean("Bangs"), expected, atol=1e-5)
    assert np.array_equal(editor.render(editor.encode(faces.images[0]), {"Bangs_exemplar": AVERAGE, "Bangs_strength": 0.0}),
                          editor.render(editor.encode(faces.images[0]), {}))


def test_the_average_face_of_a_model_with_swapped_skips_moves_its_skips_too(tmp_path):
    """Where the skips carry attribute blocks (`swap_skips`), the "average" exemplar needs their
    means too: a checkpoint with the means of z alone offers no average; fit-references stores
    both, exactly, and the average then moves the skips' blocks."""
    import numpy as np
    import torch

    from ml.methods.elegant import Config, ElegantEditor
    from ml.methods.elegant.editor import AVERAGE
    from ml.methods.elegant.networks import build_generator, build_references

    config = Config.preset("tiny", swap_skips=1)
    generator = build_generator(config)
    references = build_references(config)
    references.update(torch.ones(2, 32, 1, 1), torch.tensor([[1, 1], [1, 1]]))
    checkpoint = tmp_path / "z-means-only"
    checkpoints.save_checkpoint(checkpoint, {"encoder": generator.encoder, "decoder": generator.decoder,
                                             "references": references},
                                checkpoints.Manifest.create("elegant", config.to_dict(), steps=0))
    assert not ElegantEditor.from_checkpoint(checkpoint).has_average("Bangs")

    faces = toy_faces(40)
    data = save_npz(faces, tmp_path / "faces.npz")
    assert main(["fit-references", "elegant", "--checkpoint", str(checkpoint), "--data", str(data),
                 "--threads", "1"]) == 0
    editor = ElegantEditor.from_checkpoint(checkpoint).set_precision("auto")
    assert editor.has_average("Bangs")
    with_bangs = faces.images[faces.select(["Bangs"])[:, 0] > 0]
    expected = torch.cat([editor.encode(image)["skip3"] for image in with_bangs]).mean(0, keepdim=True)
    assert torch.allclose(editor.skip_references[0].mean("Bangs"), expected, atol=1e-5)
    latent = editor.encode(faces.images[0])
    z, skips = editor.edited_codes(latent, {"Bangs_exemplar": AVERAGE, "Bangs_strength": 1.0})
    block = editor.generator.skip_splits[3].slices[0]
    assert torch.allclose(skips[3][:, block], expected[:, block])
    assert torch.equal(skips[3][:, 8:], latent["skip3"][:, 8:]) and torch.equal(skips[2], latent["skip2"])
