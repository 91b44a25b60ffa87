"""HomoInterpGAN training and editing on the tiny preset (no renderer: random tensors)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml import checkpoints
from ml.config import ConfigError
from ml.controls import ControlsError
from ml.methods.homointerp import METHOD
from ml.methods.homointerp.config import Config
from ml.methods.homointerp.editor import HomoInterpEditor, editor_from_trainer
from ml.methods.homointerp.training import Trainer
from ml.runtime import configure_torch
from ml.training.data import BatchStream, InMemoryBatches
from ml.training.loop import TrainingLoop

configure_torch(1)


def tiny_data(n=16, size=64, seed=0):
    """Smooth random 'faces' (so a small decoder can make progress) with +-1 CelebA labels."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=generator) * 2 - 1
    images = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
    attributes = torch.where(torch.rand(n, 40, generator=generator) > 0.5, 1.0, -1.0)
    return images, attributes


def test_tiny_preset_trains_with_finite_falling_losses():
    config = Config.preset("tiny", lr=1e-3)
    trainer = Trainer(config)
    images, attributes = tiny_data(n=config.batch_size)
    stream = BatchStream([(images, attributes)])  # one fixed batch, so the losses are comparable
    history = [trainer.train_step(stream, step) for step in range(16)]
    for record in history:
        assert all(math.isfinite(value) for value in record.values()), record
    assert {"dec_mse", "critic", "critic_gp", "critic_cls", "kg_transform", "enc_adv", "enc_cls",
            "enc_interp_all", "enc_kg"} <= set(history[-1])
    early = lambda key: np.mean([r[key] for r in history[:3]])
    late = lambda key: np.mean([r[key] for r in history[-3:]])
    assert late("dec_mse") < early("dec_mse")
    assert late("dec_perceptual") < early("dec_perceptual")
    assert late("kg_transform") < early("kg_transform")


def test_a_stride_8_latent_trains_and_its_critic_and_kg_loss_fit_the_larger_map():
    config = Config.preset("tiny", lr=1e-3, latent_stride=8)
    trainer = Trainer(config)
    images, attributes = tiny_data(n=config.batch_size)
    stream = BatchStream([(images, attributes)])
    history = [trainer.train_step(stream, step) for step in range(12)]
    assert trainer.model.encode(images).shape[-1] == 8  # 64 px / 8; the teacher's map is 4x4
    for record in history:
        assert all(math.isfinite(value) for value in record.values()), record
    assert np.mean([r["dec_mse"] for r in history[-3:]]) < np.mean([r["dec_mse"] for r in history[:3]])
    assert history[-1]["kg_transform"] < history[0]["kg_transform"]


def test_bf16_channels_last_step_is_finite():
    config = Config.preset("tiny", precision="bf16", channels_last=True)
    trainer = Trainer(config)
    stream = BatchStream(InMemoryBatches(*tiny_data(), batch_size=config.batch_size))
    for step in range(2):
        record = trainer.train_step(stream, step)
        assert all(math.isfinite(value) for value in record.values()), record
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_a_compiled_run_leaves_the_gradient_penalty_critic_eager_and_trains(tmp_path):
    """Compiled graphs have no double backward, which the critic's gradient penalty needs."""
    config = Config.preset("tiny", torch_compile=True, log_every=1)
    trainer = Trainer(config)
    assert "discriminator" not in trainer.compiled_networks()
    TrainingLoop(trainer, InMemoryBatches(*tiny_data(), batch_size=config.batch_size), tmp_path,
                 progress=False).run(2)
    records = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(math.isfinite(value) for value in records[-1].values())


def _weights(trainer):
    return {f"{name}.{key}": value.clone() for name, network in trainer.networks().items()
            for key, value in network.state_dict().items()}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_is_bit_identical(tmp_path, precision):
    config = Config.preset("tiny", checkpoint_every=2, log_every=1, precision=precision,
                           channels_last=precision == "bf16")
    images, attributes = tiny_data()

    def run(out_dir, steps):
        trainer = Trainer(config)
        data = InMemoryBatches(images, attributes, batch_size=config.batch_size, seed=3)
        TrainingLoop(trainer, data, out_dir, progress=False).run(steps)
        return trainer

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 4)
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (tmp_path / "resumed" / "losses.jsonl").read_text().count("\n") == 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained a few steps through the shared loop, and its checkpoint."""
    out_dir = tmp_path_factory.mktemp("homointerp")
    config = Config.preset("tiny", checkpoint_every=4)
    trainer = Trainer(config)
    images, attributes = tiny_data()
    TrainingLoop(trainer, InMemoryBatches(images, attributes, config.batch_size), out_dir, progress=False).run(4)
    return trainer, checkpoints.latest_checkpoint(out_dir), images


def _uint8(image_tensor):
    return ((image_tensor.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()


def test_editor_strength_zero_reproduces_the_reconstruction(trained):
    trainer, checkpoint, images = trained
    editor = METHOD.load_editor(checkpoint)
    assert isinstance(editor, HomoInterpEditor) and editor.image_size == 64
    photo = _uint8(images[0])
    latent = editor.encode(photo)
    assert set(latent) == {"features", "image", "reconstruction"} and latent["features"].shape == (1, 16, 4, 4)
    assert editor.controls_schema()["properties"]["keep_detail"]["default"] is False  # the paper's render
    reconstruction = editor.render(latent, {})
    assert reconstruction.shape == (64, 64, 3) and reconstruction.dtype == np.uint8
    zeros = {name: 0.0 for name in editor.config.branch_names}
    assert np.array_equal(editor.render(latent, zeros), reconstruction)
    with torch.no_grad():
        decoded = editor.model.decoder(editor.model.encoder(torch.from_numpy(photo).permute(2, 0, 1)[None]
                                                            .float() / 127.5 - 1))
    expected = ((decoded[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(reconstruction, expected)


def test_keep_detail_gives_the_photo_back_and_adds_only_the_decoders_change(trained):
    _, checkpoint, images = trained
    editor = HomoInterpEditor.from_checkpoint(checkpoint)
    photo = _uint8(images[0])
    latent = editor.encode(photo)
    kept = {"keep_detail": True}
    # no edit: the photo itself, where the decoder alone gives a blurry copy
    assert np.abs(editor.render(latent, kept).astype(int) - photo).max() <= 1
    assert np.abs(editor.render(latent, {}).astype(int) - photo).mean() > 5
    exemplar = editor.encode(_uint8(images[1]))
    edit = {"hair_color": 1.0, "hair_color_reference": "ref"}
    decoded = editor.render(latent, edit, {"ref": exemplar}).astype(int)
    detailed = editor.render(latent, {**edit, **kept}, {"ref": exemplar}).astype(int)
    change = decoded - editor.render(latent, {}).astype(int)
    assert np.abs(detailed - np.clip(photo + change, 0, 255)).max() <= 2
    # a latent cached without the photo (an older FaceLab) still renders, as the decoder draws it
    features_only = {"features": latent["features"]}
    assert np.array_equal(editor.render(features_only, {**edit, **kept}, {"ref": exemplar}), decoded)


def test_a_decoder_with_skips_trains_and_its_editor_keeps_the_source_maps(tmp_path):
    import json

    from ml.data.world import ATTRIBUTES

    config = Config.preset("tiny", latent_stride=8, decoder_skips=2, counterfactual_weight=5.0,
                           counterfactual_autoencode_weight=5.0, counterfactual_feature_weight=50.0,
                           autoencoder_steps=2, checkpoint_every=4, skip_dropout=0.5,
                           attribute_names=tuple(ATTRIBUTES))
    trainer = Trainer(config)
    data = trainer.make_batches(None)
    TrainingLoop(trainer, data, tmp_path, progress=False).run(6)
    losses = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert all(np.isfinite(value) for row in losses for value in row.values())
    editor = METHOD.load_editor(checkpoints.latest_checkpoint(tmp_path))
    photo = _uint8(data.batch(99).images[0])
    latent = editor.encode(photo)
    assert latent["skip_1"].shape[-1] == 64 and latent["skip_2"].shape[-1] == 32 and "skip_4" not in latent
    zeros = {name: 0.0 for name in editor.config.branch_names}
    assert np.array_equal(editor.render(latent, zeros), editor.render(latent, {}))
    assert editor.render(latent, {"expression": 1.0, "expression_target": "Smiling"}).shape == (64, 64, 3)
    without = {key: value for key, value in latent.items() if key != "skip_2"}
    with pytest.raises(ValueError, match="lacks skip_2"):
        editor.render(without, {})


def test_counterfactual_loss_can_grade_the_detail_kept_render(tmp_path):
    import json

    from ml.data.world import ATTRIBUTES

    config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_keep_detail=True, keep_detail=True,
                           attribute_names=tuple(ATTRIBUTES))
    trainer = Trainer(config)
    data = trainer.make_batches(None)
    assert data.world.pose == "celeba"
    TrainingLoop(trainer, data, tmp_path, progress=False).run(3)
    logged = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["counterfactual"]) for row in logged if "counterfactual" in row)
    editor = editor_from_trainer(trainer)
    assert editor.controls_schema()["properties"]["keep_detail"]["default"] is True


def test_editor_strength_moves_features_monotonically(trained):
    _, checkpoint, images = trained
    editor = HomoInterpEditor.from_checkpoint(checkpoint)
    latent = editor.encode(_uint8(images[0]))
    exemplar = editor.encode(_uint8(images[1]))
    distances = []
    for strength in (0.0, 0.5, 1.0, 1.5, 2.0):
        controls = {"expression": strength, "expression_reference": "ref"}
        features = editor.render_features(latent, controls, {"ref": exemplar})
        distances.append((features - latent["features"]).norm().item())
    assert distances[0] == 0 and all(a < b for a, b in zip(distances, distances[1:]))
    # with no exemplar the target is the face plus the group's mean reference direction (kept in
    # the checkpoint), so the slider moves every face's features by one and the same step
    toward_smile = editor.render_features(latent, {"expression": 1.0, "expression_target": "Smiling"})
    away = editor.render_features(latent, {"expression": 1.0, "expression_target": "not Smiling"})
    assert not torch.equal(toward_smile, away)
    other_smile = editor.render_features(exemplar, {"expression": 1.0, "expression_target": "Smiling"})
    step = toward_smile - latent["features"]
    assert step.abs().max() > 0 and torch.allclose(other_smile - exemplar["features"], step, atol=1e-5)
    assert editor.render(latent, {"residual": 1.0}).shape == (64, 64, 3)  # toward the average face


def test_controls_outside_the_schema_are_refused(trained):
    trainer, _, images = trained
    editor = editor_from_trainer(trainer)
    schema = editor.controls_schema()
    assert schema["properties"]["expression"]["maximum"] == 2.0
    assert schema["properties"]["expression"]["attributes"] == ["Mouth_Slightly_Open", "Smiling"]
    assert editor.branch_of("Smiling") == "expression" and editor.branch_of("Bangs") == "hair_style"
    latent = editor.encode(_uint8(images[0]))
    for bad, message in (({"expression": 2.5}, "above its maximum"), ({"expression": -0.1}, "below its minimum"),
                         ({"wings": 1.0}, "unknown control"), ({"expression": "lots"}, "must be number"),
                         ({"expression_target": "Wings"}, "must be one of"),
                         ({"age": 1.0, "age_reference": "missing"}, "not supplied")):
        with pytest.raises(ControlsError, match=message):
            editor.render(latent, bad, {})


def test_editor_needs_a_reference_when_the_model_has_no_means(trained):
    trainer, _, images = trained
    editor = HomoInterpEditor(trainer.model.__class__(trainer.config), trainer.config)
    latent = editor.encode(_uint8(images[0]))
    with pytest.raises(ControlsError, match="needs a reference image"):
        editor.render(latent, {"age": 1.0})


def test_group_blends_render_the_slider_truth():
    """A blend batch moves one group's attributes v of the way toward the reference: the truth is
    the source itself at v = 0 and the reference's attributes at v = 1."""
    from ml.data.world import ATTRIBUTES
    from ml.training.counterfactuals import GroupBlends

    blends = GroupBlends([["Smiling"], ["Eyeglasses", "Bangs"], ["Not_A_World_Label"]], ATTRIBUTES, 32, 4, seed=2)
    assert blends.groups[2] == []
    first, again = blends.batch(1), blends.batch(1)
    assert first.group == 1 and not first.mean_label  # groups in turn, skipping the empty one
    assert torch.equal(first.targets, again.targets)  # batch k is the same every time
    assert first.targets.shape == first.images.shape and first.attributes.shape == (4, len(ATTRIBUTES))
    assert ((first.strengths >= 0) & (first.strengths <= 1)).all()
    mean_batch = blends.batch(2)  # the second round of the groups blends toward mean faces
    assert mean_batch.mean_label == "Smiling" and mean_batch.toward_present.dtype == torch.bool

    from ml.data.world.params import ATTRIBUTE_INDEX
    columns = [ATTRIBUTE_INDEX[name] for name in ("Eyeglasses", "Bangs")]
    sources, targets, plan = blends.blend(1)
    v = plan["strengths"][:, None]
    reference = np.roll(sources.intensities, -1, axis=0)
    assert np.allclose(targets.intensities[:, columns], (1 - v) * sources.intensities[:, columns]
                       + v * reference[:, columns], atol=1e-6)
    others = [i for i in range(len(ATTRIBUTES)) if i not in columns]
    assert np.array_equal(targets.intensities[:, others], sources.intensities[:, others])
    assert np.array_equal(targets.shape, sources.shape) and np.array_equal(targets.pose, sources.pose)
    sources, targets, plan = blends.blend(2)  # toward the mean face with (or without) a smile
    smile = ATTRIBUTE_INDEX["Smiling"]
    goal = np.where(plan["toward_present"], 0.9, 0.1)
    assert np.allclose(targets.intensities[:, smile], sources.intensities[:, smile]
                       + plan["strengths"] * (goal - sources.intensities[:, smile]), atol=1e-6)


def test_a_fine_tune_can_blend_only_the_lagging_groups_and_all_the_way():
    from ml.data.world import ATTRIBUTES

    config = Config.preset("tiny", counterfactual_weight=5.0, attribute_names=tuple(ATTRIBUTES),
                           counterfactual_groups=("expression", "age"), counterfactual_full_strength=1.0)
    blends = Trainer(config).make_batches(None)
    batches = [blends.batch(index) for index in range(4)]
    assert [config.branch_names[batch.group] for batch in batches] == ["expression", "age"] * 2
    assert all(torch.equal(batch.strengths, torch.ones(config.batch_size)) for batch in batches)
    halfway = Trainer(dataclasses.replace(config, counterfactual_full_strength=0.5)).make_batches(None)
    strengths = torch.cat([halfway.batch(index).strengths for index in range(8)])
    assert 0 < (strengths == 1).float().mean() < 1  # some all the way, some a part of it
    with pytest.raises(ConfigError, match="names no group smile"):
        Config.preset("tiny", counterfactual_groups=("smile",))


def test_counterfactual_blends_train_toward_the_slider_truth(tmp_path):
    import json

    from ml.data.world import ATTRIBUTES
    from ml.training.counterfactuals import GroupBlends

    config = Config.preset("tiny", counterfactual_weight=5.0, checkpoint_every=2, attribute_names=tuple(ATTRIBUTES))
    trainer = Trainer(config)
    data = trainer.make_batches(None)
    assert isinstance(data, GroupBlends)
    TrainingLoop(trainer, data, tmp_path, preview=data.preview(4), progress=False).run(12)
    logged = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    kinds = {key.rsplit("/", 1)[-1] for row in logged for key in row if key.startswith("counterfactual/")}
    assert kinds == {"face", "mean"}  # both kinds of reference were trained toward
    assert all(np.isfinite(row["counterfactual"]) for row in logged if "counterfactual" in row)


def test_the_region_mean_weighs_a_small_edit_as_much_as_a_large_one():
    """Two edits left undone, one changing a sixteenth of the image and one half of it: in share of
    the image the large one costs far more; as a mean over each one's changed pixels, the same."""
    from ml.training.counterfactuals import counterfactual_loss

    sources = torch.zeros(2, 3, 8, 8)
    targets = sources.clone()
    targets[0, :, :2, :2] = 1.0  # 4 of 64 pixels
    targets[1, :, :4, :] = 1.0  # 32 of 64
    undone = sources.clone()

    def loss(index, region_mean):
        return counterfactual_loss([undone[index:index + 1]], [targets[index:index + 1]],
                                   [sources[index:index + 1]], 3.0, region_mean).item()

    assert loss(1, False) > 5 * loss(0, False)
    small, large = loss(0, True), loss(1, True)
    assert small - 3.0 == pytest.approx(4 / 64) and large - 3.0 == pytest.approx(32 / 64)  # mean + 3 x region
    both = counterfactual_loss([undone], [targets], [sources], 3.0, True).item()
    assert both == pytest.approx((small + large) / 2)


@pytest.mark.parametrize("layout", [{}, {"latent_stride": 8, "decoder_skips": 2}], ids=["paper", "skips"])
def test_blends_can_teach_the_decoder_to_redraw_them(tmp_path, layout):
    """With the autoencode weight on, the encoder and decoder are trained to redraw each true blend
    from its own encoding (the attribute region weighted up) on its source's skip maps, the only
    ones an edit gets: that error falls on a batch the run never draws, and the feature term is
    logged with it."""
    import json

    from ml.data.world import ATTRIBUTES
    from ml.training.counterfactuals import counterfactual_loss

    config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_autoencode_weight=5.0,
                           counterfactual_feature_weight=50.0, lr=1e-3, checkpoint_every=100,
                           attribute_names=tuple(ATTRIBUTES), **layout)
    trainer = Trainer(config)
    data = trainer.make_batches(None)
    held = data.batch(10_001)  # the gender group toward the next face; about 2% of each image changes

    @torch.no_grad()
    def redraw_error():
        model = trainer.model.eval()
        _, source_skips = model.encode_with_skips(held.images)
        redrawn = model.decoder(model.encoder(held.targets), source_skips)
        return counterfactual_loss([redrawn], [held.targets], [held.images], config.counterfactual_region_boost).item()

    before = redraw_error()
    TrainingLoop(trainer, data, tmp_path, progress=False).run(120)
    after = redraw_error()
    assert after < 0.8 * before, (before, after)  # 60 steps fell only to 0.84 x on an Intel CPU
    logged = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert any("counterfactual_autoencode" in row and "counterfactual_features" in row for row in logged)
    assert all(np.isfinite(row[key]) for row in logged for key in row if key.startswith("counterfactual"))


def test_the_feature_landing_term_moves_the_interpolator():
    """counterfactual_feature_weight pulls I(F, F_ref, v) toward E(target): the same seeded step
    with and without it leaves the interpolator different and the encoder the same (through the
    encoder the term would pull E(x) onto E(target), erasing the difference the edit needs)."""
    from ml.data.world import ATTRIBUTES

    def one_step(weight):
        config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_feature_weight=weight,
                               attribute_names=tuple(ATTRIBUTES))
        trainer = Trainer(config)
        data = trainer.make_batches(None)
        trainer._counterfactual_step(trainer._input(data.batch(1).images), data.batch(1))
        return trainer.model.interpolator.state_dict(), trainer.model.encoder.state_dict()

    (interpolator, encoder), (landed_interpolator, landed_encoder) = one_step(0.0), one_step(50.0)
    assert any(not torch.equal(interpolator[key], landed_interpolator[key]) for key in interpolator)
    assert all(torch.equal(encoder[key], landed_encoder[key]) for key in encoder)


def test_the_relative_landing_weighs_a_small_move_as_much_as_a_large_one():
    """counterfactual_feature_relative grades each landing against its own true move: staying put
    costs 1 for a small move and for a large one alike (the plain squared error charges the
    small one almost nothing), landing on the target costs 0, and halfway costs a quarter."""
    from ml.methods.homointerp import losses

    torch.manual_seed(0)
    source = torch.randn(2, 8, 4, 4)
    target = source.clone()
    target[0, :, 1, 1] += 0.05  # a smile's small move
    target[1] += 1.0  # a hair colour's large one
    stay = losses.relative_landing_loss(source, target, source, floor=0.0)
    assert stay.item() == pytest.approx(1.0)
    assert losses.relative_landing_loss(target, target, source).item() == pytest.approx(0.0)
    halfway = losses.relative_landing_loss((source + target) / 2, target, source, floor=0.0)
    assert halfway.item() == pytest.approx(0.25)
    small_only = losses.relative_landing_loss(source[:1], target[:1], source[:1], floor=0.0)
    assert small_only.item() == pytest.approx(1.0)
    plain_small = losses.interpolation_target_loss(source[:1], target[:1])
    plain_large = losses.interpolation_target_loss(source[1:], target[1:])
    assert plain_small < plain_large / 100  # what the relative form mends
    with pytest.raises(ConfigError, match="counterfactual_feature_weight"):
        Config.preset("tiny", counterfactual_feature_relative=True)


def test_the_relative_landing_trains_the_interpolator_alone():
    """The relative landing is logged as the landing is and changes the interpolator's update
    (the same seeded step with the plain landing leaves another interpolator), never the encoder's."""
    from ml.data.world import ATTRIBUTES

    def one_step(relative):
        config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_feature_weight=5.0,
                               counterfactual_feature_relative=relative, attribute_names=tuple(ATTRIBUTES))
        trainer = Trainer(config)
        batch = trainer.make_batches(None).batch(1)
        record = trainer._counterfactual_step(trainer._input(batch.images), batch)
        return record, trainer.model.interpolator.state_dict(), trainer.model.encoder.state_dict()

    (_, interpolator, encoder), (relative, moved, kept) = one_step(False), one_step(True)
    assert np.isfinite(relative["counterfactual_features"]) and relative["counterfactual_features"] > 0
    assert any(not torch.equal(interpolator[key], moved[key]) for key in interpolator)
    assert all(torch.equal(encoder[key], kept[key]) for key in encoder)


def test_the_locality_term_keeps_a_slider_from_moving_the_features_outside_its_region():
    """counterfactual_locality_weight charges the interpolator for moving F outside the latent
    cells the true edit changes: trained on one batch with it, that share of the change falls
    far below what the same steps without it leave."""
    from ml.data.world import ATTRIBUTES
    from ml.methods.homointerp import losses
    from ml.training.counterfactuals import change_mask

    cells = losses.latent_change_cells(torch.zeros(1, 1, 64, 64).index_fill_(2, torch.tensor([0]), 1.0), 4)
    assert cells[0, 0, :, 0].tolist() == [1.0, 1.0, 0.0, 0.0]  # the top row's cells, dilated one cell

    def outside_change(weight):
        config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_locality_weight=weight,
                               lr=1e-3, attribute_names=tuple(ATTRIBUTES))
        trainer = Trainer(config)
        batch = trainer.make_batches(None).batch(0)
        images = trainer._input(batch.images)
        for _ in range(30):
            record = trainer._counterfactual_step(images, batch)
        with torch.no_grad():
            features = trainer.model.encode(images)
            references = trainer._blend_references(features, batch)
            strengths = torch.zeros(len(images), config.n_branches)
            strengths[:, batch.group] = batch.strengths
            moved = trainer.model.interpolator(features, references, strengths)
            changed = losses.latent_change_cells(change_mask(trainer._input(batch.targets), images), features.shape[-1])
            return losses.locality_loss(moved, features, changed).item(), record

    plain, _ = outside_change(0.0)
    local, record = outside_change(10.0)
    assert "counterfactual_locality" in record and math.isfinite(record["counterfactual_locality"])
    assert local < 0.3 * plain


def test_autoencoder_steps_train_only_the_encoder_and_decoder_then_the_full_schedule_starts():
    """The stand-in for a pretrained VGG and decoder: the first `autoencoder_steps` steps move the
    encoder and decoder toward reconstructing the batch and leave the interpolator, the critic and
    the KG transform as they were; the step after runs the paper's schedule."""
    config = Config.preset("tiny", lr=1e-3, autoencoder_steps=8)
    trainer = Trainer(config)
    images, attributes = tiny_data(n=config.batch_size)
    stream = BatchStream([(images, attributes)])
    untouched = {name: _weights_of(trainer.networks()[name])
                 for name in ("interpolator", "discriminator", "kg_transform")}
    encoder = _weights_of(trainer.model.encoder)
    history = [trainer.train_step(stream, step) for step in range(config.autoencoder_steps)]
    assert all(set(record) == {"ae_mse", "ae_perceptual"} for record in history)
    assert all(math.isfinite(value) for record in history for value in record.values())
    assert history[-1]["ae_mse"] < history[0]["ae_mse"]
    for name, weights in untouched.items():
        assert all(torch.equal(value, _weights_of(trainer.networks()[name])[key]) for key, value in weights.items()), name
    assert any(not torch.equal(value, _weights_of(trainer.model.encoder)[key]) for key, value in encoder.items())
    assert trainer.model.references.has("Smiling") or trainer.model.references.has("Smiling", present=False)
    full = trainer.train_step(stream, config.autoencoder_steps)
    assert {"dec_mse", "critic", "kg_transform"} <= set(full)


def test_autoencoder_steps_on_blends_redraw_each_true_blend():
    from ml.data.world import ATTRIBUTES

    config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_autoencode_weight=5.0,
                           autoencoder_steps=2, attribute_names=tuple(ATTRIBUTES))
    trainer = Trainer(config)
    data = trainer.make_batches(None)
    stream = BatchStream(data)
    record = trainer.train_step(stream, 0)
    assert set(record) == {"ae_mse", "ae_perceptual", "ae_redraw"}
    assert all(math.isfinite(value) for value in record.values())


def _weights_of(network):
    return {key: value.clone() for key, value in network.state_dict().items()}


def test_fade_truth_redraws_the_changed_cells_from_the_targets_encoding_alone():
    """counterfactual_fade_truth: the redraw G(E(target)) gets the source's maps zeroed over the
    latent cells the true edit changes, and whole elsewhere; the edit's own decode keeps them."""
    from ml.data.world import ATTRIBUTES
    from ml.methods.homointerp import losses
    from ml.training.counterfactuals import change_mask

    with pytest.raises(ConfigError, match="counterfactual_fade_truth"):
        Config.preset("tiny", counterfactual_weight=5.0, counterfactual_fade_truth=True)  # no skips to fade
    config = Config.preset("tiny", latent_stride=8, decoder_skips=2, counterfactual_weight=5.0,
                           counterfactual_autoencode_weight=5.0, counterfactual_fade_truth=True,
                           attribute_names=tuple(ATTRIBUTES))
    trainer = Trainer(config)
    batch = trainer.make_batches(None).batch(0)
    images = trainer._input(batch.images)
    with torch.no_grad():
        _, source_maps = trainer.model.encode_with_skips(images)  # before the step moves the encoder
    seen = []
    hook = trainer.model.decoder.register_forward_pre_hook(lambda module, inputs: seen.append(inputs))
    record = trainer._counterfactual_step(images, batch)
    hook.remove()
    assert math.isfinite(record["counterfactual_autoencode"])
    _, maps = seen[0]
    count = len(images)
    changed = losses.latent_change_cells(change_mask(trainer._input(batch.targets), images), config.latent_size)
    assert 0 < changed.mean() < 1
    full = maps[0].float()  # the full-size map of every decode: F_out, then E(target)
    keep = F.interpolate(1 - changed, size=full.shape[-2:], mode="nearest")
    assert torch.allclose(full[:count], source_maps[0].float(), atol=1e-5)  # the edit: the source's maps
    redraw = full[count:]
    assert redraw.mul(1 - keep).abs().max() == 0  # zeroed over the changed cells
    assert torch.allclose(redraw, source_maps[0].float() * keep, atol=1e-5)  # whole elsewhere


def test_a_gated_editor_draws_given_features_as_an_edit_of_the_photo():
    """render_edited_features (the evaluation's ceilings) decodes other features against the
    photo's own, so a gate fades where they differ and keep-detail adds the change; with the
    photo's own features it gives the photo back."""
    config = Config.preset("tiny", latent_stride=8, decoder_skips=2, skip_gate=0.1, keep_detail=True)
    editor = editor_from_trainer(Trainer(config))
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model = editor.model
    with torch.no_grad():  # batch-norm statistics of these images, as training leaves them; at init G ignores F
        model.train()
        features, skips = model.encode_with_skips(images)
        for _ in range(30):
            model.decoder(features, skips)
        model.eval()
    photo, other = editor.encode(_uint8(images[0])), editor.encode(_uint8(images[1]))
    assert np.abs(editor.render_edited_features(photo, photo["features"]).astype(int) - _uint8(images[0])).max() <= 1
    drawn = editor.render_edited_features(photo, other["features"]).astype(int)
    assert np.abs(drawn - _uint8(images[0])).mean() > 1
    swapped = editor.render({**photo, "features": other["features"]}, {})  # what the ceiling did before
    assert np.abs(drawn - swapped.astype(int)).mean() > 1


def test_the_l1_norm_grades_every_counterfactual_term_by_absolute_errors():
    """Same networks, same blends: with "l1" the slider's term, the redraw and the autoencoder
    steps' redraw all cost more than squared, since every error an untrained model makes is below 1."""
    from ml.data.world import ATTRIBUTES

    def first_steps(norm):
        config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_autoencode_weight=5.0,
                               autoencoder_steps=1, attribute_names=tuple(ATTRIBUTES), counterfactual_norm=norm)
        torch.manual_seed(0)
        trainer = Trainer(config)
        stream = BatchStream(trainer.make_batches(None))
        return {**trainer.train_step(stream, 0), **trainer.train_step(stream, 1)}

    squared, absolute = first_steps("l2"), first_steps("l1")
    for term in ("ae_redraw", "counterfactual", "counterfactual_autoencode"):
        assert absolute[term] > 1.5 * squared[term], term
    assert absolute["ae_mse"] == pytest.approx(squared["ae_mse"])  # the same networks saw the same faces
    with pytest.raises(ConfigError, match="counterfactual_norm"):
        Config.preset("tiny", counterfactual_norm="huber")


def test_the_pixel_critic_learns_the_true_blends_from_the_renders_and_resumes_exactly(tmp_path):
    """With a critic weight, every counterfactual update first trains the pixel critic on (source,
    true blend) against (source, render), then adds the render's loss against it; the critic and
    its optimizer are checkpointed like every network, so a resumed run matches a straight one."""
    from ml.data.world import ATTRIBUTES

    config = Config.preset("tiny", counterfactual_weight=5.0, counterfactual_critic_weight=0.5, checkpoint_every=2,
                           log_every=1, attribute_names=tuple(ATTRIBUTES), lr=1e-3)

    def run(out_dir, steps):
        trainer = Trainer(config)
        TrainingLoop(trainer, trainer.make_batches(None), out_dir, progress=False).run(steps)
        return trainer

    straight = run(tmp_path / "straight", 6)
    run(tmp_path / "resumed", 4)
    a, b = _weights(straight), _weights(run(tmp_path / "resumed", 6))
    assert any(key.startswith("pixel_critic.") for key in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key

    logged = [json.loads(line) for line in (tmp_path / "straight" / "losses.jsonl").read_text().splitlines()]
    judged = [row for row in logged if "pixel_critic" in row]
    assert judged and all(math.isfinite(row["pixel_critic"]) and math.isfinite(row["counterfactual_critic"])
                          for row in judged)
    untrained = Trainer(config).pixel_critic.state_dict()
    assert any(not torch.equal(untrained[key], value) for key, value in straight.pixel_critic.state_dict().items())
    # on one batch it soon tells the true blends from the same blends blurred
    blends = BatchStream(straight.make_batches(None, seed=9)).next()
    sources, truths = blends.images.float(), blends.targets.float()
    blurred = F.interpolate(F.avg_pool2d(truths, 4), scale_factor=4, mode="bilinear", align_corners=False)
    losses = [straight._pixel_critic_step(sources, truths, blurred)["pixel_critic"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]

    def decoder_after_one_step(weight):  # the render's loss against the critic reaches the generator
        trainer = Trainer(dataclasses.replace(config, counterfactual_critic_weight=weight))
        trainer.train_step(BatchStream(trainer.make_batches(None)), 1)
        return _weights_of(trainer.model.decoder)

    light, heavy = decoder_after_one_step(0.5), decoder_after_one_step(50.0)
    assert any(not torch.equal(light[key], heavy[key]) for key in light)
    with pytest.raises(ConfigError, match="counterfactual_critic_weight"):
        Config.preset("tiny", counterfactual_critic_weight=0.5)  # no blends, nothing to judge


def test_a_detail_kept_redraw_of_an_unchanged_face_costs_nothing_whatever_the_decoders_blur():
    """counterfactual_redraw_keep_detail grades x + G(E(target)) - G(E(x)), both on the maps the
    edit fades: where the target is the source itself, that is the photo, while the raw redraw
    G(E(target)) pays for every pixel the untrained decoder blurs."""
    from ml.data.world import ATTRIBUTES

    def redraw_cost(keep):
        config = Config.preset("tiny", latent_stride=8, decoder_skips=1, skip_gate=0.1, counterfactual_weight=5.0,
                               counterfactual_autoencode_weight=5.0, attribute_names=tuple(ATTRIBUTES),
                               counterfactual_redraw_keep_detail=keep)
        torch.manual_seed(0)
        trainer = Trainer(config)
        stream = BatchStream(trainer.make_batches(None))
        blends = next(batch for batch in iter(stream.next, None) if not batch.mean_label)
        unchanged = dataclasses.replace(blends, targets=blends.images)
        return trainer._counterfactual_step(trainer._input(blends.images.float()), unchanged)["counterfactual_autoencode"]

    assert redraw_cost(True) < 1e-8 < 1e-4 < redraw_cost(False)
    with pytest.raises(ConfigError, match="counterfactual_redraw_keep_detail"):
        Config.preset("tiny", counterfactual_weight=5.0, counterfactual_redraw_keep_detail=True)


def test_frozen_networks_keep_their_weights_while_the_rest_trains_and_after_a_resume(tmp_path):
    """An interpolator-only fine-tune: encoder and decoder come out of four steps (two of them
    after a resume) bit for bit as they went in, batch norm statistics included; a name that is
    no network of the method is refused."""
    images, attributes = tiny_data()
    config = Config.preset("tiny", frozen=("encoder", "decoder"), checkpoint_every=2)
    trainer = Trainer(config)
    before = {name: _weights_of(network) for name, network in trainer.networks().items()}
    TrainingLoop(trainer, InMemoryBatches(images, attributes, config.batch_size), tmp_path, progress=False).run(2)
    resumed = Trainer(config)
    TrainingLoop(resumed, InMemoryBatches(images, attributes, config.batch_size), tmp_path, progress=False).run(4)
    for name in ("encoder", "decoder"):
        after = resumed.networks()[name].state_dict()
        kept = [key for key, value in before[name].items() if value.is_floating_point()]
        assert all(torch.equal(after[key], before[name][key]) for key in kept), name
    assert any(key.endswith("running_var") for key in before["decoder"])  # batch norms' statistics kept too
    interpolator = resumed.networks()["interpolator"].state_dict()
    assert any(not torch.equal(interpolator[key], value) for key, value in before["interpolator"].items())
    with pytest.raises(ConfigError, match="generator"):
        TrainingLoop(Trainer(Config.preset("tiny", frozen="generator")), InMemoryBatches(images, attributes, 4),
                     tmp_path / "other", progress=False).run(1)
