"""Base for every method's `Config`: one dataclass of hyperparameters plus named presets.

A method writes

    @dataclasses.dataclass
    class Config(TrainingConfig):
        method: ClassVar[str] = "elegant"
        PRESETS: ClassVar[dict] = {"paper": {}, "starter": {"image_size": 128, ...}, "tiny": {...}}
        image_size: int = 256           # defaults reproduce the paper
        ...

and everybody else asks `Config.preset("starter", steps=500)`. Defaults are the paper's values;
presets change only sizes and budgets. A config round-trips through plain JSON (`to_dict` /
`from_dict`), which is how it is stored in a checkpoint's manifest.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

PRESET_NAMES = ("tiny", "starter", "paper")
WORLD_POSES = ("wide", "celeba")  # ml.data.world.sampler.POSES, named here so configs need no world
COUNTERFACTUAL_NORMS = ("l1", "l2")  # ml.training.counterfactuals.counterfactual_loss's `norm`


class ConfigError(ValueError):
    """An unknown preset or a field the config does not have."""


@dataclasses.dataclass
class TrainingConfig:
    """Fields every method's trainer and the shared loop understand."""

    method: ClassVar[str] = ""
    # preset name -> field overrides; "paper" is the defaults and should stay empty.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}
    # How a run is run on its machine, not what it trains: a fine-tune takes these from its own
    # preset, not from its parent (bf16 inherited onto a CPU without it runs several times slower).
    RUN_SETTINGS: ClassVar[tuple[str, ...]] = ("preset_name", "precision", "channels_last", "log_every",
                                               "sample_every", "eval_every", "checkpoint_every",
                                               "keep_checkpoints", "torch_compile", "frozen")

    preset_name: str = "paper"
    image_size: int = 256
    batch_size: int = 16
    steps: int = 200_000
    seed: int = 0
    # "bf16" runs forward/backward under autocast; weights, losses, norms and optimizer state
    # stay float32. "auto" is bf16 where the device has it in hardware (AMX, a bf16 GPU), else
    # "fp32" (also the choice for exactness checks).
    precision: str = "fp32"
    channels_last: bool = False
    # Compile every network with torch.compile before the first step (`TrainingLoop.run`): on one
    # CPU thread an ELEGANT starter step went 1.07 -> 0.58 s, the fused elementwise work (the
    # float32 norms, autocast's casts, concatenations) being most of a step. It costs a minute or
    # two of compiling at the start, so the test presets leave it off.
    torch_compile: bool = False
    # Intervals of the shared loop, in steps; 0 turns a thing off.
    log_every: int = 10
    sample_every: int = 2000
    eval_every: int = 0
    checkpoint_every: int = 2000
    keep_checkpoints: int = 2
    # Networks (by their checkpoint names) that this run leaves as they are: a fine-tune of the
    # others alone. Their optimizers step at lr 0 (`TrainingLoop`), so gradients still reach the
    # networks before them. A run setting: a fine-tune of this run freezes nothing unless told.
    frozen: tuple[str, ...] = ()
    # Head poses of the synthetic faces a method trains on (`--data synthetic`, and the pairs or
    # blends a starter renders as it trains): "celeba", the near-frontal spread of CelebA crops,
    # or "wide", yaw uniform over +-75 degrees (frontalization needs it; ml.data.world.sampler).
    world_pose: str = "celeba"

    @classmethod
    def preset(cls, name: str = "paper", **overrides: Any):
        """The config of preset `name`, with `overrides` applied last."""
        if name not in cls.PRESETS:
            raise ConfigError(f"{cls.__name__} has no preset {name!r}; presets: {', '.join(cls.PRESETS)}")
        values = {**cls.PRESETS[name], **overrides, "preset_name": name}
        return cls.from_dict(values)

    @classmethod
    def field_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """Build from JSON values; unknown keys are an error (a typo must not pass silently)."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        converted = {name: _from_json(value, hints.get(name)) for name, value in values.items()}
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        return {name: _to_json(getattr(self, name)) for name in self.field_names()}

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.world_pose not in WORLD_POSES:
            raise ConfigError(f"world_pose must be one of {', '.join(WORLD_POSES)}, got {self.world_pose!r}")
        if isinstance(self.frozen, str):  # `--set frozen=decoder` names one network
            self.frozen = (self.frozen,)
        norm = getattr(self, "counterfactual_norm", "l2")  # declared by the methods that train on counterfactuals
        if norm not in COUNTERFACTUAL_NORMS:
            raise ConfigError(f"counterfactual_norm must be 'l1' or 'l2', got {norm!r}")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    return value


def _from_json(value: Any, hint: Any) -> Any:
    # JSON has no tuples: turn lists back into tuples where the field is declared a tuple.
    origin = typing.get_origin(hint)
    if isinstance(value, list) and (origin is tuple or hint is tuple):
        return tuple(value)
    return value
