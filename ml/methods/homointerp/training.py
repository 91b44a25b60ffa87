"""HomoInterpGAN training: the official `optimize_parameters` schedule on the shared loop.

One iteration, all on the same batch, F = E(x), F_perm = F[perm], v ~ U[0,1]^(N x K),
F_interp = I(F, F_perm, v):
  1. decoder:        MSE(G(F), x) + perceptual(G(F), x)
  2. critic + A':    D(F_interp) - D(F) + 100 GP + BCE(A'(F_interp), source labels)  ("rigorous")
  3. KG transform:   MSE(KGT(F), teacher(x) deepest map)
  4. every n_discrim-th iteration, encoder + interpolator:
     -D(F_interp) + BCE(A'(F_interp), interpolated labels) + MSE(I(F, F_perm, 1), F_perm)
     + MSE(G(F), x) + perceptual(G(F), x) + MSE(KGT(F), teacher)
With `counterfactual_weight` > 0 (the starter preset, not the paper) batches come from the
synthetic world's `GroupBlends`, the permutation pairs each face with the next one, and a fifth
update moves encoder, interpolator and decoder toward the true render of one group's slider at a
random strength (toward the next face, or the group's mean face); with `counterfactual_keep_detail`
that loss grades x + G(F_interp) - G(F), the render the editor shows with its "keep detail" switch on,
and with `counterfactual_critic_weight` a pixel critic judges that render beside its source against
the true blend (its own update first, then the render's loss against it joins the same update).
With `autoencoder_steps` > 0 the run opens with that many steps of encoder + decoder on
reconstruction alone (pixel MSE + perceptual, and the boosted redraw of each true blend), the
stand-in for the official ImageNet VGG encoder and pretrained decoder.
Steps 1-3 see F detached: the official code backpropagates them into the encoder too, then zeroes
those gradients before step 4, which is the same update. The critic runs in float32 (small, and
the gradient penalty's double backward is sensitive); everything else under the configured
precision.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from ml.methods.homointerp import losses
from ml.methods.homointerp.config import Config
from ml.methods.homointerp.networks import (FeatureDiscriminator, FeatureNetwork, HomoInterpGAN, KGTransform,
                                            build_feature_network, faded_over, feature_channels, keep_detail,
                                            load_vgg19_state_dict)
from ml.nets import PatchDiscriminator, logit_bce
from ml.training.counterfactuals import BlendBatch, GroupBlends, change_mask, counterfactual_loss
from ml.training.data import ImageAttributeSet
from ml.training.images import make_grid
from ml.training.loop import TrainingLoop, TrainingTask, seed_everything
from ml.training.precision import autocast, prepare_input, prepare_network

VGG19_WIDTHS = (64, 128, 256, 512, 512)


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """No weight gradients for these modules inside the block (inputs still get theirs)."""
    parameters = [p for module in modules for p in module.parameters() if p.requires_grad]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


class GroupLabels:
    """Picks each group's columns out of an attribute tensor as {0, 1} targets ('#' flips)."""

    def __init__(self, config: Config):
        columns = list(config.attribute_names)
        self.indices = [[columns.index(name) for name, _ in group] for group in config.group_labels()]
        self.negated = [torch.tensor([neg for _, neg in group]) for group in config.group_labels()]

    def targets(self, attributes: torch.Tensor) -> list[torch.Tensor]:
        result = []
        for index, negated in zip(self.indices, self.negated):
            positive = attributes[:, index] > 0
            result.append((positive ^ negated).float())
        return result


class Trainer(TrainingTask):
    method = "homointerp"

    def __init__(self, config: Config, device: str | torch.device = "cpu",
                 feature_network: FeatureNetwork | None = None):
        super().__init__(config, device)
        seed_everything(config.seed)
        self.model = HomoInterpGAN(config)
        group_sizes = [len(group) for group in config.group_labels()]
        self.discriminator = FeatureDiscriminator(config.latent_channels, config.latent_size, group_sizes,
                                                  config.critic_width)
        self.feature_network = feature_network if feature_network is not None else \
            build_feature_network(config.feature_network)
        self.feature_network_kind = type(self.feature_network).__name__
        teacher_channels = feature_channels(self.feature_network, config.image_size)[-1]
        self.kg_transform = KGTransform(config.latent_channels, teacher_channels)
        # judges (source, counterfactual render) pairs against (source, true blend): 6 channels in (critic_pair)
        self.pixel_critic = PatchDiscriminator(6, pixel_critic_widths(config.critic_width)) \
            if config.counterfactual_critic_weight > 0 else None
        self.encoder_from_vgg = False
        if config.init_encoder_from_vgg and tuple(config.encoder_widths) == VGG19_WIDTHS:
            state_dict = load_vgg19_state_dict()
            if state_dict is not None:
                self.model.encoder.load_torchvision_vgg19(state_dict)
                self.encoder_from_vgg = True
        for network in (self.model, self.discriminator, self.kg_transform, self.feature_network, self.pixel_critic):
            if network is not None:
                prepare_network(network, config.channels_last, self.device)
        self.perceptual = losses.PerceptualLoss(self.feature_network)
        self.labels = GroupLabels(config)
        columns = list(config.attribute_names)
        self.reference_columns = [columns.index(name) for name in self.model.references.labels]

        def adam(module, betas):
            return torch.optim.Adam(module.parameters(), lr=config.lr, betas=tuple(betas))

        self._optimizers = {
            "encoder": adam(self.model.encoder, config.betas),
            "interpolator": adam(self.model.interpolator, config.betas),
            "decoder": adam(self.model.decoder, config.decoder_betas),
            "discriminator": adam(self.discriminator, config.betas),
            "kg_transform": adam(self.kg_transform, config.decoder_betas),
        }
        if self.pixel_critic is not None:
            self._optimizers["pixel_critic"] = adam(self.pixel_critic, config.betas)
        self.last_encoder_losses: dict[str, float] = {}

    # --- the TrainingTask contract -----------------------------------------------------------

    def networks(self) -> dict[str, nn.Module]:
        networks = {"encoder": self.model.encoder, "interpolator": self.model.interpolator,
                    "decoder": self.model.decoder, "references": self.model.references,
                    "discriminator": self.discriminator, "kg_transform": self.kg_transform}
        if self.pixel_critic is not None:
            networks["pixel_critic"] = self.pixel_critic
        return networks

    def compiled_networks(self) -> dict[str, nn.Module]:
        """All but the discriminator: its gradient penalty needs a double backward."""
        return {name: network for name, network in self.networks().items() if name != "discriminator"}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._optimizers

    def state_dict(self) -> dict[str, Any]:
        return {"last_encoder_losses": dict(self.last_encoder_losses),
                "feature_network": self.feature_network_kind}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_encoder_losses = dict(state.get("last_encoder_losses", {}))

    def make_batches(self, dataset: ImageAttributeSet, seed: int | None = None):
        """The dataset's batches; with a counterfactual weight, blends rendered by the synthetic
        world instead (the dataset then serves only as held-out data)."""
        config = self.config
        if config.counterfactual_weight > 0:
            blended = config.counterfactual_groups or config.group_names
            groups = [[name for name, _ in labels] if group in blended else []
                      for group, labels in zip(config.group_names, config.group_labels())]
            return GroupBlends(groups, config.attribute_names, config.image_size, config.batch_size,
                               seed=config.seed if seed is None else seed, pose=config.world_pose,
                               full_strength=config.counterfactual_full_strength)
        return super().make_batches(dataset, seed)

    def _autocast(self):
        return autocast(self.config.precision, self.device)

    def _input(self, tensor):
        return prepare_input(tensor, self.config.channels_last, self.device)

    # --- one iteration -------------------------------------------------------------------------

    def train_step(self, batches, step: int) -> Mapping[str, float]:
        config = self.config
        batch = batches.next()
        blends = batch if isinstance(batch, BlendBatch) else None
        images, attributes = (blends.images, blends.attributes) if blends is not None else batch
        images = self._input(images.float())
        attributes = attributes.to(self.device).float()
        labels = self.labels.targets(attributes)
        n = images.shape[0]
        strengths = torch.rand(n, config.n_branches, device=self.device)
        # with blends, each face's partner is the reference its target was rendered toward
        permutation = blends.reference_index.to(self.device) if blends is not None else \
            torch.randperm(n, device=self.device)
        self.model.train()
        self.discriminator.train()
        if step < config.autoencoder_steps:
            return self._autoencoder_step(images, attributes, blends)
        encoder_step = step % config.n_discrim == 0

        # F and F_interp need a graph only when the encoder and interpolator step.
        with torch.set_grad_enabled(encoder_step), self._autocast():
            features, skips = self.model.encode_with_skips(images)
            permuted = features[permutation]
            interpolated = self.model.interpolator(features, permuted, strengths)
        self.model.references.update(features.detach(), attributes[:, self.reference_columns])
        with torch.no_grad(), self._autocast():
            teacher = self.feature_network(images)[-1].float()

        record = {}
        record.update(self._decoder_step(features.detach(), [skip.detach() for skip in skips], images))
        record.update(self._critic_step(features.detach(), interpolated.detach(), labels))
        record.update(self._kg_step(features.detach(), teacher))
        if encoder_step:
            permuted_labels = [label[permutation] for label in labels]
            targets = losses.interpolated_labels(labels, permuted_labels, strengths)
            self.last_encoder_losses = self._encoder_step(images, features, skips, permuted, interpolated, targets,
                                                          teacher)
        record.update(self.last_encoder_losses)
        if blends is not None and config.counterfactual_weight > 0:
            record.update(self._counterfactual_step(images, blends))
        return record

    def _blend_references(self, features, blends: BlendBatch):
        """Each face's reference features: its partner's, or the group's mean face; None while
        a mean it needs has not been seen."""
        if not blends.mean_label:
            return features[blends.reference_index.to(features.device)].detach()
        toward = blends.toward_present.tolist()
        references = self.model.references
        if not all(references.has(blends.mean_label, present) for present in set(toward)):
            return None
        means = {present: references.mean(blends.mean_label, present) for present in set(toward)}
        return torch.cat([means[present] for present in toward]).to(features.dtype)

    def _counterfactual_step(self, images, blends: BlendBatch):
        """Encoder, interpolator and decoder toward the true render of the group moved by v."""
        config = self.config
        targets = self._input(blends.targets.float())
        autoencode = config.counterfactual_autoencode_weight > 0
        match_features = config.counterfactual_feature_weight > 0
        with self._autocast():
            features, skips = self.model.encode_with_skips(images)
            references = self._blend_references(features, blends)
            if references is None:
                return {}
            strengths = torch.zeros(images.shape[0], config.n_branches, device=self.device)
            strengths[:, blends.group] = blends.strengths.to(self.device)
            moved = self.model.interpolator(features, self._input(references), strengths)
            target_features = None
            if autoencode or match_features:  # a graph only for the redraw; landing holds E(target) fixed
                with torch.set_grad_enabled(autoencode):
                    target_features = self.model.encoder(targets)
            # one decoder pass over everything that is decoded: F_out, then F, then E(target);
            # all with the source's skip maps, the only ones an edit of the source ever gets,
            # dropped in the same boxes so that G(F_out) - G(F) cancels what they lose
            edit_skips, skips = self.model.edit_skips, self._dropped(skips)
            moved_skips = edit_skips(moved, features, skips)
            decoder_inputs = [(moved, moved_skips)]
            if config.counterfactual_keep_detail:  # on the same faded maps, as the editor renders it
                decoder_inputs.append((features, moved_skips))
            cells = None
            if config.counterfactual_locality_weight > 0 or config.counterfactual_fade_truth:
                cells = losses.latent_change_cells(change_mask(targets, images), features.shape[-1])
            if autoencode:
                target_skips = edit_skips(target_features, features, skips)
                if config.counterfactual_fade_truth:  # the changed region from E(target) alone
                    target_skips = faded_over(target_skips, cells)
                redraw = len(decoder_inputs)
                decoder_inputs.append((target_features, target_skips))
                if config.counterfactual_redraw_keep_detail:  # and G(F) on the same maps
                    decoder_inputs.append((features, target_skips))
            decoded = self._decode(decoder_inputs).split(images.shape[0])
            edited = decoded[0]
            if config.counterfactual_keep_detail:  # grade the detail-kept render: x + G(F_out) - G(F)
                edited = keep_detail(images, edited, decoded[1])
            if autoencode:
                redrawn = decoded[redraw]
                if config.counterfactual_redraw_keep_detail:  # x + G(E(target)) - G(F)
                    redrawn = keep_detail(images, redrawn, decoded[redraw + 1])
        loss = self._counterfactual_error(edited, targets, images)
        record = {"counterfactual": loss.item()}
        total = config.counterfactual_weight * loss
        if self.pixel_critic is not None:
            record.update(self._pixel_critic_step(images, targets, edited.detach()))
            with frozen(self.pixel_critic), self._autocast():
                judged = self.pixel_critic(critic_pair(images, edited))
            fooling = logit_bce(judged, 1.0)
            total = total + config.counterfactual_critic_weight * fooling
            record["counterfactual_critic"] = fooling.item()
        if autoencode:
            redraw_error = self._counterfactual_error(redrawn, targets, images)
            total = total + config.counterfactual_autoencode_weight * redraw_error
            record["counterfactual_autoencode"] = redraw_error.item()
        if match_features or config.counterfactual_locality_weight > 0:
            # the interpolator's alone: through E they would move E(x) itself
            with self._autocast():
                landed = self.model.interpolator(features.detach(), self._input(references.detach()), strengths)
        if match_features:
            if config.counterfactual_feature_relative:  # each blend against its own true move
                landing = losses.relative_landing_loss(landed, target_features, features)
            else:
                landing = losses.interpolation_target_loss(landed, target_features)
            total = total + config.counterfactual_feature_weight * landing
            record["counterfactual_features"] = landing.item()
        if config.counterfactual_locality_weight > 0:
            locality = losses.locality_loss(landed, features, cells)
            total = total + config.counterfactual_locality_weight * locality
            record["counterfactual_locality"] = locality.item()
        names = ("encoder", "interpolator", "decoder")
        for name in names:
            self._optimizers[name].zero_grad(set_to_none=True)
        total.backward()
        for name in names:
            self._optimizers[name].step()
        group = config.branch_names[blends.group]
        kind = "mean" if blends.mean_label else "face"
        record[f"counterfactual/{group}/{kind}"] = loss.item()
        return record

    def _pixel_critic_step(self, images, targets, edited):
        """The pixel critic: (source, true blend) real, (source, the slider's render) fake."""
        with self._autocast():
            real = self.pixel_critic(critic_pair(images, targets))
            fake = self.pixel_critic(critic_pair(images, edited))
        loss = logit_bce(real, 1.0) + logit_bce(fake, 0.0)
        self._update("pixel_critic", loss)
        return {"pixel_critic": loss.item()}

    def _autoencoder_step(self, images, attributes, blends: BlendBatch | None):
        """Encoder and decoder on reconstruction alone (the stand-in for a pretrained VGG and
        decoder): pixel MSE + perceptual on the sources and, with blends, on their true blends,
        whose changed pixels are boosted, each drawn on its source's skip maps."""
        config = self.config
        count = images.shape[0]
        inputs = images if blends is None else torch.cat([images, self._input(blends.targets.float())])
        with self._autocast():
            features, skips = self.model.encode_with_skips(inputs)
            if blends is not None:  # a blend is drawn from its encoding on its source's maps, as an edit is
                sources = [skip[:count] for skip in skips]
                blend_skips = self.model.edit_skips(features[count:], features[:count], sources)
                skips = [torch.cat(pair) for pair in zip(sources, blend_skips)]
            decoded = self.model.decoder(features, self._dropped(skips))
            mse = losses.reconstruction_loss(decoded, inputs)
            perceptual = self.perceptual(decoded, inputs)
        self.model.references.update(features[:count].detach(), attributes[:, self.reference_columns])
        total = config.reconstruction_weight * mse + config.perceptual_weight * perceptual
        record = {"ae_mse": mse.item(), "ae_perceptual": perceptual.item()}
        if blends is not None and config.counterfactual_autoencode_weight > 0:
            redrawn = self._counterfactual_error(decoded[count:], inputs[count:], images)
            total = total + config.counterfactual_autoencode_weight * redrawn
            record["ae_redraw"] = redrawn.item()
        for name in ("encoder", "decoder"):
            self._optimizers[name].zero_grad(set_to_none=True)
        total.backward()
        for name in ("encoder", "decoder"):
            self._optimizers[name].step()
        return record

    def _counterfactual_error(self, drawn, targets, sources):
        """Every counterfactual term's error of drawn images to their true blends."""
        config = self.config
        return counterfactual_loss([drawn], [targets], [sources], config.counterfactual_region_boost,
                                   config.counterfactual_region_mean, config.counterfactual_norm)

    def _decode(self, pairs):
        """One decoder pass over several (features, skips) batches, concatenated."""
        features = torch.cat([features for features, _ in pairs])
        skips = [torch.cat([skips[k] for _, skips in pairs]) for k in range(len(pairs[0][1]))]
        return self.model.decoder(features, skips)

    def _dropped(self, skips):
        """Skip maps for a training decode, with `skip_dropout`'s random boxes zeroed."""
        return self.model.drop_skip_regions(skips, self.config.skip_dropout)

    def _decoder_step(self, features, skips, images):
        with self._autocast():
            decoded = self.model.decoder(features, self._dropped(skips))
            mse = losses.reconstruction_loss(decoded, images)
            perceptual = self.perceptual(decoded, images)
        loss = self.config.reconstruction_weight * mse + self.config.perceptual_weight * perceptual
        self._update("decoder", loss)
        return {"dec_mse": mse.item(), "dec_perceptual": perceptual.item()}

    def _critic_step(self, real, fake, labels):
        config = self.config
        real, fake = real.float(), fake.float()
        critic_real, _ = self.discriminator(real)
        critic_fake, logits_fake = self.discriminator(fake)
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=self.device)
        penalty = losses.gradient_penalty(self.discriminator, real, fake, alpha)
        wasserstein = losses.critic_loss(critic_real, critic_fake)
        # "rigorous" training: A' learns the source labels on interpolated features (issue #8)
        classification = losses.classification_loss(logits_fake, labels)
        loss = wasserstein + config.gp_weight * penalty + config.classification_weight * classification
        self._update("discriminator", loss)
        return {"critic": wasserstein.item(), "critic_gp": penalty.item(), "critic_cls": classification.item()}

    def _kg_step(self, features, teacher):
        with self._autocast():
            transformed = self.kg_transform(features)
        loss = losses.knowledge_guidance_loss(transformed, teacher)
        self._update("kg_transform", loss)
        return {"kg_transform": loss.item()}

    def _encoder_step(self, images, features, skips, permuted, interpolated, targets, teacher):
        config = self.config
        with frozen(self.discriminator, self.model.decoder, self.kg_transform):
            critic_fake, logits_fake = self.discriminator(interpolated.float())
            adversarial = losses.adversarial_loss(critic_fake)
            classification = losses.classification_loss(logits_fake, targets)
            with self._autocast():
                everything = torch.ones(features.shape[0], config.n_branches, device=self.device)
                interp_all = self.model.interpolator(features.detach(), permuted.detach(), everything)
                decoded = self.model.decoder(features, self._dropped(skips))
                mse = losses.reconstruction_loss(decoded, images)
                perceptual = self.perceptual(decoded, images)
                knowledge = losses.knowledge_guidance_loss(self.kg_transform(features), teacher)
            full_strength = losses.interpolation_target_loss(interp_all, permuted)
            loss = (config.adversarial_weight * adversarial + config.classification_weight * classification
                    + config.interp_all_weight * full_strength + config.reconstruction_weight * mse
                    + config.perceptual_weight * perceptual + config.knowledge_weight * knowledge)
            self._optimizers["encoder"].zero_grad(set_to_none=True)
            self._optimizers["interpolator"].zero_grad(set_to_none=True)
            loss.backward()
            self._optimizers["encoder"].step()
            self._optimizers["interpolator"].step()
        return {"enc_adv": adversarial.item(), "enc_cls": classification.item(),
                "enc_interp_all": full_strength.item(), "enc_mse": mse.item(),
                "enc_perceptual": perceptual.item(), "enc_kg": knowledge.item()}

    def _update(self, name, loss):
        optimizer = self._optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    # --- samples -------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, preview, step: int) -> np.ndarray | None:
        """Rows: sources, references, reconstructions, then each branch at full strength."""
        images = self._input(preview[0][:6].float())
        self.model.eval()
        with self._autocast():
            features, skips = self.model.encode_with_skips(images)
            references = features.roll(1, 0)
            rows = [images, images.roll(1, 0), self.model.decoder(features, skips)]
            for k in range(self.config.n_branches):
                strengths = torch.zeros(images.shape[0], self.config.n_branches, device=self.device)
                strengths[:, k] = 1
                edited = self.model.interpolator(features, references, strengths)
                rows.append(self.model.decode_edit(edited, features, skips))
        self.model.train()
        return make_grid([row.float() for row in rows])


# How much the pixel critic magnifies an edit's residual: a line or a smile moves a few pixels by a
# tenth of the range.
CRITIC_RESIDUAL_GAIN = 4.0


def critic_pair(source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """What the pixel critic judges: the source beside the residual of the image drawn for it.
    Shown the raw pair, a critic had not told 16 true age edits from the same edits blurred after
    100 updates (logits at most 0.45 apart); shown the residual, it had (3.3 apart on average)."""
    return torch.cat([source, CRITIC_RESIDUAL_GAIN * (image.to(source.dtype) - source)], dim=1)


def pixel_critic_widths(critic_width: int) -> tuple[int, int, int]:
    """Three stride-2 blocks: at 128 px each logit judges a patch of about 46 pixels, a mouth or a
    forehead with its lines."""
    return max(4, critic_width // 4), max(4, critic_width // 2), critic_width


HomoInterpTrainer = Trainer


def train(config: Config, data: Iterable, out_dir, steps: int | None = None, progress: bool = True,
          feature_network: FeatureNetwork | None = None, preview: Any = None) -> Trainer:
    """Build a Trainer and run the shared loop on `data` (batches of (images in [-1,1], +-1 attributes))."""
    trainer = Trainer(config, feature_network=feature_network)
    TrainingLoop(trainer, data, out_dir, preview=preview, progress=progress).run(steps)
    return trainer
