"""State dicts in the official code's layout load and give the official outputs.

The official networks are rebuilt here as plain nn.Sequential stacks with the official module
names (at reduced widths), their state dicts saved the way the official trainer saves them
(nn.DataParallel's "module." prefix, one file per network), converted, and compared.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ml.methods.homointerp.config import Config
from ml.methods.homointerp.editor import HomoInterpEditor
from ml.methods.homointerp.networks import (IMAGENET_MEAN, IMAGENET_STD, FeatureDiscriminator, HomoInterpGAN,
                                            KGTransform)
from ml.methods.homointerp.official import convert_discriminator, convert_kg_transform, load_official_directory
from ml.runtime import configure_torch

configure_torch(1)
WIDTH = 4  # the official VGG's nChannel (64 officially): widths 4, 8, 16, 32, 32
LATENT = 8 * WIDTH
DECODER = (32, 16, 8, 4)  # officially 512, 256, 128, 64


def official_vgg(n):
    def stage(layers):
        modules = OrderedDict()
        for name, cin, cout in layers:
            if name.startswith("pool"):
                modules[name] = nn.MaxPool2d(2, 2)
            else:
                modules[name] = nn.Conv2d(cin, cout, 3, padding=1)
                modules["relu" + name[4:]] = nn.ReLU()
        return nn.Sequential(modules)

    vgg = nn.Module()
    vgg.features_1 = stage([("conv1_1", 3, n), ("conv1_2", n, n), ("pool1", 0, 0), ("conv2_1", n, 2 * n),
                            ("conv2_2", 2 * n, 2 * n), ("pool2", 0, 0), ("conv3_1", 2 * n, 4 * n)])
    vgg.features_2 = stage([("conv3_2", 4 * n, 4 * n), ("conv3_3", 4 * n, 4 * n), ("conv3_4", 4 * n, 4 * n),
                            ("pool3", 0, 0), ("conv4_1", 4 * n, 8 * n)])
    vgg.features_3 = stage([("conv4_2", 8 * n, 8 * n), ("conv4_3", 8 * n, 8 * n), ("conv4_4", 8 * n, 8 * n),
                            ("pool4", 0, 0), ("conv5_1", 8 * n, 8 * n)])
    encoder = nn.Module()
    encoder.model = vgg
    encoder.forward = lambda x: vgg.features_3(vgg.features_2(vgg.features_1(x)))
    return encoder


def official_interp(n_branch, channels):
    interp = nn.Module()
    interp.branch = nn.ModuleList(nn.Module() for _ in range(n_branch))
    for branch in interp.branch:
        branch.model = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(channels, channels, 3, padding=1))

    def forward(f1, f2, v):
        return f1 + sum(b.model(f2 - f1) * v[:, i:i + 1, None, None] for i, b in enumerate(interp.branch))

    interp.forward = forward
    return interp


def official_decoder(latent, widths):
    w1, w2, w3, w4 = widths
    layers = []

    def conv(cin, cout):
        layers.extend([nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()])

    conv(latent, w1)
    for cin, cout, n in ((w1, w2, 4), (w2, w3, 4), (w3, w4, 2), (w4, w4, 1)):
        layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        conv(cin, cout)
        for _ in range(n - 1):
            conv(cout, cout)
    layers.append(nn.Conv2d(w4, 3, 3, padding=1))
    decoder = nn.Module()
    decoder.model = nn.Sequential(*layers)
    return decoder


def official_discrim(latent, width, group_sizes):
    discrim = nn.Module()
    discrim.model = nn.Sequential(
        nn.Conv2d(latent, width, 1), nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 4, padding=1, stride=2), nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 4, padding=1, stride=2), nn.InstanceNorm2d(width, affine=True), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 2))
    discrim.ifReal = nn.Conv2d(width, width, 1)
    discrim.attr_branches = nn.ModuleList(nn.Conv2d(width, n, 1) for n in group_sizes)
    return discrim


def randomise(module):
    """Random weights everywhere, including BN running statistics and affine norms."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor) * 0.2)
    return module


def data_parallel_state(module):
    return {f"module.{key}": value for key, value in module.state_dict().items()}


def test_official_checkpoint_folder_loads_and_matches(tmp_path):
    torch.manual_seed(0)
    encoder, interp, decoder = official_vgg(WIDTH), official_interp(6, LATENT), official_decoder(LATENT, DECODER)
    for module in (encoder, interp, decoder):
        randomise(module).eval()
    torch.save(data_parallel_state(encoder), tmp_path / "encoder-latest.pth")
    torch.save(data_parallel_state(interp), tmp_path / "interp_net-latest.pth")
    torch.save(data_parallel_state(decoder), tmp_path / "decoder-latest.pth")

    config, weights = load_official_directory(tmp_path)
    assert config.encoder_widths == (4, 8, 16, 32, 32) and config.decoder_widths == DECODER
    assert config.interp_width == LATENT and config.n_branches == 6
    model = HomoInterpGAN(config).eval()
    model.encoder.load_state_dict(weights["encoder"])
    model.interpolator.load_state_dict(weights["interpolator"])
    model.decoder.load_state_dict(weights["decoder"])

    image, reference = torch.rand(2, 1, 3, 128, 128) * 2 - 1
    v = torch.rand(1, 6)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    imagenet = lambda x: ((x + 1) / 2 - mean) / std
    with torch.no_grad():
        theirs_f1 = encoder.forward(imagenet(image))
        theirs_out = decoder.model(interp.forward(theirs_f1, encoder.forward(imagenet(reference)), v))
        theirs_out = (theirs_out * std + mean) * 2 - 1  # official outputs are ImageNet-normalised
        ours_f1 = model.encoder(image)
        ours_out = model(image, reference, v)
    assert torch.allclose(ours_f1, theirs_f1, atol=1e-5)
    assert torch.allclose(ours_out, theirs_out, atol=1e-4)

    editor = HomoInterpEditor.from_official(tmp_path)
    pixels = ((image[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    latent = editor.encode(pixels)
    assert np.array_equal(editor.render(latent, {}), editor.render(latent, {"expression": 0.0}))


def test_official_discriminator_and_kg_transform_load():
    torch.manual_seed(1)
    groups = [2, 5, 4, 3, 1]
    theirs = randomise(official_discrim(LATENT, 16, groups))
    ours = FeatureDiscriminator(LATENT, 8, groups, 16)
    ours.load_state_dict(convert_discriminator(data_parallel_state(theirs)))
    features = torch.randn(3, LATENT, 8, 8)
    with torch.no_grad():
        trunk = theirs.model(features)
        their_scores = theirs.ifReal(trunk).flatten(1)
        their_logits = [head(trunk).flatten(1) for head in theirs.attr_branches]
        scores, logits = ours(features)
    assert torch.allclose(scores, their_scores, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(logits, their_logits))

    kg = nn.Conv2d(LATENT, 64, 1)
    ours_kg = KGTransform(LATENT, 64)
    ours_kg.load_state_dict(convert_kg_transform(data_parallel_state(kg)))
    assert torch.allclose(ours_kg(features), kg(features))


def test_unknown_official_keys_are_refused():
    import pytest

    state = data_parallel_state(nn.Conv2d(4, 4, 1))
    state["module.surprise"] = torch.zeros(1)
    with pytest.raises(KeyError, match="unexpected keys"):
        convert_kg_transform(state)
