"""ml.config: presets, overrides and the JSON round trip every manifest relies on."""
import dataclasses
from typing import ClassVar

import pytest

from ml.config import ConfigError, TrainingConfig


@dataclasses.dataclass
class ToyConfig(TrainingConfig):
    method: ClassVar[str] = "toy"
    PRESETS: ClassVar[dict] = {"paper": {}, "tiny": {"image_size": 32, "widths": (4, 8)}}
    widths: tuple[int, ...] = (64, 128)


def test_paper_preset_is_the_defaults():
    assert ToyConfig.preset("paper") == ToyConfig(preset_name="paper")


def test_preset_then_overrides():
    config = ToyConfig.preset("tiny", batch_size=3)
    assert (config.image_size, config.widths, config.batch_size, config.preset_name) == (32, (4, 8), 3, "tiny")


def test_unknown_preset_and_field_are_refused():
    with pytest.raises(ConfigError, match="no preset 'huge'"):
        ToyConfig.preset("huge")
    with pytest.raises(ConfigError, match="no field"):
        ToyConfig.preset("tiny", imgae_size=8)
    with pytest.raises(ConfigError, match="precision"):
        ToyConfig.preset("tiny", precision="fp8")
    with pytest.raises(ConfigError, match="world_pose must be one of wide, celeba"):
        ToyConfig.preset("tiny", world_pose="profile")


def test_json_round_trip_restores_tuples():
    config = ToyConfig.preset("tiny")
    data = config.to_dict()
    assert data["widths"] == [4, 8]
    assert ToyConfig.from_dict(data) == config


def test_auto_precision_is_bf16_only_where_the_hardware_has_it():
    import torch

    from ml.training.precision import autocast, has_fast_bf16, resolve_precision

    assert ToyConfig.preset("tiny", precision="auto").precision == "auto"
    with pytest.raises(ConfigError, match="precision"):
        ToyConfig.preset("tiny", precision="fp16")
    native = "bf16" if has_fast_bf16("cpu") else "fp32"
    assert resolve_precision("auto", "cpu") == native
    assert (resolve_precision("fp32"), resolve_precision("bf16")) == ("fp32", "bf16")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("half")
    with autocast("auto"):
        product = torch.ones(4, 4) @ torch.ones(4, 4)
    assert product.dtype == (torch.bfloat16 if native == "bf16" else torch.float32)
