"""Load state dicts saved by the official HomoInterpGAN code into these networks.

The official trainer saves one file per network, `{encoder,interp_net,decoder,discrim,
KGTransform}-{label}.pth`, most wrapped in nn.DataParallel (keys start with "module."):

    encoder      model.features_{1,2,3}.conv{b}_{i}.{weight,bias}       (VGG19 to relu5_1)
    interp_net   branch.{k}.model.{0,2,4}.{weight,bias}                 (conv, ReLU, conv, ReLU, conv)
    decoder      model.{i}.*  one nn.Sequential: conv, BN, ReLU triples with Upsample between stages
    discrim      model.{0,3,6,9}.* convs, model.{1,4,7}.* InstanceNorms, ifReal.*, attr_branches.{g}.*
    KGTransform  weight, bias                                           (a bare 1x1 conv)

Files are read with `torch.load(weights_only=True)`, so a file holding anything but tensors is
refused instead of executed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from ml.methods.homointerp.config import Config
from ml.methods.homointerp.networks import VGG_STAGES, decoder_layout

OFFICIAL_FILES = {"encoder": "encoder", "interpolator": "interp_net", "decoder": "decoder",
                  "discriminator": "discrim", "kg_transform": "KGTransform"}
_BATCHNORM_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def strip_data_parallel(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key.removeprefix("module."): value for key, value in state_dict.items()}


def _rename(state_dict, mapping: dict[str, str]) -> dict[str, torch.Tensor]:
    """Official keys -> ours; every official key must be known (no silent drops)."""
    state_dict = strip_data_parallel(state_dict)
    unknown = sorted(set(state_dict) - set(mapping))
    if unknown:
        raise KeyError(f"unexpected keys in official state dict: {', '.join(unknown[:5])}")
    return {mapping[key]: value for key, value in state_dict.items()}


def encoder_key_map() -> dict[str, str]:
    mapping = {}
    for stage_index, layers in enumerate(VGG_STAGES, start=1):
        for layer in layers:
            if layer == "pool":
                continue
            name = layer[0]
            for kind in ("weight", "bias"):
                mapping[f"model.features_{stage_index}.{name}.{kind}"] = f"stage{stage_index}.{name}.conv.{kind}"
    return mapping


def interpolator_key_map(n_branches: int) -> dict[str, str]:
    mapping = {}
    for k in range(n_branches):
        for index, conv in ((0, "conv1"), (2, "conv2"), (4, "conv3")):
            for kind in ("weight", "bias"):
                mapping[f"branch.{k}.model.{index}.{kind}"] = f"branches.{k}.{conv}.{kind}"
    return mapping


def decoder_key_map(latent_channels: int = 512, widths=(512, 256, 128, 64)) -> dict[str, str]:
    mapping = {}
    index = 0
    for stage_index, (_, _, n_convs) in enumerate(decoder_layout(latent_channels, widths)):
        if stage_index:
            index += 1  # the nn.Upsample between stages
        for conv_index in range(n_convs):
            ours = f"stages.{stage_index}.{conv_index}"
            for kind in ("weight", "bias"):
                mapping[f"model.{index}.{kind}"] = f"{ours}.conv.{kind}"
            for kind in _BATCHNORM_KEYS:
                mapping[f"model.{index + 1}.{kind}"] = f"{ours}.norm.norm.{kind}"
            index += 3  # conv, BN, ReLU
    for kind in ("weight", "bias"):
        mapping[f"model.{index}.{kind}"] = f"to_rgb.{kind}"
    return mapping


def discriminator_key_map(n_groups: int, n_down: int = 2) -> dict[str, str]:
    ours_blocks = ["input"] + [f"down.{i}" for i in range(n_down)]
    mapping = {}
    for block, ours in enumerate(ours_blocks):
        for kind in ("weight", "bias"):
            mapping[f"model.{3 * block}.{kind}"] = f"{ours}.conv.{kind}"
            mapping[f"model.{3 * block + 1}.{kind}"] = f"{ours}.norm.norm.{kind}"
    for kind in ("weight", "bias"):
        mapping[f"model.{3 * len(ours_blocks)}.{kind}"] = f"final.{kind}"
        mapping[f"ifReal.{kind}"] = f"critic.{kind}"
        for g in range(n_groups):
            mapping[f"attr_branches.{g}.{kind}"] = f"classifiers.{g}.{kind}"
    return mapping


def kg_transform_key_map() -> dict[str, str]:
    return {"weight": "conv.weight", "bias": "conv.bias"}


def convert_encoder(state_dict):
    return _rename(state_dict, encoder_key_map())


def convert_interpolator(state_dict):
    n_branches = len({key.split(".")[1] for key in strip_data_parallel(state_dict) if key.startswith("branch.")})
    return _rename(state_dict, interpolator_key_map(n_branches))


def convert_decoder(state_dict, latent_channels=512, widths=(512, 256, 128, 64)):
    return _rename(state_dict, decoder_key_map(latent_channels, widths))


def convert_discriminator(state_dict, n_down: int = 2):
    n_groups = len({key.split(".")[1] for key in strip_data_parallel(state_dict) if key.startswith("attr_branches.")})
    return _rename(state_dict, discriminator_key_map(n_groups, n_down))


def convert_kg_transform(state_dict):
    return _rename(state_dict, kg_transform_key_map())


def infer_config(encoder_sd, interp_sd, decoder_sd, preset: str = "paper", **overrides) -> Config:
    """The Config whose widths fit these official state dicts (groups default to the official five)."""
    encoder_sd, interp_sd, decoder_sd = map(strip_data_parallel, (encoder_sd, interp_sd, decoder_sd))
    encoder_widths = tuple(encoder_sd[f"model.features_{s}.{name}.weight"].shape[0]
                           for s, name in ((1, "conv1_1"), (1, "conv2_1"), (1, "conv3_1"), (2, "conv4_1"), (3, "conv5_1")))
    n_branches = len({key.split(".")[1] for key in interp_sd if key.startswith("branch.")})
    interp_width = interp_sd["branch.0.model.0.weight"].shape[0]
    conv_weights = [value for key, value in sorted(decoder_sd.items(), key=lambda kv: int(kv[0].split(".")[1]))
                    if key.endswith(".weight") and value.dim() == 4]
    # stage outputs: first conv of stages 1..4 (layout: 1, 4, 4, 2, 1 convs)
    decoder_widths = tuple(conv_weights[i].shape[0] for i in (0, 1, 5, 9))
    values = dict(encoder_widths=encoder_widths, interp_width=interp_width, decoder_widths=decoder_widths)
    values.update(overrides)
    config = Config.preset(preset, **values)
    if config.n_branches != n_branches:
        raise ValueError(f"the official interpolator has {n_branches} branches; the config's groups give "
                         f"{config.n_branches} (pass groups=... / residual_branch=...)")
    return config


def load_official_directory(directory: str | Path, label: str = "latest", preset: str = "paper", **overrides):
    """Read an official checkpoint folder -> (config, {network name: our state dict}).

    Only the files present are converted; the deploy model needs encoder, interp_net, decoder.
    """
    directory = Path(directory)
    raw = {}
    for ours, theirs in OFFICIAL_FILES.items():
        path = directory / f"{theirs}-{label}.pth"
        if path.exists():
            raw[ours] = torch.load(path, map_location="cpu", weights_only=True)
    missing = [OFFICIAL_FILES[name] for name in ("encoder", "interpolator", "decoder") if name not in raw]
    if missing:
        raise FileNotFoundError(f"{directory} lacks {', '.join(f'{m}-{label}.pth' for m in missing)}")
    config = infer_config(raw["encoder"], raw["interpolator"], raw["decoder"], preset, **overrides)
    converted = {
        "encoder": convert_encoder(raw["encoder"]),
        "interpolator": convert_interpolator(raw["interpolator"]),
        "decoder": convert_decoder(raw["decoder"], config.latent_channels, config.decoder_widths),
    }
    if "discriminator" in raw:
        from ml.methods.homointerp.networks import critic_downsamplings

        converted["discriminator"] = convert_discriminator(raw["discriminator"], critic_downsamplings(config.latent_size))
    if "kg_transform" in raw:
        converted["kg_transform"] = convert_kg_transform(raw["kg_transform"])
    return config, converted
