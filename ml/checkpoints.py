"""Checkpoints that cannot execute code and say what made them.

A checkpoint is a directory:

    manifest.json          method, config, code version, data fingerprint, steps, metrics, created
    weights.safetensors    every network's state dict, keys prefixed "<network>." (e.g. "encoder.")
    training_state.pt      optional: optimizer / scheduler state, step, RNG states, data position;
                           plain tensors and containers, read with torch.load(weights_only=True)

Weights are safetensors (no pickle at all). The training state needs nested containers, so it is
a torch file, but it is only ever read with `weights_only=True`, which refuses any object that is
not a tensor, number, string or container: a pickled payload raises `UnsafeCheckpointError`
instead of running. An inference-only copy (what ships in `ml/weights/`) drops the training state.

A run directory keeps its checkpoints in `checkpoints/step-000123/`; `latest_checkpoint(run)`
finds the newest complete one (a directory only gets its final name once fully written).
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as _load_safetensors
from safetensors.torch import save_file as _save_safetensors

MANIFEST_FILE = "manifest.json"
WEIGHTS_FILE = "weights.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
CHECKPOINTS_DIR = "checkpoints"
FORMAT_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d+)$")

StateDict = dict[str, torch.Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, incomplete or does not fit the networks."""


class UnsafeCheckpointError(CheckpointError):
    """A file that would need to execute code (a pickled object) to load."""


@dataclasses.dataclass
class Manifest:
    """What made a checkpoint; stored as JSON beside the weights."""

    method: str
    config: dict[str, Any]
    steps: int = 0
    code_version: str = ""
    data_fingerprint: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    # the checkpoint a run started from instead of a random init (fine-tuning): its path, steps,
    # code version and data fingerprint; empty for a run trained from scratch
    parent: dict[str, Any] = dataclasses.field(default_factory=dict)
    created: str = ""
    torch_version: str = ""
    format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Manifest":
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    @classmethod
    def create(cls, method: str, config: Mapping[str, Any], steps: int = 0,
               data_fingerprint: str = "", metrics: Mapping[str, Any] | None = None,
               parent: Mapping[str, Any] | None = None) -> "Manifest":
        """A manifest stamped with the current code version, time and torch version."""
        return cls(method=method, config=dict(config), steps=int(steps), code_version=code_version(),
                   data_fingerprint=data_fingerprint, metrics=dict(metrics or {}), parent=dict(parent or {}),
                   created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   torch_version=torch.__version__)


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: manifest, weights per network, and the training state if present."""

    path: Path
    manifest: Manifest
    weights: dict[str, StateDict]
    training_state: dict[str, Any] | None = None

    def load_into(self, networks: Mapping[str, torch.nn.Module], strict: bool = True) -> None:
        load_networks(networks, self.weights, strict=strict)


# --- provenance -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git revision of this checkout, with "-dirty" if ml/ has uncommitted changes."""
    repo = Path(__file__).resolve().parent.parent
    try:
        revision = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "ml"], cwd=repo, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("FACELAB_CODE_VERSION", "unknown")
    return revision + ("-dirty" if dirty else "")


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-able descriptions, byte strings, arrays or tensors.

    Use it for a dataset: e.g. fingerprint({"kind": "synthetic", "seed": 0, "count": 5000}) or
    fingerprint(images_tensor) for data that is only in memory.
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            digest.update(str((tuple(part.shape), str(part.dtype))).encode())
            digest.update(part.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        elif hasattr(part, "tobytes") and hasattr(part, "dtype"):  # numpy array
            digest.update(str((part.shape, str(part.dtype))).encode())
            digest.update(part.tobytes())
        elif isinstance(part, bytes):
            digest.update(part)
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()[:16]


# --- weights -------------------------------------------------------------------------------------

def _as_state_dict(network: torch.nn.Module | Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    return network.state_dict() if isinstance(network, torch.nn.Module) else network


def save_weights(path: str | Path, networks: Mapping[str, torch.nn.Module | Mapping[str, torch.Tensor]],
                 metadata: Mapping[str, str] | None = None) -> None:
    """Write several networks' state dicts into one safetensors file, keys "<network>.<key>"."""
    tensors: dict[str, torch.Tensor] = {}
    for name, network in networks.items():
        if "." in name:
            raise ValueError(f"network name {name!r} must not contain '.'")
        for key, tensor in _as_state_dict(network).items():
            # contiguous() in the default layout: channels-last weights are stored like any other;
            # clone() because safetensors refuses tensors that share storage.
            tensors[f"{name}.{key}"] = tensor.detach().to("cpu").contiguous().clone()
    _save_safetensors(tensors, str(path), metadata=dict(metadata or {}))


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> dict[str, StateDict]:
    """Read a safetensors file back into {network: state_dict}. Never unpickles anything."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}")
    try:
        flat = _load_safetensors(str(path), device=str(device))
    except (SafetensorError, ValueError, OSError) as error:
        raise UnsafeCheckpointError(f"{path} is not a safetensors file ({error}); refusing to load it "
                                    "any other way, since other formats can execute code") from None
    grouped: dict[str, StateDict] = {}
    for key, tensor in flat.items():
        network, _, rest = key.partition(".")
        grouped.setdefault(network, {})[rest] = tensor
    return grouped


def load_networks(networks: Mapping[str, torch.nn.Module], weights: Mapping[str, StateDict],
                  strict: bool = True) -> None:
    """Copy weights into networks (keeping each network's memory layout), with a clear error."""
    missing = sorted(set(networks) - set(weights))
    if missing and strict:
        raise CheckpointError(f"checkpoint has no weights for network(s) {', '.join(missing)}; "
                              f"it has {', '.join(sorted(weights)) or 'none'}")
    for name, network in networks.items():
        if name not in weights:
            continue
        try:
            network.load_state_dict(weights[name], strict=strict)
        except RuntimeError as error:
            raise CheckpointError(f"weights for {name!r} do not fit the network: {error}") from None


def load_fitting(networks: Mapping[str, torch.nn.Module], weights: Mapping[str, StateDict]) -> dict[str, list[str]]:
    """Copy every tensor whose network, name and shape match; -> {network: names left at their
    init}. For starting a run whose config changed a part of the architecture (say, a finer
    latent): whatever is the same carries over, the rest trains from scratch."""
    left: dict[str, list[str]] = {}
    for name, network in networks.items():
        own = network.state_dict()
        theirs = weights.get(name, {})
        fitting = {key: tensor for key, tensor in theirs.items()
                   if key in own and tuple(tensor.shape) == tuple(own[key].shape)}
        network.load_state_dict({**own, **fitting})
        skipped = sorted(set(own) - set(fitting))
        if skipped:
            left[name] = skipped
    return left


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load that only accepts tensors and plain containers (weights_only=True)."""
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(f"{path} holds objects that would run code when loaded; refused. "
                                    f"({str(error).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"cannot read {path}: {error}") from None


# --- checkpoint directories --------------------------------------------------------------------

def save_checkpoint(directory: str | Path, networks: Mapping[str, torch.nn.Module], manifest: Manifest,
                    training_state: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically (to a temporary name, then renamed)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    save_weights(staging / WEIGHTS_FILE, networks, metadata={"method": manifest.method})
    if training_state is not None:
        torch.save(dict(training_state), staging / TRAINING_STATE_FILE)
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    return directory


def read_manifest(directory: str | Path) -> Manifest:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a checkpoint: it has no {MANIFEST_FILE}")
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a valid manifest: {error}") from None


def write_manifest(directory: str | Path, manifest: Manifest) -> None:
    """Rewrite a checkpoint's manifest (e.g. to record evaluation metrics afterwards)."""
    path = Path(directory) / MANIFEST_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu",
                    with_training_state: bool = False) -> Checkpoint:
    """Load a checkpoint directory (a run directory means its latest checkpoint)."""
    directory = resolve_checkpoint(directory)
    manifest = read_manifest(directory)
    weights = load_weights(directory / WEIGHTS_FILE, device=device)
    state = None
    if with_training_state:
        state_path = directory / TRAINING_STATE_FILE
        if not state_path.is_file():
            raise CheckpointError(f"{directory} has no training state (an inference-only checkpoint)")
        state = safe_torch_load(state_path, map_location="cpu")
    return Checkpoint(path=directory, manifest=manifest, weights=weights, training_state=state)


def resolve_checkpoint(directory: str | Path) -> Path:
    """A checkpoint directory as given, or a run directory's latest checkpoint."""
    directory = Path(directory)
    if (directory / MANIFEST_FILE).is_file():
        return directory
    latest = latest_checkpoint(directory)
    if latest is None:
        raise CheckpointError(f"no checkpoint in {directory}")
    return latest


def inherited_config(directory: str | Path, config_class, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The config values a run started from the checkpoint at `directory` uses: the checkpoint's
    own (a fine-tune keeps what made its parent) but for the run settings (precision,
    intervals: the preset's), with `overrides` on top. Fields that the checkpoint names but
    `config_class` no longer has are left out."""
    known = set(config_class.field_names()) - set(config_class.RUN_SETTINGS)
    parent = read_manifest(resolve_checkpoint(directory)).config
    return {**{key: value for key, value in parent.items() if key in known}, **overrides}


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"step-{step:07d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / MANIFEST_FILE).is_file() and (child / WEIGHTS_FILE).is_file():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints of a run (keep <= 0 keeps all)."""
    if keep <= 0:
        return
    for path in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def export_for_inference(source: str | Path, destination: str | Path,
                         metrics: Mapping[str, Any] | None = None,
                         networks: Sequence[str] | None = None, float16: Sequence[str] = ()) -> Path:
    """Copy a checkpoint's manifest and weights (no training state) to `destination`; with
    `networks`, only those (an editor needs no critics). Networks named in `float16` are stored
    at half precision to halve their size; loading casts them back to the network's dtype."""
    source = Path(source)
    if not (source / MANIFEST_FILE).is_file():
        source = latest_checkpoint(source) or source
    manifest = read_manifest(source)
    if metrics:
        manifest.metrics.update(metrics)
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    if networks is None and not float16:
        shutil.copyfile(source / WEIGHTS_FILE, destination / WEIGHTS_FILE)
    else:
        weights = load_weights(source / WEIGHTS_FILE)
        networks = list(weights) if networks is None else list(networks)
        missing = sorted((set(networks) | set(float16)) - set(weights))
        if missing:
            raise CheckpointError(f"{source} has no weights for {', '.join(missing)}")
        kept = {name: weights[name] for name in networks}
        for name in float16:
            kept[name] = {key: tensor.half() if tensor.is_floating_point() else tensor
                          for key, tensor in kept[name].items()}
        save_weights(destination / WEIGHTS_FILE, kept)
    write_manifest(destination, manifest)
    return destination
