"""ELEGANT's trainer on the shared loop: one attribute per loop step, in turn.

An update for attribute i (the official `train` loop body):
  1. A = images that have attribute i, B = images that lack it (batch_size each);
  2. encode both, swap block i: C = A without it (block from B), D = B with it (block from A);
  3. decode residuals, add them to the inputs: A', B' (reconstructions), C, D (swapped);
  4. update D1 + D2 on real (A, y_A), (B, y_B) and detached fakes (C, y_C), (D, y_D), where y_C
     is y_A with label i taken from y_B (and y_D the other way round);
  5. update encoder + decoder against the just-updated critics.
The official code does all attributes in one "step"; here a loop step is one attribute, so the
StepLR schedule advances once every len(attributes) loop steps.

With `counterfactual_weight` > 0 (the starter preset, not the paper) A and B come from the
synthetic world with the true C and D (`ml.training.counterfactuals`), and the generator's loss
adds that weight times the squared error of the swaps to them (the changed pixels weighted up).
With `style_weight` / `style_cycle_weight` > 0 it also adds the style read-out's cross-entropy on
A's block and on the block of D encoded again (`StyleReadout`), both toward A's true style.
With `skip_gates` the decoder fades the receiver's skips where the edit redraws (`SkipGates`),
and `skip_gate_weight` teaches the gates each swap's true change mask. With `swap_skips` a swap
exchanges the split skips' blocks too; with `image_skip` the decoder also sees the input image,
and with `image_skip_erase` gates a median's erasure, the gate taught by `erase_gate_weight`.
With `classifier_weight` > 0 an attribute classifier learns the labels of A and B (step 4) and
the generator's loss adds its cross-entropy on C and D toward y_C and y_D (step 5).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ml.methods.elegant import losses
from ml.methods.elegant.config import Config
from ml.methods.elegant.networks import (build_classifier, build_discriminators, build_generator,
                                         build_references, build_skip_references, build_style_readout,
                                         median_filter)
from ml.training.counterfactuals import CounterfactualPairs, change_mask, counterfactual_loss
from ml.training.data import BatchStream, ImageAttributeSet, InMemoryBatches, images_to_tensor
from ml.training.images import make_grid
from ml.training.loop import TrainingTask, seed_everything
from ml.training.precision import autocast, prepare_input, prepare_network


def labels_to_01(attributes: torch.Tensor) -> torch.Tensor:
    """CelebA's -1/+1 labels -> the 0/1 labels the critics are conditioned on."""
    return (attributes.float() + 1.0) / 2.0


class ElegantTrainer(TrainingTask):
    method = "elegant"

    def __init__(self, config: Config, device: str | torch.device = "cpu"):
        super().__init__(config, device)
        seed_everything(config.seed)
        self.generator = prepare_network(build_generator(config), config.channels_last, device)
        self.critic_full, self.critic_half = (prepare_network(d, config.channels_last, device)
                                              for d in build_discriminators(config))
        self.references = build_references(config).to(device)
        skip_references = build_skip_references(config)
        self.skip_references = skip_references.to(device) if skip_references is not None else None
        self.style_readout = (build_style_readout(config).to(device)
                              if config.style_weight or config.style_cycle_weight else None)
        adam = dict(lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
        # layers not in the paper, often added to a trained decoder, learn at a multiple of the lr
        decoder = self.generator.decoder
        added = [(module, scale) for module, scale in ((decoder.gates, config.skip_gate_lr_scale),
                                                       (decoder.image_skip, config.image_skip_lr_scale))
                 if module is not None]
        added_ids = {id(p) for module, _ in added for p in module.parameters()}
        trained = [p for p in self.generator.parameters() if id(p) not in added_ids]
        trained += list(self.style_readout.parameters()) if self.style_readout else []
        groups = [{"params": trained}]
        groups += [{"params": list(module.parameters()), "lr": config.lr * scale} for module, scale in added]
        self.optimizer_g = torch.optim.Adam(groups, **adam)
        self.optimizer_d = torch.optim.Adam([*self.critic_full.parameters(), *self.critic_half.parameters()], **adam)
        self.classifier = (prepare_network(build_classifier(config), config.channels_last, device)
                           if config.classifier_weight else None)
        self.optimizer_c = torch.optim.Adam(self.classifier.parameters(), **adam) if self.classifier else None
        n = len(config.attributes)
        # StepLR counted in loop steps: step_size official steps x n attributes.
        self.scheduler_g = torch.optim.lr_scheduler.StepLR(self.optimizer_g, config.lr_step * n, config.lr_gamma)
        self.scheduler_d = torch.optim.lr_scheduler.StepLR(self.optimizer_d, config.lr_step * n, config.lr_gamma)
        self.eval_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    # contract with the loop ---------------------------------------------------------------------

    def networks(self) -> dict[str, torch.nn.Module]:
        networks = {"encoder": self.generator.encoder, "decoder": self.generator.decoder,
                    "d1": self.critic_full, "d2": self.critic_half, "references": self.references}
        if self.skip_references is not None:
            networks["skip_references"] = self.skip_references
        if self.style_readout is not None:
            networks["style_readout"] = self.style_readout
        if self.classifier is not None:
            networks["classifier"] = self.classifier
        return networks

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": self.optimizer_g, "discriminator": self.optimizer_d}
        if self.optimizer_c is not None:
            optimizers["classifier"] = self.optimizer_c
        return optimizers

    def schedulers(self) -> dict[str, Any]:
        return {"generator": self.scheduler_g, "discriminator": self.scheduler_d}

    def make_batches(self, dataset: ImageAttributeSet, seed: int | None = None):
        """Batches of this config's attribute columns, two sides' worth per draw; with a
        counterfactual weight, pairs rendered by the synthetic world instead (the dataset then
        serves only the held-out metric)."""
        if self.config.counterfactual_weight > 0:
            return CounterfactualPairs(self.config.attributes, self.config.image_size, self.config.batch_size,
                                       seed=self.config.seed if seed is None else seed, pose=self.config.world_pose,
                                       same_person=self.config.counterfactual_same_person)
        attributes = dataset.select(self.config.attributes)
        return InMemoryBatches(dataset.images, attributes, 2 * self.config.batch_size,
                               seed=self.config.seed if seed is None else seed)

    def use_held_out(self, dataset: ImageAttributeSet) -> None:
        """Keep up to 32 held-out images for the in-loop reconstruction metric."""
        if len(dataset):
            labels = torch.as_tensor(dataset.select(self.config.attributes)[:32])
            self.eval_batch = (images_to_tensor(dataset.images[:32]), labels)

    # one update -----------------------------------------------------------------------------------

    def draw_pair(self, batches: BatchStream, attribute: int):
        """Up to batch_size images with and without `attribute`, from as few draws as it takes."""
        want = self.config.batch_size
        positives, negatives = [], []
        have_pos = have_neg = 0
        for _ in range(self.config.max_draws):
            images, labels = batches.next()
            has = labels[:, attribute] > 0
            positives.append((images[has], labels[has]))
            negatives.append((images[~has], labels[~has]))
            have_pos += int(has.sum())
            have_neg += int((~has).sum())
            if have_pos >= want and have_neg >= want:
                break
        if have_pos == 0 or have_neg == 0:
            return None
        count = min(want, have_pos, have_neg)  # equal sides, as the official batches are
        a = [torch.cat([x for x, _ in positives])[:count], torch.cat([y for _, y in positives])[:count]]
        b = [torch.cat([x for x, _ in negatives])[:count], torch.cat([y for _, y in negatives])[:count]]
        return a, b

    def forward(self, image_a, image_b, attribute: int):
        """Encode, swap block `attribute`, decode: (A', B', C, D)."""
        return self.forward_with_latents(image_a, image_b, attribute)[0]

    def forward_with_latents(self, image_a, image_b, attribute: int, return_fades: bool = False):
        """((A', B', C, D), (z, skips) of A and B), and with `return_fades` the skip gates' fade
        logits of the four decodes (`SkipGates`; an empty list without gates).

        A and B go through the encoder as one batch, and the four decodes as another: the
        normalisation is per pixel with no batch statistics, so this equals separate passes,
        and larger batches keep the CPU's matrix units busy."""
        generator = self.generator
        count = image_a.shape[0]
        z, skips = generator.encode(torch.cat([image_a, image_b]))
        (z_c, skips_c), (z_d, skips_d) = generator.swap((z[:count], [skip[:count] for skip in skips]),
                                                        (z[count:], [skip[count:] for skip in skips]), attribute)
        images = torch.cat([image_a, image_b, image_a, image_b])
        outputs, fades = generator.decode(images, torch.cat([z, z_c, z_d]), torch.cat([z, z]),
                                          [torch.cat(parts) for parts in zip(skips, skips_c, skips_d)],
                                          return_fades=True)
        if return_fades:
            return outputs.split(count), (z, skips), fades
        return outputs.split(count), (z, skips)

    def _critics(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]):
        """Each critic's logits for each (image, label) pair, from one batched call per critic."""
        images = torch.cat([image for image, _ in pairs])
        labels = torch.cat([label for _, label in pairs])
        sizes = [image.shape[0] for image, _ in pairs]
        full = self.critic_full(images, labels).split(sizes)
        half = self.critic_half(images, labels).split(sizes)
        return full, half

    def train_step(self, batches: BatchStream, step: int) -> Mapping[str, float]:
        config = self.config
        targets, styles = None, {}
        if config.counterfactual_weight > 0:
            pairs = batches.next()
            styles = {key: ids.to(self.device) for key, ids in pairs.styles_a.items()}
            attribute = pairs.attribute
            (image_a, label_a), (image_b, label_b) = (pairs.image_a, pairs.labels_a), (pairs.image_b, pairs.labels_b)
            targets = [prepare_input(t, config.channels_last, self.device) for t in (pairs.target_c, pairs.target_d)]
        else:
            attribute = step % len(config.attributes)
            pair = self.draw_pair(batches, attribute)
            if pair is None:  # this attribute never varied within max_draws batches; try the next step
                self._advance_schedule(step)
                return {}
            (image_a, label_a), (image_b, label_b) = pair
        image_a = prepare_input(image_a, config.channels_last, self.device)
        image_b = prepare_input(image_b, config.channels_last, self.device)
        y_a, y_b = labels_to_01(label_a).to(self.device), labels_to_01(label_b).to(self.device)
        y_c, y_d = y_a.clone(), y_b.clone()
        y_c[:, attribute], y_d[:, attribute] = y_b[:, attribute], y_a[:, attribute]

        with autocast(config.precision, self.device):
            (rec_a, rec_b, swap_c, swap_d), (z, skips), fades = self.forward_with_latents(
                image_a, image_b, attribute, return_fades=True)
        labels = torch.cat([label_a, label_b]).to(self.device)
        self.references.update(z.detach(), labels)
        for references, index in zip(self.skip_references or (), self.generator.swapped_skips):
            references.update(skips[index].detach(), labels)

        # Critics: real pairs vs the detached swaps.
        self._critics_trainable(True)
        with autocast(config.precision, self.device):
            logits_full, logits_half = self._critics([(image_a, y_a), (image_b, y_b),
                                                      (swap_c.detach(), y_c), (swap_d.detach(), y_d)])
        loss_d1 = losses.critic_loss(logits_full[:2], logits_full[2:])
        loss_d2 = losses.critic_loss(logits_half[:2], logits_half[2:])
        loss_d = losses.discriminator_loss(loss_d1, loss_d2, config.small_scale_weight)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizer_d.step()
        classifier_logged = {}
        if self.classifier is not None:
            classifier_logged["classifier_real"] = self._train_classifier(
                torch.cat([image_a, image_b]), torch.cat([y_a, y_b])).detach()

        # Generator against the updated critics.
        self._critics_trainable(False)
        with autocast(config.precision, self.device):
            gen_full, gen_half = self._critics([(swap_c, y_c), (swap_d, y_d)])
        loss_rec = losses.reconstruction_loss([rec_a, rec_b], [image_a, image_b])
        adv_full = losses.generator_adversarial_loss(gen_full)
        adv_half = losses.generator_adversarial_loss(gen_half)
        loss_g = losses.generator_loss(loss_rec, adv_full, adv_half, config.reconstruction_weight,
                                       config.small_scale_weight, config.adversarial_weight)
        loss_cf = None
        if targets is not None:
            removal, addition = (counterfactual_loss([swap], [target], [source], config.counterfactual_region_boost,
                                                     config.counterfactual_region_mean, norm=config.counterfactual_norm)
                                 for swap, target, source in zip((swap_c, swap_d), targets, (image_a, image_b)))
            loss_cf = config.counterfactual_removal_weight * removal + addition
            loss_g = loss_g + config.counterfactual_weight * loss_cf
        if self.classifier is not None:
            with autocast(config.precision, self.device):
                swap_logits = self.classifier(torch.cat([swap_c, swap_d]))
            loss_class = losses.attribute_loss(swap_logits, torch.cat([y_c, y_d]))
            loss_g = loss_g + config.classifier_weight * loss_class
            classifier_logged["classifier_swaps"] = loss_class.detach()
        loss_gate = loss_erase = None
        if config.skip_gate_weight and targets is not None:
            loss_gate = self._gate_loss(fades, targets, [image_a, image_b])
            loss_g = loss_g + config.skip_gate_weight * loss_gate
        if config.erase_gate_weight and targets is not None:
            loss_erase = self._erase_gate_loss(targets, [image_a, image_b])
            loss_g = loss_g + config.erase_gate_weight * loss_erase
        style_logged = {}
        if self.style_readout is not None and self.style_readout.keys(attribute):
            style_loss, style_logged = self._style_loss(z[:image_a.shape[0]], swap_d, attribute, styles)
            loss_g = loss_g + style_loss
        self.optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizer_g.step()
        self._critics_trainable(True)
        self._advance_schedule(step)

        name = config.attributes[attribute]
        logged = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "reconstruction": loss_rec.detach(),
                  "adversarial": (adv_full + config.small_scale_weight * adv_half).detach(),
                  f"loss_d/{name}": loss_d.detach()}
        if loss_cf is not None:
            logged[f"counterfactual/{name}"] = logged["counterfactual"] = loss_cf.detach()
        if loss_gate is not None:
            logged["skip_gate"] = loss_gate.detach()
        if loss_erase is not None:
            logged["erase_gate"] = loss_erase.detach()
        return {**logged, **style_logged, **classifier_logged}

    def _train_classifier(self, images: torch.Tensor, labels_01: torch.Tensor) -> torch.Tensor:
        """One update of the attribute classifier on real images; returns its loss."""
        self.classifier.requires_grad_(True)
        with autocast(self.config.precision, self.device):
            logits = self.classifier(images)
        loss = losses.attribute_loss(logits, labels_01)
        self.optimizer_c.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_c.step()
        self.classifier.requires_grad_(False)  # the generator's update reads it, frozen
        return loss

    @staticmethod
    def _gate_loss(fades: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                   sources: Sequence[torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the swaps' (C, D) fade logits at each skip to where their true
        counterfactuals change the face, the mask max-pooled to the skip's size."""
        masks = torch.cat([change_mask(target, source) for target, source in zip(targets, sources)])
        swaps = masks.shape[0]
        total = 0.0
        for logits in fades:
            logits = logits[-swaps:].float()  # the decode batch is [A', B', C, D]
            total = total + F.binary_cross_entropy_with_logits(
                logits, F.adaptive_max_pool2d(masks, logits.shape[-2:]))
        return total / max(len(fades), 1)

    def _erase_gate_loss(self, targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the eraser's gate logits of the last decode [A', B', C, D] to where
        erasing helps: on a swap, the pixels its truth changes that the source's median brings
        at least halfway to the truth; nowhere else, on a reconstruction none."""
        helps, changed = [], []
        for target, source in zip(targets, sources):
            target, source = target.float(), source.float()
            left = (source - target).abs().mean(1, keepdim=True)
            after = (median_filter(source) - target).abs().mean(1, keepdim=True)
            changed.append(change_mask(target, source))
            helps.append(changed[-1] * (after <= 0.5 * left).float())
        helps, changed = torch.cat(helps), torch.cat(changed)
        logits = self.generator.decoder.image_skip.gate_logits
        wanted = torch.cat([torch.zeros_like(helps), helps]).to(logits.dtype)
        drawn = torch.cat([torch.zeros_like(changed), changed - helps]).to(logits.dtype)
        errors = F.binary_cross_entropy_with_logits(logits, wanted, reduction="none")
        # where to open is a few pixels in a thousand, and so is where a swap draws what the
        # median cannot give (an added frame): each part's mean weighs a third, or the shut gate's
        # small error on all the rest outweighed the frames (the gate stayed shut), and an open
        # gate over an added frame (which the eraser then undrew) weighed nothing
        parts = (wanted, drawn, 1 - wanted - drawn)
        return sum((errors * part).sum() / part.sum().clamp(min=1.0) for part in parts) / len(parts)

    def _style_loss(self, z_a: torch.Tensor, swap_d: torch.Tensor, attribute: int,
                    styles: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted style read-out losses of A's block and, with a cycle weight, of D's
        block encoded again; and what to log (losses and read-out accuracies per style key)."""
        config = self.config
        logits = self.style_readout(z_a, attribute)
        loss_exemplar = losses.style_loss(logits, styles)
        total = config.style_weight * loss_exemplar
        logged = {"style": loss_exemplar.detach(),
                  **{f"style_accuracy/{key}": value for key, value in losses.style_accuracy(logits, styles).items()}}
        if config.style_cycle_weight:
            with autocast(config.precision, self.device):
                z_swapped, _ = self.generator.encode(swap_d)
            cycle_logits = self.style_readout(z_swapped, attribute)
            loss_cycle = losses.style_loss(cycle_logits, styles)
            total = total + config.style_cycle_weight * loss_cycle
            logged["style_cycle"] = loss_cycle.detach()
            logged.update({f"style_cycle_accuracy/{key}": value
                           for key, value in losses.style_accuracy(cycle_logits, styles).items()})
        return total, logged

    def _advance_schedule(self, step: int) -> None:
        self.scheduler_g.step()
        self.scheduler_d.step()

    def _critics_trainable(self, trainable: bool) -> None:
        for critic in (self.critic_full, self.critic_half):
            critic.requires_grad_(trainable)

    # samples and evaluation -----------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, preview: Any, step: int) -> np.ndarray:
        """Rows: inputs, reconstructions, then per attribute the inputs with that block taken
        from the next image in the batch (a swap with a rolled partner)."""
        images, _ = preview
        images = prepare_input(images, self.config.channels_last, self.device)
        with autocast(self.config.precision, self.device):
            z, skips = self.generator.encode(images)
            rows = [images, self.generator.decode(images, z, z, skips)]
            partner = (z.roll(1, dims=0), [skip.roll(1, dims=0) for skip in skips])
            for attribute in range(len(self.config.attributes)):
                z_edit, skips_edit = self.generator.blend((z, skips), partner, attribute, 1.0)
                rows.append(self.generator.decode(images, z_edit, z, skips_edit))
        return make_grid([row.float() for row in rows])

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        """Reconstruction L1 (in [0, 1] pixel units) on the held-out batch, if one was given."""
        if self.eval_batch is None:
            return {}
        images = prepare_input(self.eval_batch[0], self.config.channels_last, self.device)
        with autocast(self.config.precision, self.device):
            z, skips = self.generator.encode(images)
            reconstruction = self.generator.decode(images, z, z, skips)
        return {"reconstruction_l1": float((reconstruction.float() - images).abs().mean() / 2)}
