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


def test_json_round_trip_restores_tuples():
    config = ToyConfig.preset("tiny")
    data = config.to_dict()
    assert data["widths"] == [4, 8]
    assert ToyConfig.from_dict(data) == config
