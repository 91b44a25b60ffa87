"""The controls-schema language shared by every method's Editor.

A schema is a small, JSON-serialisable subset of JSON Schema that the editor page turns into
widgets and that recipes are validated against:

    {"type": "object",
     "properties": {
        "Smiling":  {"type": "number", "minimum": 0, "maximum": 2, "default": 0,
                     "title": "Smiling", "widget": "slider", "step": 0.01},
        "exemplar": {"type": ["string", "null"], "default": None, "widget": "exemplar",
                     "attribute": "Bangs"},
        "task":     {"type": "string", "enum": ["inversion", "frontalize"], "default": "inversion",
                     "widget": "choice"},
        "flag":     {"type": "boolean", "default": False, "widget": "toggle"}},
     "additionalProperties": False}

`validate_controls` fills defaults and raises `ControlsError` with a reason a person can read.
"""
from __future__ import annotations

import math
from typing import Any


class ControlsError(ValueError):
    """Controls that do not fit a method's schema."""


_JSON_TYPES = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def _type_names(spec: dict) -> list[str]:
    kind = spec.get("type", "number")
    return kind if isinstance(kind, list) else [kind]


def _matches(value: Any, kind: str) -> bool:
    if kind in ("number", "integer") and isinstance(value, bool):
        return False  # bool is an int in Python but not in JSON
    return isinstance(value, _JSON_TYPES[kind])


def _check_value(name: str, value: Any, spec: dict) -> Any:
    kinds = _type_names(spec)
    if not any(_matches(value, kind) for kind in kinds):
        raise ControlsError(f"control '{name}' must be {' or '.join(kinds)}, got {type(value).__name__}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ControlsError(f"control '{name}' must be a finite number")
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and value < low:
            raise ControlsError(f"control '{name}' is {value}, below its minimum {low}")
        if high is not None and value > high:
            raise ControlsError(f"control '{name}' is {value}, above its maximum {high}")
    if "enum" in spec and value not in spec["enum"]:
        raise ControlsError(f"control '{name}' must be one of {spec['enum']}, got {value!r}")
    if isinstance(value, str) and len(value) > spec.get("maxLength", 200):
        raise ControlsError(f"control '{name}' is longer than {spec.get('maxLength', 200)} characters")
    return value


def validate_controls(schema: dict, controls: Any) -> dict:
    """Return a complete copy of `controls` (defaults filled in) or raise ControlsError."""
    if controls is None:
        controls = {}
    if not isinstance(controls, dict):
        raise ControlsError(f"controls must be an object, got {type(controls).__name__}")
    properties: dict = schema.get("properties", {})
    unknown = sorted(set(controls) - set(properties))
    if unknown and not schema.get("additionalProperties", False):
        raise ControlsError(f"unknown control(s): {', '.join(unknown)}; known: {', '.join(sorted(properties))}")
    result = {}
    for name, spec in properties.items():
        if name in controls:
            result[name] = _check_value(name, controls[name], spec)
        elif "default" in spec:
            result[name] = spec["default"]
        elif name in schema.get("required", []):
            raise ControlsError(f"control '{name}' is required")
    return result


def slider(title: str, minimum: float = 0.0, maximum: float = 1.0, default: float = 0.0,
           step: float = 0.01, **extra: Any) -> dict:
    """A number control drawn as a slider."""
    return {"type": "number", "title": title, "minimum": minimum, "maximum": maximum,
            "default": default, "step": step, "widget": "slider", **extra}


def choice(title: str, options: list[str], default: str | None = None, **extra: Any) -> dict:
    """A string control drawn as a drop-down or radio group."""
    return {"type": "string", "title": title, "enum": list(options),
            "default": options[0] if default is None else default, "widget": "choice", **extra}


def toggle(title: str, default: bool = False, **extra: Any) -> dict:
    """An on/off control drawn as a switch."""
    return {"type": "boolean", "title": title, "default": bool(default), "widget": "toggle", **extra}


def exemplar(title: str, attribute: str | None = None, presets: dict[str, str] | None = None,
             **extra: Any) -> dict:
    """A reference-image control: the id of an exemplar (or photo), or null for none.
    `presets` maps values that name no image (such as "mean", an average face the model keeps)
    to what the picker calls them; they are offered beside the gallery."""
    spec = {"type": ["string", "null"], "title": title, "default": None, "widget": "exemplar",
            "attribute": attribute, "maxLength": 64, **extra}
    if presets:
        spec["presets"] = [{"value": value, "label": text} for value, text in presets.items()]
    return spec


def exemplar_ids(schema: dict, controls: dict) -> list[str]:
    """The exemplar ids that `controls` refer to, in schema order (presets name no exemplar)."""
    ids = []
    for name, spec in schema.get("properties", {}).items():
        value = controls.get(name)
        presets = {preset["value"] for preset in spec.get("presets", ())}
        if spec.get("widget") == "exemplar" and value and value not in presets:
            ids.append(str(value))
    return ids


def object_schema(properties: dict, **extra: Any) -> dict:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}
