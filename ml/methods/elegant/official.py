"""Load ELEGANT checkpoints saved by the official code (Prinsphield/ELEGANT).

The official trainer saves four state dicts per checkpoint,
`train_log/model/{Enc,Dec,D1,D2}_iter_{step:06d}.pth`, with this key layout:

    Enc  main.{i}.0.weight|bias (conv)    main.{i}.1.alpha|beta (normalisation), i = 0..4
    Dec  main.{i}.0.weight|bias (conv-T)  main.{i}.1.alpha|beta, i = 0..3;  main.4.0.weight|bias
    D1/2 conv.{3k}.weight|bias            conv.{3k+1}.alpha|beta, k = 0..3;  linear.0.weight|bias

`from_official` renames them to FaceLab's networks (encoder / decoder / d1 / d2); `to_official`
goes back. The files are read with torch.load(weights_only=True), never unpickled freely.
The official code stores neither attribute names nor image size: sizes are read from the
tensor shapes, and the attribute names must be given (the README's default is Bangs, Mustache).

    python -m ml.methods.elegant.official train_log/model runs/elegant-official -a Bangs Mustache
"""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import torch

from ml import checkpoints
from ml.methods.elegant.config import Config

StateDict = dict[str, torch.Tensor]
OFFICIAL_FILES = {"encoder": "Enc", "decoder": "Dec", "d1": "D1", "d2": "D2"}
_NORM_PARAMS = {"alpha": "scale", "beta": "shift"}


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove DataParallel's "module." prefix where present."""
    return {key[len("module."):] if key.startswith("module.") else key: value for key, value in state.items()}


def _rename(state: Mapping[str, torch.Tensor], rules: Sequence[tuple[str, callable]], what: str) -> StateDict:
    renamed = {}
    for key, value in state.items():
        for pattern, build in rules:
            match = re.fullmatch(pattern, key)
            if match:
                renamed[build(match)] = value
                break
        else:
            raise checkpoints.CheckpointError(f"unexpected key {key!r} in the official {what} state dict")
    return renamed


def _encoder_rules():
    return [(r"main\.(\d+)\.0\.(weight|bias)", lambda m: f"stages.{m[1]}.conv.{m[2]}"),
            (r"main\.(\d+)\.1\.(alpha|beta)", lambda m: f"stages.{m[1]}.norm.{_NORM_PARAMS[m[2]]}")]


def _decoder_rules(last: int):
    return [(rf"main\.{last}\.0\.(weight|bias)", lambda m: f"to_residual.conv.{m[1]}"),
            (r"main\.(\d+)\.0\.(weight|bias)", lambda m: f"stages.{m[1]}.conv.{m[2]}"),
            (r"main\.(\d+)\.1\.(alpha|beta)", lambda m: f"stages.{m[1]}.norm.{_NORM_PARAMS[m[2]]}")]


def _discriminator_rules():
    return [(r"conv\.(\d+)\.(weight|bias)", lambda m: f"body.{int(m[1]) // 3}.conv.{m[2]}"),
            (r"conv\.(\d+)\.(alpha|beta)", lambda m: f"body.{int(m[1]) // 3}.norm.{_NORM_PARAMS[m[2]]}"),
            (r"linear\.0\.(weight|bias)", lambda m: f"head.{m[1]}")]


def _decoder_depth(state: Mapping[str, torch.Tensor]) -> int:
    return 1 + max(int(key.split(".")[1]) for key in state if key.startswith("main."))


def from_official(official: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, StateDict]:
    """{"Enc": ..., "Dec": ..., "D1": ..., "D2": ...} (D1/D2 optional) -> FaceLab's networks."""
    result = {}
    for network, official_name in OFFICIAL_FILES.items():
        if official_name not in official:
            continue
        state = strip_module_prefix(official[official_name])
        if network == "encoder":
            rules = _encoder_rules()
        elif network == "decoder":
            rules = _decoder_rules(_decoder_depth(state) - 1)
        else:
            rules = _discriminator_rules()
        result[network] = _rename(state, rules, official_name)
    missing = {"encoder", "decoder"} - set(result)
    if missing:
        raise checkpoints.CheckpointError(f"official checkpoint lacks {', '.join(sorted(missing))}")
    return result


def to_official(networks: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, StateDict]:
    """FaceLab's encoder / decoder / d1 / d2 state dicts -> the official key layout."""
    inverse_norm = {value: key for key, value in _NORM_PARAMS.items()}
    result = {}
    for network, state in networks.items():
        out = {}
        for key, value in state.items():
            parts = key.split(".")
            if network in ("encoder", "decoder") and parts[0] == "stages":
                slot = "0" if parts[2] == "conv" else "1"
                leaf = inverse_norm.get(parts[3], parts[3])
                out[f"main.{parts[1]}.{slot}.{leaf}"] = value
            elif network == "decoder" and parts[0] == "to_residual":
                depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("stages."))
                out[f"main.{depth}.0.{parts[2]}"] = value
            elif parts[0] == "body":
                index = 3 * int(parts[1]) + (0 if parts[2] == "conv" else 1)
                out[f"conv.{index}.{inverse_norm.get(parts[3], parts[3])}"] = value
            elif parts[0] == "head":
                out[f"linear.0.{parts[1]}"] = value
            else:
                raise ValueError(f"cannot map {network}.{key} to the official layout")
        result[OFFICIAL_FILES[network]] = out
    return result


def infer_config(networks: Mapping[str, Mapping[str, torch.Tensor]], attributes: Sequence[str] | None = None,
                 **overrides) -> Config:
    """A Config whose networks have the shapes of these (FaceLab-layout) state dicts."""
    encoder = networks["encoder"]
    depth = 1 + max(int(key.split(".")[1]) for key in encoder if key.startswith("stages."))
    encoder_channels = tuple(int(encoder[f"stages.{i}.conv.weight"].shape[0]) for i in range(depth))
    values = {"encoder_channels": encoder_channels}
    n_attributes = None
    if "d1" in networks:
        d1 = networks["d1"]
        blocks = 1 + max(int(key.split(".")[1]) for key in d1 if key.startswith("body."))
        channels = tuple(int(d1[f"body.{k}.conv.weight"].shape[0]) for k in range(blocks))
        n_attributes = int(d1["body.0.conv.weight"].shape[1]) - 3
        side = math.isqrt(int(d1["head.weight"].shape[1]) // channels[-1])
        values.update(discriminator_channels=channels, image_size=side * 2 ** blocks)
    if attributes is None:
        if n_attributes not in (None, 2):
            raise ValueError(f"the checkpoint has {n_attributes} attributes: name them (e.g. -a Bangs Mustache ...)")
        attributes = ("Bangs", "Mustache")
    if n_attributes is not None and len(attributes) != n_attributes:
        raise ValueError(f"{len(attributes)} attribute names given, but the discriminator has {n_attributes}")
    values["attributes"] = tuple(attributes)
    values.update(overrides)
    return Config.preset("paper", **values)


def find_official_files(directory: str | Path, step: int | None = None) -> dict[str, Path]:
    """The {Enc,Dec,D1,D2}_iter_XXXXXX.pth files of `step` (default: the newest) in directory."""
    directory = Path(directory)
    steps = sorted({int(m[1]) for path in directory.glob("Enc_iter_*.pth")
                    if (m := re.fullmatch(r"Enc_iter_(\d+)\.pth", path.name))})
    if not steps:
        raise checkpoints.CheckpointError(f"no Enc_iter_*.pth in {directory}")
    step = steps[-1] if step is None else step
    files = {name: directory / f"{name}_iter_{step:06d}.pth" for name in OFFICIAL_FILES.values()}
    return {name: path for name, path in files.items() if path.is_file()}


def load_official(directory: str | Path, attributes: Sequence[str] | None = None, step: int | None = None):
    """(Config, FaceLab-layout state dicts, step) from an official train_log/model directory."""
    files = find_official_files(directory, step)
    step = int(re.fullmatch(r"Enc_iter_(\d+)\.pth", files["Enc"].name)[1])
    official = {name: checkpoints.safe_torch_load(path) for name, path in files.items()}
    networks = from_official(official)
    return infer_config(networks, attributes), networks, step


def convert_official(directory: str | Path, destination: str | Path, attributes: Sequence[str] | None = None,
                     step: int | None = None) -> Path:
    """Write an official checkpoint as a FaceLab checkpoint (safetensors + manifest)."""
    config, networks, step = load_official(directory, attributes, step)
    manifest = checkpoints.Manifest.create("elegant", config.to_dict(), steps=step,
                                           data_fingerprint=f"official:{Path(directory).resolve()}")
    return checkpoints.save_checkpoint(destination, networks, manifest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="the official train_log/model directory")
    parser.add_argument("destination", help="FaceLab checkpoint directory to write")
    parser.add_argument("-a", "--attributes", nargs="+", help="attribute names, in training order")
    parser.add_argument("-r", "--step", type=int, help="which iteration (default: the newest)")
    args = parser.parse_args(argv)
    path = convert_official(args.source, args.destination, args.attributes, args.step)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
