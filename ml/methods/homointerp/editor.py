"""HomoInterpGAN editing: one slider per attribute group, each moving the face toward a reference.

Controls, per branch `b` (group names from the config, plus "residual"):
  b              strength v_b in [0, max_strength]; 0 leaves the group alone, 1 takes the
                 reference's attribute, above 1 exaggerates (README: s in [0, 2])
  b_reference    an exemplar id (its latent comes in `references`); the group's reference image
  b_target       with no exemplar: which way the group's mean reference direction moves the
                 face, "Smiling" or "not Smiling": the reference is the source's own F plus the
                 mean latent of training faces that smile minus that of faces that do not (or
                 the reverse), so only the attribute differs; the residual branch moves toward
                 the average face
and once:
  keep_detail    on: the photo plus the decoder's change, x + G(F_out) - G(F); off: G(F_out),
                 as the paper renders (default: the config's `keep_detail`)

Latent: {"features": E(x) (1, C, H/s, W/s), s the latent stride (16, or 8), "image": x, "reconstruction": G(E(x))}; a latent
without the last two (cached by an older FaceLab) renders as G(F_out). A model with decoder skips
also keeps the source's maps the decoder takes ("skip_1", "skip_2", "skip_4", by their stride).
A slider move costs interpolator + decoder; with a `skip_gate` and keep_detail, a decoder pass of two
images, since G(F) is drawn on the maps the edit fades (`HomoInterpGAN.decode_edit_and_source`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ml import checkpoints
from ml.controls import ControlsError, choice, exemplar, object_schema, slider, toggle
from ml.methods.base import Editor, Latent
from ml.methods.homointerp.config import RESIDUAL_NAME, Config
from ml.methods.homointerp.networks import HomoInterpGAN, keep_detail
from ml.nets.layers import fold_batch_norms_
from ml.nets.references import MeanReferences, fit_references
from ml.training.data import images_to_tensor, tensor_to_images
from ml.training.precision import (autocast, inference_channels_last, prepare_input, prepare_network,
                                   resolve_precision)

NOT_PREFIX = "not "
AVERAGE_FACE = "average face"
SKIP_KEYS = ("skip_1", "skip_2", "skip_4")  # the decoder's source maps, by stride
DEPLOY_NETWORKS = ("encoder", "interpolator", "decoder", "references")


class HomoInterpEditor(Editor):
    method = "homointerp"
    alignment = "celeba"

    def __init__(self, model: HomoInterpGAN, config: Config, manifest: Mapping[str, Any] | None = None,
                 device: str | torch.device = "cpu"):
        super().__init__(config.image_size, manifest)
        self.config = config
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.precision = "fp32"
        self.channels_last = False
        self._schema = self._build_schema()

    def set_precision(self, precision: str) -> "HomoInterpEditor":
        """"fp32" (exact), "bf16" (autocast + channels-last: faster on AMX CPUs, outputs within
        a few 1/255 of float32) or "auto" (bf16 where the device has it in hardware). Latents
        stay float32 either way."""
        precision = resolve_precision(precision, self.device)
        self.precision = precision
        self.channels_last = inference_channels_last(precision, self.device)
        for network in (self.model.encoder, self.model.interpolator, self.model.decoder):
            prepare_network(network, self.channels_last, self.device)
        return self

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, checkpoint_dir, device: str = "cpu") -> "HomoInterpEditor":
        checkpoint = checkpoints.load_checkpoint(checkpoint_dir, device=device)
        config = Config.from_dict(checkpoint.manifest.config)
        model = HomoInterpGAN(config)
        weights = {name: checkpoint.weights[name] for name in DEPLOY_NETWORKS if name in checkpoint.weights}
        networks = {"encoder": model.encoder, "interpolator": model.interpolator, "decoder": model.decoder,
                    "references": model.references}
        checkpoints.load_networks(networks, weights, strict=True)
        return cls(model, config, checkpoint.manifest.to_dict(), device)._fold_batch_norms()

    @classmethod
    def from_official(cls, directory, label: str = "latest", device: str = "cpu", **overrides) -> "HomoInterpEditor":
        """An editor on a checkpoint folder written by the official code (no mean references)."""
        from ml.methods.homointerp.official import load_official_directory

        config, weights = load_official_directory(directory, label, **overrides)
        model = HomoInterpGAN(config)
        model.encoder.load_state_dict(weights["encoder"])
        model.interpolator.load_state_dict(weights["interpolator"])
        model.decoder.load_state_dict(weights["decoder"])
        return cls(model, config, {"method": cls.method, "config": config.to_dict(), "source": "official"},
                   device)._fold_batch_norms()

    def _fold_batch_norms(self) -> "HomoInterpEditor":
        """The decoder's batch norms folded into its convs (a third off a bf16 slider render in
        `bench/methods.py`), for an editor that owns its model: one on a trainer's
        (`editor_from_trainer`) must leave them."""
        fold_batch_norms_(self.model)
        return self

    # --- schema ------------------------------------------------------------------------------

    def _group_labels(self) -> dict[str, list[str]]:
        labels = {name: [label for label, _ in group]
                  for name, group in zip(self.config.group_names, self.config.group_labels())}
        if self.config.residual_branch:
            labels[RESIDUAL_NAME] = []
        return labels

    def _build_schema(self) -> dict:
        properties = {}
        for name, labels in self._group_labels().items():
            title = name.replace("_", " ").capitalize()
            properties[name] = slider(title, 0.0, self.config.max_strength, 0.0, attributes=labels,
                                      description="0 keeps the face, 1 takes the reference's "
                                                  + (", ".join(labels) or "other attributes") + ", 2 exaggerates")
            properties[f"{name}_reference"] = exemplar(f"{title} reference", labels[0] if labels else None)
            targets = [option for label in labels for option in (label, NOT_PREFIX + label)] or [AVERAGE_FACE]
            properties[f"{name}_target"] = choice(f"{title} target without a reference", targets)
        properties["keep_detail"] = toggle("Keep photo detail", self.config.keep_detail,
                                           description="add only what the edit changes to the photo, "
                                                       "instead of redrawing the whole face")
        return object_schema(properties)

    def controls_schema(self) -> dict:
        return self._schema

    def branch_of(self, attribute: str) -> str:
        """The slider that moves a CelebA attribute (for evaluation and recipes)."""
        for name, labels in self._group_labels().items():
            if attribute in labels:
                return name
        raise KeyError(f"no group holds {attribute!r}")

    # --- encode / render -----------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, image: np.ndarray) -> Latent:
        image = np.asarray(image)
        if image.shape != (self.image_size, self.image_size, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected a {self.image_size}x{self.image_size}x3 uint8 image, "
                             f"got {image.shape} {image.dtype}")
        source = images_to_tensor(image).contiguous()
        pixels = prepare_input(source, self.channels_last, self.device)
        with autocast(self.precision, self.device):
            features, skips = self.model.encode_with_skips(pixels)
            reconstruction = self.model.decoder(features, skips)
        latent = {"features": features.float().cpu(), "image": source,
                  "reconstruction": reconstruction.float().cpu().contiguous()}
        for name, skip in zip(SKIP_KEYS, skips):
            latent[name] = skip.float().cpu().contiguous()
        return latent

    def _skips(self, latent: Latent) -> list[torch.Tensor]:
        """The source maps a decoder with skips takes, from the latent."""
        names = SKIP_KEYS[:self.model.n_skips]
        missing = [name for name in names if name not in latent]
        if missing:
            raise ValueError(f"this latent lacks {', '.join(missing)}: encode the photo again with this model")
        return [prepare_input(latent[name], self.channels_last, self.device) for name in names]

    @torch.no_grad()
    def fit_references(self, images: np.ndarray, attributes: np.ndarray,
                       names: Sequence[str]) -> dict[str, MeanReferences]:
        """Replace the mean references (moving averages of the training encoder, in train
        mode) by exact means of labelled images under this, the deployed, encoder; returns the
        checkpoint network to store them as."""
        def encode(batch):
            pixels = prepare_input(images_to_tensor(batch), self.channels_last, self.device)
            with autocast(self.precision, self.device):
                return self.model.encoder(pixels)

        return {"references": fit_references(self.model.references, encode, images, attributes, names)}

    def _target_features(self, name: str, controls: Mapping[str, Any], references: Mapping[str, Latent],
                         source: torch.Tensor) -> torch.Tensor:
        reference_id = controls.get(f"{name}_reference")
        if reference_id:
            if reference_id not in references:
                raise ControlsError(f"control '{name}_reference' names exemplar {reference_id!r}, "
                                    "which was not supplied")
            return references[reference_id]["features"].to(self.device)
        target = controls[f"{name}_target"]
        try:
            if target == AVERAGE_FACE:
                return self.model.references.mean("")
            # Not the mean face of the target side: moving toward it also moved the face toward an
            # average identity (starter: identity 0.83 against 0.87 this way, success alike).
            present = not target.startswith(NOT_PREFIX)
            return source + self.model.references.direction(target.removeprefix(NOT_PREFIX), present)
        except LookupError as error:
            raise ControlsError(f"slider '{name}' needs a reference image: this model has no mean "
                                f"reference ({error})") from None

    @torch.no_grad()
    def render_features(self, latent: Latent, controls: Mapping[str, Any],
                        references: Mapping[str, Latent] | None = None) -> torch.Tensor:
        """The edited latent F_out for validated-or-not controls."""
        return self._edited_features(latent, self.validate(controls), references or {})

    def _edited_features(self, latent: Latent, controls: Mapping[str, Any],
                         references: Mapping[str, Latent]) -> torch.Tensor:
        """F_out for controls already validated."""
        source = latent["features"].to(self.device)
        names = self.config.branch_names
        strengths = torch.zeros(1, len(names), device=self.device)
        targets = torch.zeros(1, len(names), *source.shape[1:], device=self.device)
        for k, name in enumerate(names):
            if controls[name] == 0:
                continue
            strengths[0, k] = float(controls[name])
            targets[0, k] = self._target_features(name, controls, references, source)[0]
        with autocast(self.precision, self.device):
            return self.model.interpolator(source, targets, strengths).float()

    def edits_in_place(self, controls: Mapping[str, Any]) -> bool:
        return bool(self.validate(controls)["keep_detail"])  # x + G(F_out) - G(F); off, G(F_out) redraws

    def render(self, latent: Latent, controls: Mapping[str, Any],
               references: Mapping[str, Latent] | None = None) -> np.ndarray:
        controls = self.validate(controls)
        return self._draw(latent, self._edited_features(latent, controls, references or {}), controls)

    def render_edited_features(self, latent: Latent, edited: torch.Tensor,
                               controls: Mapping[str, Any] | None = None) -> np.ndarray:
        """The photo of `latent` drawn with its features replaced by `edited` (what a perfect
        interpolator would give, for the evaluation's ceilings), rendered as an edit is."""
        return self._draw(latent, edited, self.validate(controls or {}))

    @torch.no_grad()
    def _draw(self, latent: Latent, edited: torch.Tensor, controls: Mapping[str, Any]) -> np.ndarray:
        edited = prepare_input(edited, self.channels_last, self.device)
        source, skips = latent["features"].to(self.device), self._skips(latent)
        detail = controls["keep_detail"] and "image" in latent and "reconstruction" in latent
        # an edit past a gate needs G(F) on its faded maps too; with no edit the encode's serves
        refade = detail and self.model.skip_gate and not torch.equal(edited, source)
        with autocast(self.precision, self.device):
            if refade:
                drawn, reconstruction = self.model.decode_edit_and_source(edited, source, skips)
            else:
                drawn, reconstruction = self.model.decode_edit(edited, source, skips), latent.get("reconstruction")
        image = drawn.float().cpu()
        if detail:
            image = keep_detail(latent["image"], image, reconstruction.float().cpu())
        return tensor_to_images(image)[0]


def editor_from_trainer(trainer, manifest: Mapping[str, Any] | None = None) -> HomoInterpEditor:
    """An editor sharing a trainer's networks (for samples and tests)."""
    return HomoInterpEditor(trainer.model, trainer.config, manifest)


def load_editor(path: str | Path, device: str = "cpu") -> HomoInterpEditor:
    return HomoInterpEditor.from_checkpoint(path, device)
