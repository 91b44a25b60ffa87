"""State dicts in the official ELEGANT layout (Enc, Dec, D1, D2) load and give the official output.

The official layout is built here from the architecture alone (key names and shapes), and the
"official output" is a functional forward pass written directly on those keys, so the check does
not go through FaceLab's modules twice.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml import checkpoints
from ml.methods.elegant import Config, ElegantEditor
from ml.methods.elegant.networks import build_discriminators, build_generator
from ml.methods.elegant.official import convert_official, from_official, infer_config, to_official
from ml.runtime import configure_torch

configure_torch()
ENCODER = (8, 16, 16, 32, 32)
CRITIC = (8, 16, 16, 32)
SIZE, N_ATTR = 32, 2


def official_state_dicts(seed=0):
    generator = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=generator) * 0.1
    norm = lambda prefix: {f"{prefix}.alpha": 1 + rand(1), f"{prefix}.beta": rand(1)}
    enc, widths = {}, [3, *ENCODER]
    for i in range(5):
        enc[f"main.{i}.0.weight"], enc[f"main.{i}.0.bias"] = rand(widths[i + 1], widths[i], 3, 3), rand(widths[i + 1])
        enc.update(norm(f"main.{i}.1"))
    dec, widths = {}, [2 * ENCODER[-1], *reversed(ENCODER[:-1]), 3]
    for i in range(5):  # ConvTranspose2d weights are in x out x k x k
        dec[f"main.{i}.0.weight"], dec[f"main.{i}.0.bias"] = rand(widths[i], widths[i + 1], 3, 3), rand(widths[i + 1])
        if i < 4:
            dec.update(norm(f"main.{i}.1"))
    critics = {}
    for name, size in (("D1", SIZE), ("D2", SIZE // 2)):
        d, widths = {}, [3 + N_ATTR, *CRITIC]
        for k in range(4):
            d[f"conv.{3 * k}.weight"], d[f"conv.{3 * k}.bias"] = rand(widths[k + 1], widths[k], 3, 3), rand(widths[k + 1])
            d.update(norm(f"conv.{3 * k + 1}"))
        d["linear.0.weight"], d["linear.0.bias"] = rand(1, CRITIC[-1] * (size // 16) ** 2), rand(1)
        critics[name] = d
    return {"Enc": enc, "Dec": dec, **critics}


def l2norm(x, state, prefix):
    return F.normalize(x, dim=1) * state[f"{prefix}.alpha"] + state[f"{prefix}.beta"]


def official_encode(enc, x):
    skips = []
    for i in range(5):
        x = F.conv2d(x, enc[f"main.{i}.0.weight"], enc[f"main.{i}.0.bias"], stride=2, padding=1)
        x = F.leaky_relu(l2norm(x, enc, f"main.{i}.1"), 0.2)
        skips.append(x)
    return skips[-1], skips[:-1]


def official_decode(dec, z1, z2, skips):
    x = torch.cat([z1, z2], 1)
    for i in range(5):
        x = F.conv_transpose2d(x, dec[f"main.{i}.0.weight"], dec[f"main.{i}.0.bias"], stride=2, padding=1,
                               output_padding=1)
        if i < 4:
            x = F.relu(l2norm(x, dec, f"main.{i}.1")) + skips[-i - 1]
    return 2 * torch.tanh(x)


def official_critic(d, size, image, label):
    while image.shape[-1] != size:
        image = F.avg_pool2d(image, 2)
    x = torch.cat([image, label.view(-1, N_ATTR, 1, 1).expand(-1, -1, *image.shape[2:])], 1)
    for k in range(4):
        x = F.conv2d(x, d[f"conv.{3 * k}.weight"], d[f"conv.{3 * k}.bias"], stride=2, padding=1)
        x = F.leaky_relu(l2norm(x, d, f"conv.{3 * k + 1}"), 0.2)
    return torch.sigmoid(F.linear(x.flatten(1), d["linear.0.weight"], d["linear.0.bias"]))


def loaded_networks(official):
    networks = from_official(official)
    config = infer_config(networks, ["Bangs", "Eyeglasses"])
    generator = build_generator(config)
    generator.encoder.load_state_dict(networks["encoder"])
    generator.decoder.load_state_dict(networks["decoder"])
    d1, d2 = build_discriminators(config)
    d1.load_state_dict(networks["d1"])
    d2.load_state_dict(networks["d2"])
    return config, generator, d1, d2


def test_inferred_config_matches_the_shapes():
    config, *_ = loaded_networks(official_state_dicts())
    assert (config.image_size, config.encoder_channels, config.discriminator_channels) == (SIZE, ENCODER, CRITIC)


def test_official_weights_give_the_official_swap_and_critic_outputs():
    official = official_state_dicts()
    _, generator, d1, d2 = loaded_networks(official)
    torch.manual_seed(1)
    a, b = torch.rand(2, 3, SIZE, SIZE) * 2 - 1, torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        z_a, skips_a = official_encode(official["Enc"], a)
        z_b, _ = official_encode(official["Enc"], b)
        z_c = z_a.clone()
        z_c[:, :16] = z_b[:, :16]  # attribute 0 owns channels [rint(0), rint(16)) of 32
        expected = (a + official_decode(official["Dec"], z_c, z_a, skips_a)).clamp(-1, 1)

        ours_z_a, ours_skips = generator.encode(a)
        ours_z_c, _ = generator.split.swap(ours_z_a, generator.encode(b)[0], 0)
        ours = generator.decode(a, ours_z_c, ours_z_a, ours_skips)
        assert torch.allclose(ours, expected, atol=1e-5)
        assert torch.allclose(torch.sigmoid(d1(a, labels)), official_critic(official["D1"], SIZE, a, labels), atol=1e-6)
        assert torch.allclose(torch.sigmoid(d2(a, labels)), official_critic(official["D2"], SIZE // 2, a, labels),
                              atol=1e-6)


def test_round_trip_and_module_prefix():
    official = official_state_dicts()
    prefixed = {name: {f"module.{k}": v for k, v in state.items()} for name, state in official.items()}
    back = to_official(from_official(prefixed))
    assert back.keys() == official.keys()
    for name in official:
        assert back[name].keys() == official[name].keys()
        assert all(torch.equal(back[name][k], official[name][k]) for k in official[name])


def test_unexpected_official_keys_are_refused():
    official = official_state_dicts()
    official["Enc"]["main.0.2.weight"] = torch.zeros(1)
    with pytest.raises(checkpoints.CheckpointError, match="unexpected key"):
        from_official(official)


def test_convert_official_files_then_edit(tmp_path):
    official = official_state_dicts()
    model_dir = tmp_path / "train_log" / "model"
    model_dir.mkdir(parents=True)
    for name, state in official.items():
        torch.save(state, model_dir / f"{name}_iter_034000.pth")
    converted = convert_official(model_dir, tmp_path / "converted", ["Bangs", "Eyeglasses"])
    manifest = checkpoints.read_manifest(converted)
    assert manifest.method == "elegant" and manifest.steps == 34000
    editor = ElegantEditor.from_checkpoint(converted)
    rng = np.random.default_rng(0)
    photo, exemplar = (rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(2))
    latent, reference = editor.encode(photo), editor.encode(exemplar)
    out = editor.render(latent, {"Bangs_exemplar": "ex"}, {"ex": reference})
    with torch.no_grad():
        a = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
        z_a, skips = official_encode(official["Enc"], a)
        z_b, _ = official_encode(official["Enc"], torch.from_numpy(exemplar).permute(2, 0, 1)[None].float() / 127.5 - 1)
        z_a_swapped = z_a.clone()
        z_a_swapped[:, :16] = z_b[:, :16]
        expected = ((a + official_decode(official["Dec"], z_a_swapped, z_a, skips)).clamp(-1, 1) + 1) * 127.5
    expected = expected.round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
