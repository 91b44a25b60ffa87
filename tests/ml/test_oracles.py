"""ml.oracles: the committed oracles load and score above their floors on freshly rendered faces of
unseen identities; the feature network's interface; loaders' inputs; a tiny train-oracle run
that resumes exactly."""
from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
import torch

from ml import checkpoints
from ml.runtime import configure_torch

configure_torch(int(os.environ.get("FACELAB_TORCH_THREADS", "1")))

# Floors (held-out renders of identities no oracle trained on; the report shows the full table).
MEAN_ATTRIBUTE_ACCURACY_FLOOR = 0.87  # 0.938 on 900 held-out faces (report)
# Bangs / glasses style where shown, pooled: 4 styles each, so chance is 0.25. 0.97 / 0.75 on 900
# held-out faces (frame shapes are a pixel wide at 128 px).
STYLE_ACCURACY_FLOOR = 0.7
VERIFICATION_FLOOR = 0.8  # identity-eval 0.938 over all view pairs of the report, identity-loss 0.911
# One graded attribute switched on each of 24 fresh faces: 0.92 here (Mustache 1.00); on the
# report's 150 per attribute 0.91 (Mustache 0.98) since it trained on faces beside their switched
# copies, 0.83 (Mustache 0.60) when it saw switched faces alone, 0.60 (Mustache 0.12) before it saw
# any. Under a full beard a mustache does not show at all. Blurred by 1 px: 0.85 here, 0.82 on
# the report's faces; 0.73 there before it trained on blurred faces. Age is fine lines a blur
# erases, and a smile removed from an open mouth still shows teeth: those two stay the weakest.
SWITCHED_ACCURACY_FLOOR = 0.8
SWITCHED_MUSTACHE_FLOOR = 0.6
SWITCHED_BLURRED_FLOOR = 0.75
FRESH_SEED = 20_240_611  # no training / validation / report set uses it


def _fast_renderer_or_skip():
    """Fresh renders at 128 px need the GL renderer (or FaceWorld's fast backend) to stay quick."""
    from ml.oracles.data import fast_renderer_available

    if not fast_renderer_available():
        pytest.skip("no fast renderer for fresh faces (GL backend unavailable)")


@pytest.fixture(scope="module")
def fresh_faces():
    _fast_renderer_or_skip()
    from ml.oracles.report import render_ladder

    return render_ladder(24, FRESH_SEED, size=128, cache_dir=None)  # 24 people x 6 views


# --- the committed oracles ------------------------------------------------------------------------

def test_committed_oracles_have_small_checkpoints_and_manifests():
    from ml.oracles.loaders import WEIGHTS_DIR

    for role in ("attributes", "identity-loss", "identity-eval"):
        directory = WEIGHTS_DIR / role
        manifest = checkpoints.read_manifest(directory)
        assert manifest.method == f"oracle-{role}"
        assert (directory / checkpoints.WEIGHTS_FILE).stat().st_size <= 3 * 2**20
        assert not (directory / checkpoints.TRAINING_STATE_FILE).exists()
        assert manifest.data_fingerprint and manifest.steps > 0
        if role != "attributes":
            assert 0.0 < manifest.metrics["threshold"] < 1.0


def test_attribute_oracle_scores_fresh_faces(fresh_faces):
    from ml.oracles import load_attribute_oracle
    from ml.oracles.data import world_attributes

    oracle = load_attribute_oracle()
    assert oracle.attribute_names == list(world_attributes())
    predicted = oracle.predict(fresh_faces.images)
    accuracy = (predicted["attributes"] == fresh_faces.attributes).mean(0)
    assert accuracy.mean() >= MEAN_ATTRIBUTE_ACCURACY_FLOOR, dict(zip(oracle.attribute_names, accuracy.round(2)))
    hits = []
    for key in ("Bangs", "Eyeglasses"):
        shown = fresh_faces.styles[key] >= 0
        hits.extend(predicted["styles"][key][shown] == fresh_faces.styles[key][shown])
    assert len(hits) >= 10 and np.mean(hits) >= STYLE_ACCURACY_FLOOR, np.mean(hits)
    # intensities follow the truth (what slider evaluations rank by)
    correlation = np.corrcoef(predicted["intensities"].ravel(), fresh_faces.intensities.ravel())[0, 1]
    assert correlation > 0.7  # 0.80 here; the starter oracle's intensity MAE is 0.13


def test_attribute_oracle_reads_an_attribute_switched_on_the_same_face():
    """The ceiling of every method's attribute success: the oracle must see an added mustache on
    a face that would rarely have one, not read it from the face's sex."""
    _fast_renderer_or_skip()
    from ml.oracles.data import sample_views
    from ml.oracles.loaders import load_attribute_oracle
    from ml.oracles.metrics import counterfactual_report

    params = sample_views(24, 1, seed=FRESH_SEED)
    report = counterfactual_report(load_attribute_oracle().network, params)
    accuracy = {name: value["accuracy"] for name, value in report["attributes"].items()}
    assert report["mean_accuracy"] >= SWITCHED_ACCURACY_FLOOR, accuracy
    assert accuracy["Mustache"] >= SWITCHED_MUSTACHE_FLOOR, accuracy
    blurred = {name: value["blurred"] for name, value in report["attributes"].items()}
    assert report["mean_blurred_accuracy"] >= SWITCHED_BLURRED_FLOOR, blurred


@pytest.mark.parametrize("role", ["loss", "eval"])
def test_identity_oracles_verify_across_pose(fresh_faces, role):
    from ml.oracles import load_identity_oracle
    from ml.oracles.metrics import frontal_to_yaw_report

    oracle = load_identity_oracle(role)
    table = frontal_to_yaw_report(oracle.network, fresh_faces, oracle.threshold)
    assert set(table) == {"15", "30", "45", "60", "75"}
    pairs = sum(value["pairs"] for value in table.values())
    accuracy = sum(value["accuracy"] * value["pairs"] for value in table.values()) / pairs
    assert accuracy >= VERIFICATION_FLOOR, table


def test_loaders_take_numpy_or_tensors_at_64_or_128(fresh_faces):
    from ml.oracles import identity_similarity, load_identity_oracle
    from ml.training.data import images_to_tensor

    oracle = load_identity_oracle("eval")
    images = fresh_faces.images[:4]
    from_numpy = oracle.embed(images)
    from_tensor = oracle.embed(images_to_tensor(images))
    assert torch.allclose(from_numpy, from_tensor, atol=1e-5)
    assert torch.allclose(from_numpy.norm(dim=1), torch.ones(4), atol=1e-4)
    assert oracle.embed(images[0]).shape == (1, from_numpy.shape[1])  # one H x W x 3 face
    small = torch.nn.functional.interpolate(images_to_tensor(images), size=64, mode="area")
    assert oracle.embed(small).shape == from_numpy.shape
    same = identity_similarity(images, images)
    assert np.allclose(same, 1.0, atol=1e-4)


def test_identity_loss_oracle_passes_gradients_and_stays_frozen():
    from ml.oracles import load_identity_oracle

    oracle = load_identity_oracle("loss")
    oracle.train()  # a method's trainer may call .train() on everything it holds
    assert not oracle.network.training
    image = torch.zeros(2, 3, 128, 128, requires_grad=True)
    (1 - oracle.similarity(image, torch.rand(2, 3, 128, 128) * 2 - 1)).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in oracle.parameters())


# --- the feature network --------------------------------------------------------------------------

def test_feature_network_returns_maps_shallow_to_deep():
    from ml.oracles.features import load_feature_network

    network = load_feature_network()
    images = torch.rand(2, 3, 128, 128) * 2 - 1
    maps = network(images)
    assert isinstance(maps, list) and len(maps) >= 3
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 4]
    assert all(m.shape[0] == 2 for m in maps)
    assert [m.shape[-1] for m in network(images[:, :, ::2, ::2])] == [16, 8, 4, 2]  # 64 px faces too
    assert not any(parameter.requires_grad for parameter in network.parameters())
    network.train()
    assert not network.training
    again = network(images)
    assert all(torch.equal(a, b) for a, b in zip(maps, again))  # frozen and deterministic


def test_feature_network_homointerp_adapter_uses_it():
    from ml.methods.homointerp.networks import build_feature_network

    network = build_feature_network("oracle")
    assert len(network(torch.zeros(1, 3, 64, 64))) >= 3


def test_missing_checkpoint_says_how_to_train_it(tmp_path):
    from ml.oracles import OracleMissingError, load_attribute_oracle
    from ml.oracles.features import load_feature_network

    with pytest.raises(OracleMissingError, match="train-oracle identity-loss"):
        load_feature_network(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="train-oracle attributes"):
        load_attribute_oracle(tmp_path / "nowhere")


# --- metrics --------------------------------------------------------------------------------------

def test_toggled_sets_switch_one_attribute_of_some_faces():
    from ml.data.world.params import ATTRIBUTES
    from ml.oracles.data import SetSpec, sample_views, toggle_attributes

    natural = sample_views(60, 4, seed=3)
    toggled = toggle_attributes(natural, 0.5, seed=3)
    switched = (toggled.labels() != natural.labels()).sum(1)
    assert 0.35 < (switched > 0).mean() < 0.65
    assert switched.max() <= 2  # one attribute, plus the member of its exclusive group it replaces
    assert np.array_equal(toggled.shape, natural.shape) and np.array_equal(toggled.pose, natural.pose)
    assert np.array_equal(toggle_attributes(natural, 0.5, seed=3).intensities, toggled.intensities)
    # every attribute gets switched on somewhere, rare ones included
    added = (toggled.labels() > natural.labels()).any(0)
    assert added[ATTRIBUTES.index("Mustache")] and added.mean() > 0.9
    # sets made before toggles existed keep their names and fingerprints (the oracles' manifests cite them)
    assert SetSpec(4000, 4).fingerprint() == "sha256:18df515ad75897cb"
    assert SetSpec(4000, 4).name == "faces-128px-4000x4-seed0-c1" != SetSpec(4000, 4, toggles=0.5).name


def test_focused_toggles_switch_the_graded_attributes_more_often():
    from ml.data.world.params import ATTRIBUTES
    from ml.oracles.config import GRADED_ATTRIBUTES
    from ml.oracles.data import sample_views, toggle_attributes

    natural = sample_views(100, 4, seed=5)
    graded = [ATTRIBUTES.index(name) for name in GRADED_ATTRIBUTES]

    def graded_share(params):
        switched = params.labels() != natural.labels()
        return switched[:, graded].any(1).mean() / switched.any(1).mean()

    uniform, focused = toggle_attributes(natural, 1.0, 5), toggle_attributes(natural, 1.0, 5, GRADED_ATTRIBUTES)
    # 6 of 28 attributes: about a fifth when uniform, about 0.5 + 0.5 * 0.2 with half the draws focused
    assert graded_share(uniform) < 0.35 < 0.5 < graded_share(focused) < 0.75
    assert ((focused.labels() != natural.labels()).sum(1) <= 2).all()


def test_paired_set_holds_each_face_beside_its_switched_copy(tmp_path):
    _fast_renderer_or_skip()
    from ml.oracles.config import GRADED_ATTRIBUTES
    from ml.oracles.data import SetSpec, build_set

    spec = SetSpec(6, 2, size=32, toggles=1.0, toggle_focus=GRADED_ATTRIBUTES, paired=True)
    assert spec.name.endswith("-t1-f6-paired")
    assert spec.fingerprint() != SetSpec(6, 2, size=32, toggles=1.0).fingerprint()
    faces = build_set(spec, tmp_path, log=lambda line: None)
    half = len(faces) // 2
    assert len(faces) == 2 * 6 * 2
    drawn, switched = faces.subset(slice(0, half)), faces.subset(slice(half, None))
    assert np.array_equal(drawn.identity, switched.identity) and np.array_equal(drawn.pose, switched.pose)
    changed = (drawn.attributes != switched.attributes).sum(1)
    assert ((changed >= 1) & (changed <= 2)).all()  # every copy differs, in one attribute (and its group)


def test_oracle_config_refuses_unknown_focus_and_pairs_without_switches():
    from ml.config import ConfigError
    from ml.oracles.config import oracle_config

    with pytest.raises(ConfigError, match="Moustache"):
        oracle_config("attributes", "tiny", toggles=1.0, toggle_focus=("Moustache",))
    with pytest.raises(ConfigError, match="paired_toggles needs toggles"):
        oracle_config("attributes", "tiny", paired_toggles=True)
    with pytest.raises(ConfigError, match="blur_probability"):
        oracle_config("attributes", "tiny", blur_probability=1.5)


def test_augment_blurs_the_chosen_share_of_faces_and_draws_as_before_without_blur():
    from ml.oracles.training import augment

    # a checkerboard: all its energy is at the highest frequency, which a blur removes
    board = (torch.arange(32).view(1, -1) + torch.arange(32).view(-1, 1)) % 2 * 2.0 - 1.0
    images = board.expand(64, 3, 32, 32).clone()
    torch.manual_seed(0)
    plain = augment(images)
    torch.manual_seed(0)
    assert torch.equal(augment(images, blur_probability=0.0), plain)  # the earlier oracles' draws
    torch.manual_seed(0)
    blurred = augment(images, blur_probability=0.5)
    contrast = blurred.std(dim=(1, 2, 3))
    soft = contrast < 0.5 * plain.std(dim=(1, 2, 3))
    assert 16 <= int(soft.sum()) <= 48  # about half the batch
    assert torch.equal(blurred[~soft], plain[~soft])  # the rest untouched
    torch.manual_seed(0)
    assert torch.equal(augment(images, blur_probability=0.5), blurred)  # the global RNG decides


def test_best_threshold_separates_pairs():
    from ml.oracles.metrics import best_threshold, verification_pairs

    threshold, accuracy = best_threshold(np.array([0.1, 0.2, 0.7, 0.9]), np.array([False, False, True, True]))
    assert accuracy == 1.0 and 0.2 < threshold < 0.7
    first, second, same = verification_pairs(np.array([1, 1, 2, 2, 3]))
    identity = np.array([1, 1, 2, 2, 3])
    assert np.array_equal(identity[first] == identity[second], same)
    assert same.sum() == 4 and (~same).sum() == 5


# --- the train-oracle command ---------------------------------------------------------------------

def _tiny_args(tmp_path, role, steps, *more):
    """The command line `train-oracle ROLE --preset tiny ...`, parsed by the command's own parser."""
    from ml.oracles.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([role, "--preset", "tiny", "--steps", str(steps), "--runs", str(tmp_path / "runs"),
                              "--export-root", str(tmp_path / "weights"), "--cache", str(tmp_path / "cache"),
                              "--threads", "1", "--no-progress", *more])


@pytest.mark.parametrize("role", ["attributes", "identity-loss"])
def test_tiny_train_oracle_runs_resumes_exactly_and_exports(tmp_path, role):
    _fast_renderer_or_skip()
    from ml.oracles import cli
    from ml.oracles.loaders import load_oracle_network

    straight = tmp_path / "straight"
    assert cli.run(_tiny_args(straight, role, 4)) == 0
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "cache").symlink_to(straight / "cache")  # the same rendered faces
    assert cli.run(_tiny_args(resumed, role, 2)) == 0
    assert cli.run(_tiny_args(resumed, role, 4)) == 0
    run_name = f"{role}-tiny"
    a = checkpoints.load_checkpoint(straight / "runs" / run_name).weights
    b = checkpoints.load_checkpoint(resumed / "runs" / run_name).weights
    assert a.keys() == b.keys()
    for network in a:
        for key in a[network]:
            assert torch.equal(a[network][key], b[network][key]), (network, key)
    network, manifest = load_oracle_network(role, straight / "weights" / role)
    assert manifest.steps == 4 and "val_faces" in manifest.metrics
    assert "head" not in checkpoints.load_weights(straight / "weights" / role / checkpoints.WEIGHTS_FILE)


def test_tiny_oracle_fine_tunes_on_faces_with_switched_attributes(tmp_path):
    _fast_renderer_or_skip()
    from ml.oracles import cli

    assert cli.run(_tiny_args(tmp_path / "first", "attributes", 2)) == 0
    exported = tmp_path / "first" / "weights" / "attributes"
    parent = checkpoints.read_manifest(exported)
    # as if the parent had been trained with these, on a machine with bf16
    parent.config.update(positive_weight_cap=3.0, precision="bf16")
    checkpoints.write_manifest(exported, parent)
    args = _tiny_args(tmp_path / "second", "attributes", 2, "--init-from", str(exported), "--set", "toggles=0.5")
    assert cli.run(args) == 0
    manifest = checkpoints.read_manifest(tmp_path / "second" / "weights" / "attributes")
    assert manifest.parent["path"] == str(exported) and manifest.parent["steps"] == 2
    # the fine-tune keeps the parent's hyperparameters, with --set on top
    assert manifest.config["toggles"] == 0.5 and manifest.config["positive_weight_cap"] == 3.0
    assert manifest.config["precision"] == "fp32"  # the tiny preset's: a run setting is not inherited
    assert any("-t0.5" in path.name for path in (tmp_path / "second" / "cache").iterdir())
