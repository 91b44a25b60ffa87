"""HomoInterpGAN networks: shapes at every preset size, the interpolator's formula, configs."""
from __future__ import annotations

import pytest
import torch

from ml.config import ConfigError
from ml.methods.homointerp.config import OFFICIAL_GROUPS, REPORT_GROUPS, Config, parse_attr_spec, parse_group
from ml.methods.homointerp.networks import (FeatureDiscriminator, FeatureNetwork, HomoInterpGAN, Interpolator,
                                            build_feature_network, critic_downsamplings)
from ml.runtime import configure_torch

configure_torch(1)


@pytest.mark.parametrize("image_size", [64, 128, 256])
def test_feature_discriminator_runs_at_every_preset_size(image_size):
    config = Config.preset("tiny", image_size=image_size)
    groups = [len(parse_group(group)) for group in config.groups]
    critic = FeatureDiscriminator(config.latent_channels, config.latent_size, groups, config.critic_width)
    features = torch.randn(3, config.latent_channels, config.latent_size, config.latent_size, requires_grad=True)
    scores, logits = critic(features)
    assert scores.shape == (3, config.critic_width)
    assert [tuple(l.shape) for l in logits] == [(3, n) for n in groups]
    # the gradient penalty needs a double backward through it
    (gradient,) = torch.autograd.grad(scores.sum(), features, create_graph=True)
    gradient.norm().backward()


def test_discriminator_keeps_the_official_shape_at_8x8():
    assert critic_downsamplings(8) == 2  # 8 -> 4 -> 2, then the 2x2 valid conv, as officially
    assert critic_downsamplings(4) == 1 and critic_downsamplings(16) == 3


def test_a_latent_stride_of_8_cuts_the_encoder_at_relu4_1_and_keeps_the_layer_shapes():
    coarse, fine = (Config.preset("starter", latent_stride=stride, decoder_skips=0) for stride in (16, 8))
    assert (fine.latent_size, fine.latent_channels) == (16, coarse.encoder_widths[3])
    model = HomoInterpGAN(fine)
    image = torch.rand(2, 3, 128, 128) * 2 - 1
    features = model.encode(image)
    assert features.shape == (2, fine.latent_channels, 16, 16)
    assert model.decoder(features).shape == image.shape
    # every tensor of the /8 model has its /16 twin, so a /16 model can initialise it
    twin = HomoInterpGAN(coarse)
    for part in ("encoder", "decoder", "interpolator"):
        theirs = getattr(twin, part).state_dict()
        for name, tensor in getattr(model, part).state_dict().items():
            assert theirs[name].shape == tensor.shape, (part, name)
    assert "stage3.conv4_2.conv.weight" not in model.encoder.state_dict()
    with pytest.raises(ConfigError, match="latent_stride"):
        Config.preset("starter", latent_stride=4)


def test_decoder_skips_take_the_sources_last_map_at_each_large_size():
    config = Config.preset("tiny", latent_stride=8, decoder_skips=2)
    model = HomoInterpGAN(config)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    features, skips = model.encode_with_skips(image)
    assert torch.equal(features, model.encode(image))
    widths = config.encoder_widths
    assert [tuple(skip.shape) for skip in skips] == [(2, widths[0], 64, 64), (2, widths[1], 32, 32)]
    assert model.decoder(features, skips).shape == image.shape
    with pytest.raises(ValueError, match="takes 2 skip maps"):
        model.decoder(features)
    # the skips reach the output: other source maps, another image from the same F
    other = model.encoder.with_skips(torch.rand(2, 3, 64, 64) * 2 - 1, 2)[1]
    assert not torch.allclose(model.decoder(features, skips), model.decoder(features, other))
    # the paper's decoder has none, and its encoder returns none
    plain = HomoInterpGAN(Config.preset("tiny"))
    assert plain.encode_with_skips(image)[1] == []
    with pytest.raises(ConfigError, match="decoder_skips"):
        Config.preset("tiny", decoder_skips=4)


def test_the_skip_gate_fades_the_source_maps_only_where_the_edit_moves_f():
    model = HomoInterpGAN(Config.preset("tiny", latent_stride=8, decoder_skips=2, skip_gate=0.1))
    features, skips = model.encode_with_skips(torch.rand(1, 3, 64, 64) * 2 - 1)
    unedited = model.edit_skips(features, features, skips)
    assert all(torch.equal(kept, skip) for kept, skip in zip(unedited, skips))  # no edit, no fade
    edited = features.clone()
    edited[:, :, :2, :2] += 10 * features.abs().mean()  # 2x2 cells of an 8x8 latent: the top-left 16x16 px
    gated = model.edit_skips(edited, features, skips)
    full = gated[0][0]  # the full-size map (64x64)
    assert full[:, :12, :12].abs().max() == 0  # faded out where F moved
    assert torch.equal(full[:, 24:, 24:], skips[0][0][:, 24:, 24:])  # untouched away from it
    assert gated[1].shape == skips[1].shape
    # the paper's model and a gate of 0 pass the maps through
    plain = HomoInterpGAN(Config.preset("tiny", latent_stride=8, decoder_skips=2))
    assert all(torch.equal(a, b) for a, b in zip(plain.edit_skips(edited, features, skips), skips))


@torch.no_grad()
def test_an_edit_and_its_source_decode_on_the_same_faded_maps_so_their_difference_is_the_edit():
    model = HomoInterpGAN(Config.preset("tiny", latent_stride=8, decoder_skips=2, skip_gate=0.1)).eval()
    features, skips = model.encode_with_skips(torch.rand(1, 3, 64, 64) * 2 - 1)
    edited = features.clone()
    edited[:, :, :2, :2] += 0.2 * features.abs().mean()  # a small move, past the gate: the maps fade there
    drawn, source = model.decode_edit_and_source(edited, features, skips)
    faded = model.edit_skips(edited, features, skips)
    assert torch.allclose(drawn, model.decode_edit(edited, features, skips), atol=1e-5)
    assert torch.allclose(source, model.decoder(features, faded), atol=1e-5)
    # against G(F) on the whole maps, the difference would be mostly the fade, not the edit
    region = (slice(None), slice(None), slice(0, 16), slice(0, 16))
    change = (drawn - source)[region].abs().mean()
    assert change < 0.5 * (drawn - model.decoder(features, skips))[region].abs().mean()
    # no gate: the source's own maps, the decode the editor caches at encode
    plain = HomoInterpGAN(Config.preset("tiny", latent_stride=8, decoder_skips=2)).eval()
    plain.load_state_dict(model.state_dict())
    assert torch.allclose(plain.decode_edit_and_source(edited, features, skips)[1], plain.decoder(features, skips),
                          atol=1e-5)


def test_skip_dropout_zeroes_one_box_of_latent_cells_in_every_map_of_a_dropped_image():
    model = HomoInterpGAN(Config.preset("tiny", latent_stride=8, decoder_skips=2))  # an 8x8 latent
    skips = [torch.ones(64, 4, 64, 64), torch.ones(64, 8, 32, 32)]
    torch.manual_seed(0)
    dropped = model.drop_skip_regions(skips, 0.5)
    cells = dropped[0][:, 0, ::8, ::8] == 0  # [N, 8, 8]: which latent cells lost their maps
    counts = cells.flatten(1).sum(1)
    assert 10 < (counts > 0).sum() < 54  # about half the images, at p = 0.5
    for box, count in zip(cells, counts):
        if count:
            rows, columns = box.any(1).sum(), box.any(0).sum()
            assert 2 <= rows <= 4 and 2 <= columns <= 4 and count == rows * columns  # one box, 1/4-1/2 a side
    # the half-size map lost the same region
    assert torch.equal(dropped[1][:, 0, ::4, ::4] == 0, cells)
    assert all(torch.equal(a, b) for a, b in zip(model.drop_skip_regions(skips, 0.0), skips))
    with pytest.raises(ConfigError, match="skip_dropout"):
        Config.preset("tiny", skip_dropout=1.5)


def test_paper_sizes_match_the_official_parameter_counts():
    config = Config.preset("paper")
    model = HomoInterpGAN(config)
    count = lambda module: sum(p.numel() for p in module.parameters())
    assert count(model.encoder) == 12_944_960
    assert count(model.interpolator) == 42_476_544  # 6 branches
    assert count(model.decoder) == 6_201_603
    critic = FeatureDiscriminator(512, 8, [2, 5, 4, 3, 1], 256)
    assert count(critic) == 2_562_575


def _interpolator():
    torch.manual_seed(0)
    return Interpolator(n_branches=3, channels=8, hidden=8).eval()


def test_strength_zero_returns_the_source_exactly():
    interpolator = _interpolator()
    source, reference = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        out = interpolator(source, reference, torch.zeros(2, 3))
    assert torch.equal(out, source)


def test_strength_moves_features_monotonically_and_branches_add_up():
    interpolator = _interpolator()
    source, reference = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        distances = []
        for strength in (0.0, 0.25, 0.5, 1.0, 1.5, 2.0):
            out = interpolator(source, reference, torch.tensor([[strength, 0.0, 0.0]]))
            distances.append((out - source).norm().item())
        assert all(a < b for a, b in zip(distances, distances[1:]))
        # F1 + sum_k v_k T_k(F2 - F1): the terms of two branches add
        both = interpolator(source, reference, torch.tensor([[0.5, 0.7, 0.0]]))
        first = interpolator(source, reference, torch.tensor([[0.5, 0.0, 0.0]]))
        second = interpolator(source, reference, torch.tensor([[0.0, 0.7, 0.0]]))
        assert torch.allclose(both - source, (first - source) + (second - source), atol=1e-5)


def test_per_branch_references():
    interpolator = _interpolator()
    source = torch.randn(1, 8, 4, 4)
    shared = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        a = interpolator(source, shared, torch.tensor([[1.0, 0.5, 0.0]]))
        b = interpolator(source, torch.stack([shared] * 3, dim=1), torch.tensor([[1.0, 0.5, 0.0]]))
    assert torch.allclose(a, b)


def test_feature_network_interface():
    network = build_feature_network("random")
    assert isinstance(network, FeatureNetwork)
    assert not any(p.requires_grad for p in network.parameters())
    features = network(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert isinstance(features, list) and len(features) >= 2
    assert features[-1].shape[-1] == 64 // 16
    with pytest.raises(ValueError):
        build_feature_network("imagenet-please")


def test_groups_official_default_and_report_preset():
    config = Config.preset("paper")
    assert config.groups == OFFICIAL_GROUPS and config.n_branches == 6
    report = Config.preset("report")
    assert report.groups == REPORT_GROUPS and report.n_branches == 10
    assert Config.from_dict(report.to_dict()) == report
    assert parse_attr_spec("Male@#No_Beard,Smiling") == ("Male@#No_Beard", "Smiling")
    assert parse_group("Male@#No_Beard") == [("Male", False), ("No_Beard", True)]
    with pytest.raises(ConfigError):
        Config.preset("tiny", groups=("Smiling", "Has_Wings"), group_names=("a", "b"))
    with pytest.raises(ConfigError):
        Config.preset("tiny", image_size=24)


def test_imagenet_vgg19_from_the_torch_hub_cache_is_used(tmp_path, monkeypatch):
    """A vgg19-dcbab3c7.pth in torch.hub's cache is loaded (weights_only) and matches torchvision."""
    from torchvision.models import vgg as torchvision_vgg

    torch.manual_seed(0)
    reference = torchvision_vgg.make_layers(torchvision_vgg.cfgs["E"]).eval()  # vgg19.features
    state = {f"features.{key}": value for key, value in reference.state_dict().items()}
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "vgg19-dcbab3c7.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    network = build_feature_network("auto")
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    normalised = ((image + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) \
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        relu3_1 = reference[:12](normalised)
        relu5_1 = reference[:30](normalised)
        ours = network(image)
    assert torch.allclose(ours[0], relu3_1, atol=1e-5) and torch.allclose(ours[-1], relu5_1, atol=1e-5)


def test_vgg19_requested_but_absent_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="vgg19"):
        build_feature_network("vgg19")
