"""ELEGANT's tiny preset trains on the shared loop: finite falling losses, exact resume."""
import json

import numpy as np
import pytest
import torch

from ml import checkpoints
from ml.config import ConfigError
from ml.methods.elegant import Config, ElegantTrainer
from ml.methods.elegant.training import labels_to_01
from ml.runtime import configure_torch
from ml.training import ImageAttributeSet, TrainingLoop

configure_torch()


def toy_faces(count=48, size=32, seed=0):
    """Smooth blobs; 'Bangs' darkens the top rows, 'Eyeglasses' draws a bar: labels with a visible cause."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images, labels = [], []
    for _ in range(count):
        colour = rng.uniform(60, 200, 3)
        image = colour * (0.7 + 0.3 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) * 6))[..., None]
        bangs, glasses = rng.random() < 0.5, rng.random() < 0.5
        if bangs:
            image[: size // 4] *= 0.3
        if glasses:
            image[size // 2 - 2: size // 2 + 1, size // 5: -size // 5] = 20
        images.append(image.clip(0, 255).astype(np.uint8))
        labels.append([1 if bangs else -1, 1 if glasses else -1, 1])
    return ImageAttributeSet(np.stack(images), np.array(labels, dtype=np.int8), ["Bangs", "Eyeglasses", "Young"])


def train(out, steps, **overrides):
    config = Config.preset("tiny", **overrides)
    trainer = ElegantTrainer(config)
    data = trainer.make_batches(toy_faces())
    loop = TrainingLoop(trainer, data, out, preview=data.batch(-1), progress=False)
    loop.run(steps)
    return trainer, loop


def read_losses(out):
    return [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]


def test_tiny_training_losses_are_finite_and_fall(tmp_path):
    train(tmp_path, 12, sample_every=6)
    records = read_losses(tmp_path)
    assert len(records) == 12
    for record in records:
        assert all(np.isfinite(record[key]) for key in ("loss_d", "loss_g", "reconstruction", "adversarial"))
    first = np.mean([r["reconstruction"] for r in records[:3]])
    last = np.mean([r["reconstruction"] for r in records[-3:]])
    assert last < first * 0.9, (first, last)
    assert {"loss_d/Bangs", "loss_d/Eyeglasses"} & set(records[0])  # one attribute per step
    assert (tmp_path / "samples" / "step-0000012.png").is_file()


def state_of(trainer):
    state = {f"{name}.{k}": v for name, net in trainer.networks().items() for k, v in net.state_dict().items()}
    for name, optimizer in trainer.optimizers().items():
        for index, slot in optimizer.state_dict()["state"].items():
            state.update({f"{name}.{index}.{k}": v for k, v in slot.items()})
    return state


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_continues_bit_identically(tmp_path, precision):
    options = dict(precision=precision, channels_last=precision == "bf16")
    straight, _ = train(tmp_path / "straight", 4, **options)
    train(tmp_path / "split", 2, **options)
    resumed, _ = train(tmp_path / "split", 4, **options)
    expected, actual = state_of(straight), state_of(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert resumed.scheduler_g.state_dict() == straight.scheduler_g.state_dict()
    assert read_losses(tmp_path / "split") == [
        {**r, "seconds_per_step": a["seconds_per_step"]}
        for r, a in zip(read_losses(tmp_path / "straight"), read_losses(tmp_path / "split"))]


def test_a_compiled_run_computes_what_the_eager_run_does_and_saves_the_same_layout(tmp_path):
    """`torch_compile` compiles the networks in place: the same losses (to float rounding) and
    checkpoints whose keys are the plain modules' (no `_orig_mod.` prefix)."""
    eager, _ = train(tmp_path / "eager", 3)
    compiled, _ = train(tmp_path / "compiled", 3, torch_compile=True)
    for expected, actual in zip(read_losses(tmp_path / "eager"), read_losses(tmp_path / "compiled")):
        for key in ("loss_d", "loss_g", "reconstruction"):
            assert actual[key] == pytest.approx(expected[key], rel=1e-3), key
    saved = checkpoints.load_checkpoint(tmp_path / "compiled").weights
    for name, network in eager.networks().items():
        assert set(saved[name]) == set(network.state_dict()), name


def test_the_attribute_classifier_learns_the_real_labels_and_grades_the_swaps(tmp_path):
    trainer, _ = train(tmp_path, 16, classifier_weight=1.0)
    records = read_losses(tmp_path)
    assert all(np.isfinite(r["classifier_swaps"]) and np.isfinite(r["classifier_real"]) for r in records)
    first = np.mean([r["classifier_real"] for r in records[:4]])
    last = np.mean([r["classifier_real"] for r in records[-4:]])
    assert last < first, (first, last)
    assert "classifier" in checkpoints.load_checkpoint(tmp_path).weights
    assert not any(p.requires_grad for p in trainer.classifier.parameters())  # frozen for the generator
    plain, _ = train(tmp_path / "plain", 1)
    assert plain.classifier is None and "classifier" not in plain.optimizers()


def test_checkpoint_records_what_made_it(tmp_path):
    train(tmp_path, 2)
    manifest = checkpoints.read_manifest(checkpoints.latest_checkpoint(tmp_path))
    assert manifest.method == "elegant" and manifest.steps == 2
    assert Config.from_dict(manifest.config) == Config.preset("tiny")
    assert set(checkpoints.load_checkpoint(tmp_path).weights) == {"encoder", "decoder", "d1", "d2", "references"}


def test_training_keeps_the_average_face_of_each_attribute_for_the_editor(tmp_path):
    """The trainer folds every batch's latents into per-attribute means; the editor offers the
    means as "average" exemplars, with the attribute and without it, so an attribute can be added
    or removed with no reference photo."""
    from ml.methods.elegant import ElegantEditor
    from ml.controls import ControlsError
    from ml.methods.elegant.editor import AVERAGE, AVERAGE_WITHOUT

    train(tmp_path, 3)
    editor = ElegantEditor.from_checkpoint(checkpoints.latest_checkpoint(tmp_path))
    spec = editor.controls_schema()["properties"]["Bangs_exemplar"]
    assert spec["presets"] == [{"value": AVERAGE, "label": "average Bangs"},
                               {"value": AVERAGE_WITHOUT, "label": "average without Bangs"}]
    latent = editor.encode(toy_faces(1).images[0])
    unchanged = editor.render(latent, {})
    average = editor.render(latent, {"Bangs_exemplar": AVERAGE, "Bangs_strength": 1.0})
    without = editor.render(latent, {"Bangs_exemplar": AVERAGE_WITHOUT, "Bangs_strength": 1.0})
    assert not np.array_equal(average, unchanged) and not np.array_equal(without, unchanged)
    assert not np.array_equal(average, without)
    assert editor.referenced_ids({"Bangs_exemplar": AVERAGE_WITHOUT, "Eyeglasses_exemplar": "e1"}) == ["e1"]

    # a model that never saw a face without bangs offers no average of them, and says so if asked
    editor.references.negative_count[editor.references.labels.index("Bangs")] = 0
    assert [preset["value"] for preset in editor.controls_schema()["properties"]["Bangs_exemplar"]["presets"]] == [AVERAGE]
    with pytest.raises(ControlsError, match="mean_without"):
        editor.render(latent, {"Bangs_exemplar": AVERAGE_WITHOUT, "Bangs_strength": 1.0})


def test_swap_labels_and_pairs():
    trainer = ElegantTrainer(Config.preset("tiny"))
    assert torch.equal(labels_to_01(torch.tensor([[-1, 1]])), torch.tensor([[0.0, 1.0]]))
    data = trainer.make_batches(toy_faces())
    from ml.training import BatchStream
    (a, y_a), (b, y_b) = trainer.draw_pair(BatchStream(data), attribute=1)
    assert len(a) == len(b) <= trainer.config.batch_size
    assert (y_a[:, 1] > 0).all() and (y_b[:, 1] < 0).all()


def test_latent_split_follows_the_official_rounding():
    from ml.methods.elegant.networks import LatentSplit
    assert [(s.start, s.stop) for s in LatentSplit(512, 5).slices] == [
        (0, 102), (102, 205), (205, 307), (307, 410), (410, 512)]
    assert [(s.start, s.stop) for s in LatentSplit(512, 2).slices] == [(0, 256), (256, 512)]


def test_batched_forward_equals_separate_passes():
    trainer = ElegantTrainer(Config.preset("tiny"))
    generator = trainer.generator
    torch.manual_seed(3)
    a, b = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        batched = trainer.forward(a, b, attribute=1)
        z_a, skips_a = generator.encode(a)
        z_b, skips_b = generator.encode(b)
        z_c, z_d = generator.split.swap(z_a, z_b, 1)
        separate = [generator.decode(a, z_a, z_a, skips_a), generator.decode(b, z_b, z_b, skips_b),
                    generator.decode(a, z_c, z_a, skips_a), generator.decode(b, z_d, z_b, skips_b)]
    for got, expected in zip(batched, separate):
        assert torch.allclose(got, expected, atol=1e-5)


def test_swapped_skips_move_their_attribute_blocks_with_z_and_nothing_else():
    """With `swap_skips` (not in the paper) a swap exchanges attribute i's block of z and of the
    deepest skips' shared channels; the other blocks, the receiver's own channels and the larger
    skips stay. The batched training forward decodes exactly those codes. Off, it is the paper's."""

    with pytest.raises(ConfigError, match="swap_skips"):
        Config.preset("tiny", swap_skips=5)
    with pytest.raises(ConfigError, match="swap_skip_share"):
        Config.preset("tiny", swap_skips=1, swap_skip_share=0.0)
    assert ElegantTrainer(Config.preset("tiny")).generator.swapped_skips == []

    trainer = ElegantTrainer(Config.preset("tiny", swap_skips=2, swap_skip_share=0.5))
    generator = trainer.generator
    assert generator.swapped_skips == [2, 3]  # skips are largest first; 16 and 32 channels here
    assert [(s.start, s.stop) for s in generator.skip_splits[3].slices] == [(0, 8), (8, 16)]
    torch.manual_seed(5)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        codes_a, codes_b = generator.encode(a), generator.encode(b)
        (z_c, skips_c), (z_d, skips_d) = generator.swap(codes_a, codes_b, 1)
        assert torch.equal(z_c[:, 16:], codes_b[0][:, 16:]) and torch.equal(z_c[:, :16], codes_a[0][:, :16])
        assert torch.equal(skips_c[3][:, 8:16], codes_b[1][3][:, 8:16])  # attribute 1's block
        assert torch.equal(skips_c[3][:, :8], codes_a[1][3][:, :8])  # attribute 0's block
        assert torch.equal(skips_c[3][:, 16:], codes_a[1][3][:, 16:])  # the receiver's own share
        assert torch.equal(skips_d[2][:, 4:8], codes_a[1][2][:, 4:8])
        assert all(torch.equal(skips_c[i], codes_a[1][i]) for i in (0, 1))
        half = generator.blend(codes_a, codes_b, 1, 0.5)
        assert torch.allclose(half[1][3][:, 8:16], (codes_a[1][3][:, 8:16] + codes_b[1][3][:, 8:16]) / 2)
        assert all(torch.allclose(x, y) for x, y in zip(generator.blend(codes_a, codes_b, 1, 1.0)[1], skips_c))

        _, _, swap_c, swap_d = trainer.forward(a, b, attribute=1)
        assert torch.allclose(swap_c, generator.decode(a, z_c, codes_a[0], skips_c), atol=1e-5)
        assert torch.allclose(swap_d, generator.decode(b, z_d, codes_b[0], skips_d), atol=1e-5)
        assert not torch.allclose(swap_c, generator.decode(a, z_c, codes_a[0], codes_a[1]), atol=1e-5)


def on_a_plain_generator(config, added: str, seed: int):
    """A paper-layout tiny generator and a trainer for `config` given its weights: every tensor
    fits but the added layer's (names starting with `added`), and with no edit the two decode
    random images exactly alike. Returns (plain generator, trainer, (images, z, skips))."""
    plain = ElegantTrainer(Config.preset("tiny")).generator
    trainer = ElegantTrainer(config)
    left = checkpoints.load_fitting({"decoder": trainer.generator.decoder}, {"decoder": plain.decoder.state_dict()})
    assert left["decoder"] and all(name.startswith(added) for name in left["decoder"])
    trainer.generator.encoder.load_state_dict(plain.encoder.state_dict())
    torch.manual_seed(seed)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z, skips = plain.encode(image)
        assert torch.equal(trainer.generator.decode(image, z, z, skips), plain.decode(image, z, z, skips))
    return plain, trainer, (image, z, skips)


def test_an_image_skip_starts_as_the_plain_decoder_and_learns_from_the_full_size_image():
    """The image skip (not in the paper) shows the decoder's last step the image its residual is
    added to. Its output conv starts at zero, so a plain decoder's weights give exactly the plain
    decoder's images; it refuses to decode without the image; training moves it off zero."""
    config = Config.preset("tiny", image_skip=True, counterfactual_weight=5.0, lr=1e-3)
    plain, trainer, (image, z, skips) = on_a_plain_generator(config, "image_skip.", seed=6)
    generator = trainer.generator
    assert plain.decoder.image_skip is None
    with torch.no_grad():
        with pytest.raises(ValueError, match="image skip"):
            generator.decoder(z, z, skips)

    # new layers in a trained decoder: they learn at image_skip_lr_scale x the lr
    rates = {id(p): group["lr"] for group in trainer.optimizer_g.param_groups for p in group["params"]}
    assert rates[id(generator.decoder.image_skip.to_residual.weight)] == config.lr * config.image_skip_lr_scale
    assert rates[id(generator.decoder.to_residual.conv.weight)] == config.lr
    stream = SameBatch(trainer.make_batches(None).batch(0))
    for step in range(3):
        trainer.train_step(stream, step)
    assert generator.decoder.image_skip.to_residual.weight.abs().sum() > 0


def test_the_image_skips_eraser_starts_shut_opens_to_a_median_without_thin_strokes_and_learns():
    """The eraser (not in the paper) makes the residual g x (median5(x) - x) + (1 - g) x itself
    over the image's strokes. Shut, as it starts, an image-skip decoder's weights draw as they
    did; open, the output is the median where the image has strokes and the residual where it
    has none; in the median a stroke two pixels wide is gone and a broad patch stays; its gate
    learns at the image skip's lr, taught where the median helps."""
    from ml.methods.elegant.networks import median_filter, median_of_five

    for bits in range(32):  # the 0-1 principle: a network that sorts every 0/1 input sorts all
        values = [torch.tensor(float(bits >> k & 1)) for k in range(5)]
        assert median_of_five(values) == torch.stack(values).median()

    with pytest.raises(ConfigError, match="image_skip"):
        Config.preset("tiny", image_skip_erase=True)
    with pytest.raises(ConfigError, match="erase_gate_weight"):
        Config.preset("tiny", image_skip=True, erase_gate_weight=1.0, counterfactual_weight=5.0)
    with pytest.raises(ConfigError, match="torch_compile=false"):
        Config.preset("starter", image_skip_erase=True, erase_gate_weight=1.0)
    image = torch.zeros(1, 3, 16, 16)
    image[..., 2:4, :] = 1.0  # a stroke two pixels wide
    image[..., 8:15, 4:11] = -1.0  # a patch
    for row in range(16):
        image[..., row, (row + 5) % 16] = 1.0  # a diagonal one pixel wide
    filtered = median_filter(image)
    assert filtered[..., 2:4, :].abs().max() == 0 and filtered[..., :6, :].abs().max() == 0
    assert torch.equal(filtered[..., 10:13, 6:9], image[..., 10:13, 6:9])

    config = Config.preset("tiny", image_skip=True, image_skip_erase=True, erase_gate_weight=1.0,
                           counterfactual_weight=5.0, lr=1e-4)  # the starter's lr
    plain = ElegantTrainer(Config.preset("tiny", image_skip=True)).generator
    trainer = ElegantTrainer(config)
    generator = trainer.generator
    left = checkpoints.load_fitting({"decoder": generator.decoder}, {"decoder": plain.decoder.state_dict()})
    assert set(left["decoder"]) == {"image_skip.erase_gate.bias", "image_skip.erase_gate.weight"}
    generator.encoder.load_state_dict(plain.encoder.state_dict())
    torch.manual_seed(7)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    gate = generator.decoder.image_skip.erase_gate
    with torch.no_grad():
        z, skips = plain.encode(image)
        shut = generator.decoder(z, z, skips, image=image)
        assert (shut - plain.decoder(z, z, skips, image=image)).abs().max() < 1 / 255
        gain = generator.decoder.image_skip.GATE_GAIN
        gate.bias.fill_(8.0 / gain)  # open everywhere: logit 8
        opened = generator.decoder(z, z, skips, image=image)
        # in place of the residual, not added to it (at logit 8 the residual keeps 3e-4 of
        # itself), over the image's strokes alone: where the median changes little, less of it
        change = median_filter(image) - image
        stroke = change.abs().amax(1, keepdim=True).expand_as(change)
        strong, flat = stroke >= generator.decoder.image_skip.STROKE, stroke < 1e-6
        assert strong.float().mean() > 0.5 and flat.any()
        assert (opened - change)[strong].abs().max() < 1e-3
        assert (opened - shut)[flat].abs().max() < 1e-5
        gate.bias.fill_(-8.0 / gain)

    rates = {id(p): group["lr"] for group in trainer.optimizer_g.param_groups for p in group["params"]}
    assert rates[id(gate.weight)] == config.lr * config.image_skip_lr_scale
    # its gate loss: on one batch, taught where the median helps, it falls
    stream = SameBatch(trainer.make_batches(None).batch(0))
    losses = [float(trainer.train_step(stream, step)["erase_gate"]) for step in range(12)]
    assert gate.weight.abs().sum() > 0
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_skip_gates_pass_the_skips_whole_with_no_edit_and_learn_the_true_change_masks():
    """The skip gates (not in the paper) read the latent's change: with none the skips pass whole,
    so a gated decoder with a plain one's weights reconstructs exactly as it does; a swap fades
    them where the gates' heads say, and the heads learn each swap's true change mask. The
    paper's decoder has none, so official state dicts keep their layout."""

    with pytest.raises(ConfigError, match="skip_gate_weight"):
        Config.preset("tiny", skip_gates=True, skip_gate_weight=1.0)  # no true masks without the world
    config = Config.preset("tiny", counterfactual_weight=5.0, skip_gates=True, skip_gate_weight=1.0, lr=1e-3)
    plain, trainer, (image, z, skips) = on_a_plain_generator(config, "gates.", seed=4)
    gated = trainer.generator
    assert plain.decoder.gates is None
    with torch.no_grad():
        z_swapped, _ = plain.split.swap(z, z.roll(1, 0), 0)
        assert not torch.allclose(gated.decoder(z_swapped, z, skips), plain.decoder(z_swapped, z, skips))
        amount, _ = gated.decoder.gates.prepare(z_swapped, z)
        assert (amount > 0).all()
        for head in gated.decoder.gates.heads:  # heads that fade every pixel of a swap
            head.bias.fill_(40.0)
        skips_left = [skip * (1 - amount) for skip in skips]
        assert torch.allclose(gated.decoder(z_swapped, z, skips), plain.decoder(z_swapped, z, skips_left), atol=1e-5)

    trainer = ElegantTrainer(config)  # fresh gates
    stream = SameBatch(trainer.make_batches(None).batch(0))
    logged = [trainer.train_step(stream, step) for step in range(40)]
    assert float(logged[-1]["skip_gate"]) < 0.8 * float(logged[0]["skip_gate"])


def test_the_counterfactual_loss_in_l1_charges_a_faint_leftover_more_than_squared():
    """A frame left at a tenth of its contrast costs ten times more in "l1" than in "l2" (the same
    region weighting); a norm that is neither is refused."""
    from ml.training.counterfactuals import counterfactual_loss

    source = torch.zeros(1, 3, 8, 8)
    target = source.clone()
    target[..., 3, :] = 1.0  # the true edit draws a line
    leftover = target - 0.1 * (target - source).sign()  # drawn at 90%: 0.1 short on the line
    squared = counterfactual_loss([leftover], [target], [source], 20.0)
    absolute = counterfactual_loss([leftover], [target], [source], 20.0, norm="l1")
    assert torch.isclose(absolute, 10 * squared)
    with pytest.raises(ValueError, match="norm"):
        counterfactual_loss([leftover], [target], [source], 20.0, norm="huber")
    with pytest.raises(ConfigError, match="counterfactual_norm"):
        Config.preset("tiny", counterfactual_norm="huber")


def test_the_region_mean_boosts_a_swaps_changed_pixels_by_their_own_mean():
    """With `counterfactual_region_mean` the same first swaps cost more: the boost multiplies the
    mean error over the changed pixels, not their few percent share of the image; unboosted, the
    two losses are the same."""
    share, mean = first_counterfactual_loss(), first_counterfactual_loss(counterfactual_region_mean=True)
    assert mean > 2 * share
    assert first_counterfactual_loss(counterfactual_region_boost=0.0) == pytest.approx(
        first_counterfactual_loss(counterfactual_region_boost=0.0, counterfactual_region_mean=True))


def test_the_removal_weight_scales_the_removal_swaps_share_of_the_counterfactual_loss():
    """The same first swaps with the removal weight at 1 and 3: the loss grows by twice the
    removal's own term, which is a real share of it (the addition's term is unchanged); a
    negative weight is refused."""

    once, thrice, none = (first_counterfactual_loss(counterfactual_removal_weight=weight) for weight in (1.0, 3.0, 0.0))
    removal = once - none
    assert 0.2 * once < removal < 0.8 * once
    assert thrice == pytest.approx(once + 2 * removal, rel=1e-4)
    with pytest.raises(ConfigError, match="counterfactual_removal_weight"):
        Config.preset("tiny", counterfactual_removal_weight=-1.0)


def first_counterfactual_loss(**overrides):
    """The counterfactual loss of a fresh tiny trainer's first step on four synthetic glasses
    pairs (the same pairs and the same initial weights every call)."""
    from ml.training.counterfactuals import CounterfactualPairs

    batch = CounterfactualPairs(("Bangs", "Eyeglasses"), 32, 4, seed=3).batch(1)
    config = Config.preset("tiny", counterfactual_weight=5.0, **overrides)
    return float(ElegantTrainer(config).train_step(SameBatch(batch), 0)["counterfactual"])


def test_counterfactual_pairs_train_toward_the_true_swaps(tmp_path):
    """With a counterfactual weight the trainer renders pairs from the synthetic world, and the
    batches are the faces the swap should make: A without the attribute, B wearing A's."""
    from ml.training.counterfactuals import CounterfactualPairs

    pairs = CounterfactualPairs(("Bangs", "Eyeglasses"), 32, 3, seed=1)
    first = pairs.batch(1)
    assert first.attribute == 1  # batch k edits attribute k mod 2
    assert (first.labels_a[:, 1] > 0).all() and (first.labels_b[:, 1] < 0).all()
    assert torch.equal(first.image_a, pairs.batch(1).image_a)  # batch k is the same every time
    # A and its counterfactual differ (glasses off); B and B-with-glasses differ
    assert (first.image_a - first.target_c).abs().amax(dim=(1, 2, 3)).min() > 0.1
    assert (first.image_b - first.target_d).abs().amax(dim=(1, 2, 3)).min() > 0.1

    # with same_person, some pairs are one face with and without: B wearing A's block is A itself
    mixed = CounterfactualPairs(("Bangs", "Eyeglasses"), 32, 8, seed=1, same_person=0.5)
    batch = mixed.batch(0)
    same = (batch.image_a - batch.target_d).abs().amax(dim=(1, 2, 3)) == 0
    assert 0 < int(same.sum()) < 8
    assert torch.equal(batch.image_b[same], batch.target_c[same])
    assert mixed.fingerprint != CounterfactualPairs(("Bangs", "Eyeglasses"), 32, 8, seed=1).fingerprint

    config = Config.preset("tiny", counterfactual_weight=5.0, checkpoint_every=2)
    trainer = ElegantTrainer(config)
    data = trainer.make_batches(toy_faces())
    assert isinstance(data, CounterfactualPairs)
    assert data.world.pose == "celeba"  # the near-frontal faces of the crops ELEGANT edits
    assert ElegantTrainer(config.replace(world_pose="wide")).make_batches(None).world.pose == "wide"
    loop = TrainingLoop(trainer, data, tmp_path, preview=data.preview(4), progress=False)
    loop.run(3)
    logged = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["counterfactual"]) for row in logged)


def test_adversarial_weight_zero_leaves_the_generator_its_pixel_losses_alone():
    """`adversarial_weight` scales the generator's critic terms (1 in the paper); at 0 its loss is
    the reconstruction and counterfactual terms alone, while the critics still train."""
    config = Config.preset("tiny", counterfactual_weight=5.0, adversarial_weight=0.0)
    trainer = ElegantTrainer(config)
    logged = trainer.train_step(SameBatch(trainer.make_batches(None).batch(0)), 0)
    expected = config.reconstruction_weight * logged["reconstruction"] + 5.0 * logged["counterfactual"]
    assert torch.isclose(logged["loss_g"], expected)
    assert logged["adversarial"] > 0 and torch.isfinite(logged["loss_d"])


class SameBatch:
    """A stream that serves one batch again and again, so a few steps can overfit it."""

    def __init__(self, batch):
        self.batch = batch

    def next(self):
        return self.batch


def test_style_readout_learns_each_exemplars_style_and_teaches_the_decoder():
    """The style read-out (not in the paper) reads A's style from its block, its loss falls as
    it trains, and its cycle term (on D encoded again) reaches the decoder."""

    with pytest.raises(ConfigError, match="counterfactual_weight"):
        Config.preset("tiny", style_weight=1.0)
    config = Config.preset("tiny", counterfactual_weight=5.0, style_weight=1.0, style_cycle_weight=1.0, lr=1e-3)
    trainer = ElegantTrainer(config)
    assert "style_readout" in trainer.networks()
    assert sorted(trainer.style_readout.heads) == ["Bangs", "Eyeglasses", "Eyeglasses_color"]
    assert "style_readout" not in ElegantTrainer(Config.preset("tiny")).networks()  # the paper has none

    batch = trainer.make_batches(None).batch(0)  # Bangs, in four cuts
    assert batch.attribute == 0 and set(batch.styles_a) == {"Bangs"}
    assert batch.styles_a["Bangs"].min() >= 0 and batch.styles_a["Bangs"].max() <= 3

    # the cycle term alone gives the decoder a gradient: it must draw what the block says
    image_a, image_b = batch.image_a, batch.image_b
    cycle_only = ElegantTrainer(config.replace(style_weight=0.0))
    cycle_only.generator.load_state_dict(trainer.generator.state_dict())
    (_, _, _, swap_d), (z, _) = cycle_only.forward_with_latents(image_a, image_b, 0)
    loss, _ = cycle_only._style_loss(z[:len(image_a)], swap_d, 0, batch.styles_a)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in cycle_only.generator.decoder.parameters())

    stream = SameBatch(batch)
    logged = [trainer.train_step(stream, step) for step in range(30)]
    assert {"style", "style_cycle", "style_accuracy/Bangs", "style_cycle_accuracy/Bangs"} <= set(logged[0])
    assert float(logged[-1]["style"]) < 0.75 * float(logged[0]["style"])
    assert float(logged[-1]["style_accuracy/Bangs"]) == 1.0


def test_a_network_that_shares_its_optimizer_with_another_cannot_be_frozen_alone(tmp_path):
    """The encoder and decoder step in one generator optimizer: freezing one of them is refused."""
    with pytest.raises(ConfigError, match="'generator' optimizer"):
        train(tmp_path, 1, frozen=("encoder",))
    train(tmp_path / "both", 1, frozen=("encoder", "decoder"))  # the whole optimizer can
