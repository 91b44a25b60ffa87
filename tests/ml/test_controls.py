"""The controls-schema language: defaults, ranges, types and unknown names."""
import math

import pytest

from ml.controls import ControlsError, choice, exemplar, object_schema, slider, validate_controls

SCHEMA = object_schema({
    "Smiling": slider("Smiling", 0, 2, default=0.5),
    "Bangs": exemplar("Bangs exemplar", attribute="Bangs"),
    "task": choice("Task", ["inversion", "frontalize"]),
})


def test_missing_controls_take_their_defaults():
    assert validate_controls(SCHEMA, {}) == {"Smiling": 0.5, "Bangs": None, "task": "inversion"}


def test_values_in_range_pass_through():
    controls = {"Smiling": 2, "Bangs": "ex-12", "task": "frontalize"}
    assert validate_controls(SCHEMA, controls) == controls


@pytest.mark.parametrize("controls, reason", [
    ({"Smiling": 2.5}, "above its maximum 2"),
    ({"Smiling": -1}, "below its minimum 0"),
    ({"Smiling": "lots"}, "must be number"),
    ({"Smiling": True}, "must be number"),
    ({"Smiling": math.nan}, "finite"),
    ({"task": "paint"}, "must be one of"),
    ({"Bangs": 7}, "must be string or null"),
    ({"Grin": 1}, "unknown control(s): Grin"),
    ([1, 2], "controls must be an object"),
])
def test_controls_outside_the_schema_are_refused_with_the_reason(controls, reason):
    with pytest.raises(ControlsError) as error:
        validate_controls(SCHEMA, controls)
    assert reason in str(error.value)
