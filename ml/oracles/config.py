"""The oracles' hyperparameters: one `OracleConfig`, three roles.

    attributes      AttributeNet (residual): attributes, intensities and styles
    identity-loss   IdentityNet, Light CNN-style (max-feature-map), seed 1: what losses use
    identity-eval   IdentityNet, residual, seed 2: what grades the methods, never a teacher

`oracle_config(role, preset, **overrides)` applies the role's defaults, then the preset, then the
overrides. There is no paper to reproduce, so "paper" is the same as "starter".
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ml.config import ConfigError, TrainingConfig

ROLES = ("attributes", "identity-loss", "identity-eval")

# The attributes the method evaluations grade edits of (ml.evaluation: ELEGANT's three, and one
# per HomoInterpGAN group).
GRADED_ATTRIBUTES = ("Bangs", "Eyeglasses", "Mustache", "Smiling", "Blond_Hair", "Young")

ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    # attributes are small details: more steps than identity (~0.35 s a step on a free core)
    "attributes": {"architecture": "residual", "widths": (24, 32, 64, 96, 128), "seed": 0, "steps": 1800,
                   "blur_probability": 0.5},
    "identity-loss": {"architecture": "light", "widths": (24, 48, 96, 128), "seed": 1},
    "identity-eval": {"architecture": "residual", "widths": (16, 32, 64, 96, 128), "seed": 2},
}


@dataclasses.dataclass
class OracleConfig(TrainingConfig):
    method: ClassVar[str] = "oracle"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "starter": {},
        # a few steps on a few faces at 64 px: for tests
        "tiny": {"image_size": 64, "batch_size": 8, "steps": 4, "train_identities": 6, "views": 2,
                 "val_identities": 4, "widths": (8, 8, 16, 16), "embedding_dim": 16, "eval_every": 2,
                 "checkpoint_every": 2, "log_every": 1, "warmup_steps": 1, "precision": "fp32",
                 "channels_last": False},
    }

    role: str = "attributes"
    world_pose: str = "wide"  # oracles grade every pose (their sets, SetSpec, draw the wide spread)
    architecture: str = "residual"  # residual | light
    widths: tuple = (24, 32, 64, 96, 128)
    embedding_dim: int = 128
    image_size: int = 128
    batch_size: int = 64
    steps: int = 600  # ~12 minutes on one shared CPU thread
    lr: float = 2e-3
    warmup_steps: int = 40
    weight_decay: float = 5e-4
    # CosFace head of the identity roles
    margin: float = 0.25
    scale: float = 24.0
    # loss weights of the attribute role
    intensity_weight: float = 1.0
    style_weight: float = 0.5
    positive_weight_cap: float = 1.0  # > 1: rare attributes' positives weigh up to this much more
    # data: `views` renders of each identity (see ml.oracles.data)
    train_identities: int = 1500
    views: int = 4
    val_identities: int = 200
    data_seed: int = 0
    correlation: float = 1.0
    # fraction of training faces with one attribute switched (ml.oracles.data.toggle_attributes);
    # validation stays natural
    toggles: float = 0.0
    toggle_focus: tuple = ()  # half of the switches pick among these (GRADED_ATTRIBUTES, say)
    paired_toggles: bool = False  # train on each face and its switched copy together
    # share of training faces blurred (ml.oracles.training.augment): the attribute oracle grades
    # edits, and a soft smile is still a smile
    blur_probability: float = 0.0
    blur_max_sigma: float = 1.2
    precision: str = "auto"
    channels_last: bool = True
    log_every: int = 25
    sample_every: int = 0
    eval_every: int = 200
    checkpoint_every: int = 50
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role not in ROLES:
            raise ConfigError(f"oracle role must be one of {', '.join(ROLES)}, got {self.role!r}")
        from ml.data.world.params import ATTRIBUTES

        unknown = [name for name in self.toggle_focus if name not in ATTRIBUTES]
        if unknown:
            raise ConfigError(f"toggle_focus names attributes the world does not draw: {', '.join(unknown)}")
        if not 0.0 <= self.blur_probability <= 1.0 or self.blur_max_sigma < 0.3:
            raise ConfigError(f"blur_probability must lie in [0, 1] and blur_max_sigma be at least 0.3 px, "
                              f"got {self.blur_probability} and {self.blur_max_sigma}")
        if self.paired_toggles and not self.toggles:
            raise ConfigError("paired_toggles needs toggles > 0: with nothing switched the pairs are twins")

    @property
    def run_method(self) -> str:
        """The `method` a checkpoint of this role records."""
        return f"oracle-{self.role}"


def oracle_config(role: str, preset: str = "starter", **overrides: Any) -> OracleConfig:
    if role not in ROLES:
        raise ConfigError(f"oracle role must be one of {', '.join(ROLES)}, got {role!r}")
    role_values = dict(ROLE_DEFAULTS[role])
    preset_values = OracleConfig.PRESETS.get(preset, {})
    # the preset's sizes win over the role's, the caller's overrides over both
    values = {**role_values, **preset_values, **overrides, "role": role}
    return OracleConfig.preset(preset, **values)
