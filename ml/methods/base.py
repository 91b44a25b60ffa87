"""The one contract every method package follows.

A method package `ml/methods/<name>/` holds `config.py` (a `Config` dataclass with presets),
`networks.py`, `losses.py`, `training.py` (a `Trainer` on the shared loop) and `editor.py`
(an `Editor`), and its `__init__.py` exposes `METHOD = Method(...)` for the registry.

Images cross this boundary as numpy uint8 arrays, H x W x 3, RGB, already aligned the way
`Editor.alignment` names ("celeba" crop for ELEGANT / HomoInterpGAN / TL-GAN, "ffhq" for pSp,
"multipie" for TP-GAN) at `Editor.image_size`. Latents are dicts of tensors, so any of them can
be cached or stored as safetensors without pickling.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Mapping

import numpy as np
import torch

from ml.controls import exemplar_ids, validate_controls

Latent = dict[str, torch.Tensor]


class Editor(abc.ABC):
    """Turns an aligned photo into a latent once, then renders it under many controls."""

    method: str = ""
    alignment: str = "celeba"

    def __init__(self, image_size: int, manifest: Mapping[str, Any] | None = None):
        self.image_size = image_size
        self.manifest = dict(manifest or {})
        self._default_overrides: dict[str, Any] = {}

    @abc.abstractmethod
    def controls_schema(self) -> dict:
        """The controls this editor understands (see ml.controls)."""

    @abc.abstractmethod
    def encode(self, image: np.ndarray) -> Latent:
        """Encode one aligned RGB uint8 image (H x W x 3) into a latent."""

    @abc.abstractmethod
    def render(self, latent: Latent, controls: Mapping[str, Any],
               references: Mapping[str, Latent] | None = None) -> np.ndarray:
        """Decode `latent` under `controls` into an RGB uint8 image.

        `references` maps the ids that exemplar controls name to their encoded latents; the
        caller (the web engine) resolves and encodes them, with the same editor.
        """

    def edits_in_place(self, controls: Mapping[str, Any]) -> bool:
        """Whether a render under `controls` is its input plus a change drawn in the input's own
        geometry (a residual), so the change can be laid on a larger copy of the photo
        (`lay_change_on`). Editors whose render redraws the face (a frontalization) say no."""
        return False

    def set_precision(self, precision: str) -> "Editor":
        """"fp32", "bf16" (autocast + channels-last) or "auto" (bf16 where the hardware has it).
        Editors that gain from bf16 override this."""
        return self

    def validate(self, controls: Any) -> dict:
        """Controls with defaults filled in, or ControlsError with the reason."""
        if self._default_overrides and isinstance(controls, Mapping):
            controls = {**self._default_overrides, **controls}
        return validate_controls(self.controls_schema(), controls)

    def set_defaults(self, controls: Mapping[str, Any]) -> "Editor":
        """Use these values wherever a render does not set the control (an evaluation of the
        editor with a switch flipped, say); `describe()` shows them as the defaults."""
        checked = validate_controls(self.controls_schema(), dict(controls))
        self._default_overrides.update({name: checked[name] for name in controls})
        return self

    def referenced_ids(self, controls: Mapping[str, Any]) -> list[str]:
        """The exemplar ids that `controls` refer to, in schema order."""
        return exemplar_ids(self.controls_schema(), dict(controls))

    def describe(self) -> dict:
        schema = self.controls_schema()
        if self._default_overrides:
            properties = {name: {**spec, "default": self._default_overrides.get(name, spec.get("default"))}
                          for name, spec in schema["properties"].items()}
            schema = {**schema, "properties": properties}
        return {"method": self.method, "image_size": self.image_size, "alignment": self.alignment,
                "controls": schema}


def lay_change_on(photo: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`photo` plus the change an editor made from `before` (its input, `photo` at the editor's
    size) to `after` (its render), upsampled to the photo's size: the edit at the photo's
    resolution, with the photo's own detail wherever the edit changed nothing."""
    if photo.shape == after.shape:
        return after
    # copies, as float: crops may be read-only arrays
    full, small, edited_small = (torch.tensor(image, dtype=torch.float32) for image in (photo, before, after))
    change = (edited_small - small).permute(2, 0, 1)[None]
    change = torch.nn.functional.interpolate(change, size=photo.shape[:2], mode="bilinear", align_corners=False)
    edited = change[0].permute(1, 2, 0).add_(full)
    return edited.round_().clamp_(0, 255).to(torch.uint8).numpy()


@dataclasses.dataclass(frozen=True)
class Method:
    """What the registry knows of a method."""

    name: str
    title: str
    summary: str
    config_class: type
    editor_class: type[Editor]
    trainer_class: type | None = None
    alignment: str = "celeba"

    def config(self, preset: str = "paper", **overrides: Any):
        return self.config_class.preset(preset, **overrides)

    def load_editor(self, checkpoint_dir, device: str = "cpu") -> Editor:
        return self.editor_class.from_checkpoint(checkpoint_dir, device=device)

    def untrained_checkpoint(self, directory, preset: str = "tiny", seed: int = 0, **overrides: Any):
        """Write a checkpoint of freshly initialised networks: for tests and demos of the editor
        before a model is trained. Its manifest says `untrained` so nobody mistakes it for a model."""
        from ml.checkpoints import Manifest, save_checkpoint

        torch.manual_seed(seed)
        config = self.config(preset, **overrides)
        trainer = self.trainer_class(config)
        manifest = Manifest.create(self.name, config.to_dict(), steps=0)
        manifest.metrics["untrained"] = True
        save_checkpoint(directory, trainer.networks(), manifest)
        return directory
