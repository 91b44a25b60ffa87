"""ELEGANT's editor: a photo's latent blocks moved toward exemplars' blocks.

Controls, per attribute (e.g. "Bangs"):
    Bangs_exemplar  id of an exemplar photo whose bangs to take, "mean" for the average face
                    with bangs or "mean_without" for the average face without them (where the
                    checkpoint keeps the means), or null for no change
    Bangs_strength  how far the block moves toward the exemplar's: 0 = unchanged, 1 = the
                    paper's swap, >1 extrapolates (the official --linear mode, as a slider)

The latent keeps the image and the skips, so a slider move costs one decode. Where the model
splits its skips into attribute blocks too (`swap_skips`), an edit moves those with z's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ml import checkpoints
from ml.controls import ControlsError, exemplar, object_schema, slider
from ml.methods.base import Editor, Latent
from ml.methods.elegant.config import Config
from ml.methods.elegant.networks import (Codes, Generator, build_generator, build_references,
                                         build_skip_references)
from ml.nets.references import MeanReferences, fit_references
from ml.training.data import images_to_tensor, tensor_to_images
from ml.training.precision import (autocast, inference_channels_last, prepare_input, prepare_network,
                                   resolve_precision)

MAX_STRENGTH = 1.5
AVERAGE = "mean"  # the exemplar value that names the average face with an attribute
AVERAGE_WITHOUT = "mean_without"  # and the average face without it: a removal needs no photo


class ElegantEditor(Editor):
    method = "elegant"
    alignment = "celeba"

    def __init__(self, generator: Generator, config: Config, manifest: Mapping[str, Any] | None = None,
                 device: str | torch.device = "cpu", references: MeanReferences | None = None,
                 skip_references: torch.nn.ModuleList | None = None):
        super().__init__(config.image_size, manifest)
        self.config = config
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval().requires_grad_(False)
        # the mean z with each attribute, where the checkpoint has them (official ones do not)
        self.references = references.to(self.device) if references is not None else None
        # and of each swapped skip (`swap_skips`), which the average moves as well
        self.skip_references = skip_references.to(self.device) if skip_references is not None else None
        self.precision = "fp32"
        self.channels_last = False

    def set_precision(self, precision: str) -> "ElegantEditor":
        """"fp32" (exact), "bf16" (autocast + channels-last: faster on AMX CPUs, outputs within
        a few 1/255 of float32) or "auto" (bf16 where the device has it in hardware). Latents
        encoded under one precision render under the other."""
        precision = resolve_precision(precision, self.device)
        self.precision = precision
        self.channels_last = inference_channels_last(precision, self.device)
        prepare_network(self.generator, self.channels_last, self.device)
        return self

    @classmethod
    def from_checkpoint(cls, directory: str | Path, device: str | torch.device = "cpu") -> "ElegantEditor":
        checkpoint = checkpoints.load_checkpoint(directory, device=device)
        if checkpoint.manifest.method != cls.method:
            raise checkpoints.CheckpointError(f"{directory} is a {checkpoint.manifest.method!r} checkpoint, "
                                              "not an ELEGANT one")
        config = Config.from_dict(checkpoint.manifest.config)
        generator = build_generator(config)
        checkpoints.load_networks({"encoder": generator.encoder, "decoder": generator.decoder}, checkpoint.weights)
        references = skip_references = None
        if "references" in checkpoint.weights:
            references = build_references(config)
            checkpoints.load_networks({"references": references}, checkpoint.weights)
        if "skip_references" in checkpoint.weights:
            skip_references = build_skip_references(config)
            checkpoints.load_networks({"skip_references": skip_references}, checkpoint.weights)
        return cls(generator, config, checkpoint.manifest.to_dict(), device, references, skip_references)

    # schema -------------------------------------------------------------------------------------

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.config.attributes)

    def has_average(self, attribute: str, present: bool = True) -> bool:
        if self.generator.swapped_skips and self.skip_references is None:
            return False  # the average of z alone would leave the skips' blocks where they are
        return self.references is not None and self.references.has(attribute, present)

    def controls_schema(self) -> dict:
        properties = {}
        for name in self.attributes:
            label = name.replace("_", " ")
            averages = ((AVERAGE, f"average {label}", True), (AVERAGE_WITHOUT, f"average without {label}", False))
            presets = {value: text for value, text, present in averages if self.has_average(name, present)}
            properties[f"{name}_exemplar"] = exemplar(f"{label}: exemplar", attribute=name, presets=presets or None)
            properties[f"{name}_strength"] = slider(f"{label}: strength", 0.0, MAX_STRENGTH, 1.0,
                                                    attribute=name)
        return object_schema(properties)

    # encode / render ----------------------------------------------------------------------------

    def _to_tensor(self, image: np.ndarray) -> torch.Tensor:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 H x W x 3 image, got {image.dtype} {image.shape}")
        if image.shape[:2] != (self.image_size, self.image_size):
            raise ValueError(f"expected a {self.image_size}x{self.image_size} aligned face, got "
                             f"{image.shape[1]}x{image.shape[0]}")
        return prepare_input(images_to_tensor(image), self.channels_last, self.device)

    @torch.no_grad()
    def encode(self, image: np.ndarray) -> Latent:
        pixels = self._to_tensor(image)
        with autocast(self.precision, self.device):
            z, skips = self.generator.encode(pixels)
        # float32 latents, whatever the precision: they are cached, blended and stored
        return {"image": pixels, "z": z.float(), **{f"skip{i}": skip.float() for i, skip in enumerate(skips)}}

    @torch.no_grad()
    def fit_references(self, images: np.ndarray, attributes: np.ndarray,
                       names: Sequence[str]) -> dict[str, torch.nn.Module]:
        """Average faces with and without each attribute, exactly, from labelled images: the
        checkpoint networks to store ("references", and "skip_references" where skips swap)."""
        swapped = self.generator.swapped_skips

        def encoding(part: int):
            def encode(batch):
                pixels = prepare_input(images_to_tensor(batch), self.channels_last, self.device)
                with autocast(self.precision, self.device):
                    z, skips = self.generator.encode(pixels)
                return z if part < 0 else skips[part]
            return encode

        self.references = fit_references(build_references(self.config).to(self.device), encoding(-1),
                                         images, attributes, names)
        fitted = {"references": self.references}
        if swapped:
            self.skip_references = build_skip_references(self.config).to(self.device)
            for references, index in zip(self.skip_references, swapped):
                fit_references(references, encoding(index), images, attributes, names)
            fitted["skip_references"] = self.skip_references
        return fitted

    def _skips(self, latent: Latent) -> list[torch.Tensor]:
        return [latent[f"skip{i}"] for i in range(len(self.config.encoder_channels) - 1)]

    def _codes(self, latent: Latent) -> Codes:
        return latent["z"], self._skips(latent)

    def _average(self, attribute: str, present: bool = True) -> Codes:
        """The mean face with `attribute` (or without it), as codes (skips that never swap left out)."""
        skips: list[torch.Tensor | None] = [None] * (len(self.config.encoder_channels) - 1)
        for references, index in zip(self.skip_references or (), self.generator.swapped_skips):
            skips[index] = references.mean(attribute, present)
        return self.references.mean(attribute, present), skips

    @torch.no_grad()
    def decode(self, latent: Latent, codes: Codes) -> np.ndarray:
        z_edited, skips = codes
        with autocast(self.precision, self.device):
            image = self.generator.decode(latent["image"], z_edited, latent["z"], skips)
        return tensor_to_images(image.float())[0]

    def edited_codes(self, latent: Latent, controls: Mapping[str, Any],
                     references: Mapping[str, Latent] | None = None) -> Codes:
        """z and the skips after applying every attribute's exemplar and strength."""
        controls = self.validate(controls)
        references = references or {}
        codes = self._codes(latent)
        for index, name in enumerate(self.attributes):
            exemplar_id = controls[f"{name}_exemplar"]
            strength = float(controls[f"{name}_strength"])
            if exemplar_id is None or strength == 0.0:
                continue
            present = exemplar_id == AVERAGE
            if exemplar_id in (AVERAGE, AVERAGE_WITHOUT) and self.has_average(name, present):
                # the mean face with (or without) the attribute: its common look, nobody's in particular
                codes = self.generator.blend(codes, self._average(name, present), index, strength)
                continue
            if exemplar_id not in references:
                raise ControlsError(f"control '{name}_exemplar' names exemplar {exemplar_id!r}, "
                                    "but no encoded latent was given for it")
            codes = self.generator.blend(codes, self._codes(references[exemplar_id]), index, strength)
        return codes

    def render(self, latent: Latent, controls: Mapping[str, Any],
               references: Mapping[str, Latent] | None = None) -> np.ndarray:
        return self.decode(latent, self.edited_codes(latent, controls, references))

    def edits_in_place(self, controls: Mapping[str, Any]) -> bool:
        return True  # the decoder's output is a residual added to the input

    # the paper's figures ------------------------------------------------------------------------

    def swap(self, latent_a: Latent, latent_b: Latent, attribute: str) -> tuple[np.ndarray, np.ndarray]:
        """(A wearing B's attribute, B wearing A's): the official --swap mode."""
        index = self.attributes.index(attribute)
        codes_c, codes_d = self.generator.swap(self._codes(latent_a), self._codes(latent_b), index)
        return self.decode(latent_a, codes_c), self.decode(latent_b, codes_d)

    def interpolation_matrix(self, latent: Latent, reference_row: Latent, reference_column: Latent,
                             attributes: Sequence[str], size: int = 4) -> np.ndarray:
        """The paper's two-attribute matrix: cell (r, c) moves attributes[0]'s block r/(size-1) of
        the way to reference_row's and attributes[1]'s block c/(size-1) to reference_column's.
        Returns uint8 size x size x H x W x 3 (cell (0, 0) is the input's reconstruction)."""
        first, second = (self.attributes.index(name) for name in attributes)
        blend = self.generator.blend
        steps = np.linspace(0.0, 1.0, size)
        rows = []
        for a in steps:
            row = blend(self._codes(latent), self._codes(reference_row), first, float(a))
            rows.append([self.decode(latent, blend(row, self._codes(reference_column), second, float(b)))
                         for b in steps])
        return np.stack([np.stack(row) for row in rows])
