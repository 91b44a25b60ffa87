"""ELEGANT's hyperparameters. Defaults are the official code's (256 px, batch 16 per side,
Adam 2e-4 / (0.5, 0.999) / weight decay 1e-5, StepLR 3000 x 0.97, loss weights 5 and 0.5);
presets change only sizes and budgets."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ml.config import ConfigError, TrainingConfig

_STARTER_ATTRIBUTES = ("Bangs", "Eyeglasses", "Mustache")


@dataclasses.dataclass
class Config(TrainingConfig):
    method: ClassVar[str] = "elegant"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        # CPU-trained here on the synthetic world: half-width networks, bf16 on AMX, and the
        # world's counterfactuals as extra supervision. The shipped model grew by fine-tunes of
        # this recipe (the last ones at lr 1e-4 with same-person 0.5); its manifest keeps the
        # exact config and its parents.
        "starter": {"image_size": 128, "batch_size": 8, "attributes": _STARTER_ATTRIBUTES,
                    "encoder_channels": (32, 64, 128, 256, 256), "discriminator_channels": (32, 64, 128, 256),
                    "steps": 6000, "precision": "auto", "channels_last": True, "lr_step": 1000,
                    "log_every": 10, "sample_every": 250, "eval_every": 500, "checkpoint_every": 250,
                    "keep_checkpoints": 8, "counterfactual_weight": 5.0, "counterfactual_same_person": 0.25,
                    "counterfactual_norm": "l1", "image_skip": True, "classifier_weight": 1.0,
                    "torch_compile": True},
        # Unit tests: seconds on one thread.
        "tiny": {"image_size": 32, "batch_size": 4, "attributes": ("Bangs", "Eyeglasses"),
                 "encoder_channels": (8, 16, 16, 32, 32), "discriminator_channels": (8, 16, 16, 32),
                 "steps": 8, "log_every": 1, "sample_every": 0, "eval_every": 0, "checkpoint_every": 2},
    }

    image_size: int = 256
    batch_size: int = 16  # images per side (A and B): 2x this per update
    steps: int = 200_000 * 2  # loop steps: one attribute per step, so 200k official steps x 2 attributes
    attributes: tuple[str, ...] = ("Bangs", "Mustache")
    # Encoder widths, stride 2 each: skips are the first four, the last is the latent.
    encoder_channels: tuple[int, ...] = (64, 128, 256, 512, 512)
    discriminator_channels: tuple[int, ...] = (64, 128, 256, 512)
    residual_scale: float = 2.0  # decoder output is residual_scale * tanh
    init_std: float = 0.02
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-5
    lr_step: int = 3000  # in official steps (one update per attribute each)
    lr_gamma: float = 0.97
    reconstruction_weight: float = 5.0
    # Weight of the generator's critic terms (the paper's 1). Overfitting 32 glasses pairs for 300
    # steps, the critics' terms pushed the removals back: their counterfactual loss rose 0.24 ->
    # 0.30 and the share still read as glasses 56% -> 78%; without them it fell to 0.14 and 28%.
    # Yet fine-tuning the plain starter at 0 or 0.2 for 1500 steps removed no more glasses on
    # held-out faces (4 of 12 either way; success 0.89 / 0.86, fidelity 0.43 / 0.39).
    adversarial_weight: float = 1.0
    # Not in the paper: MSE of the swapped images to the synthetic world's true counterfactuals
    # (ml.training.counterfactuals), for CPU budgets too short for adversarial training alone.
    # 0 trains exactly as the paper; > 0 needs the synthetic world and renders pairs as it trains.
    counterfactual_weight: float = 0.0
    counterfactual_region_boost: float = 20.0  # extra weight of the pixels the true edit changes
    # "l2" or "l1" (ml.training.counterfactuals.counterfactual_loss). Fine-tuned from the starter
    # with "l1" (750 steps) the edits touched less outside their region (0.015 -> 0.008) and came
    # nearer the truth (L1 0.019 -> 0.013, identity 0.92 -> 0.93), but removed glasses no better.
    counterfactual_norm: str = "l2"
    # Boost each swap's mean error over its changed pixels instead of their share of the whole
    # image's (as HomoInterpGAN's option of the same name): a glasses frame or a mustache covers
    # a few percent of the face and weighed a fraction of a fringe's error.
    # Fine-tuned from the starter so (boost 5, 2840 steps) it drew the exemplar's glasses better
    # (shape 0.44 -> 0.59-0.62, colour 0.61 -> 0.68-0.79 at steps 1500-2000; fidelity 0.45 -> 0.50 /
    # 0.56) but added mustaches less surely (0.98 -> 0.87-0.96), so success fell 0.944 -> 0.90-0.93
    # and swung (fidelity back to 0.48 / 0.45 at 2500 / 2750); glasses removal stayed 4-7 of 12.
    counterfactual_region_mean: bool = False
    # Weight of the removal swap C's counterfactual term against the addition D's (1 weighs both
    # alike). Removing is the harder half: the residual must cancel what A's skips still carry, and
    # the starter left 44% of a glasses removal's true change undone (the oracle reads 30% as
    # glasses on 2 of 12 faces). Its decoder fitted 8 removals to 4% in 150 steps, so the capacity
    # is there; the updates toward it were not. Yet fine-tuning the starter with 3 (1250 steps)
    # removed no more glasses (3-5 of 12 at steps 500-1250) and added fewer (1.0 -> 0.92-0.97):
    # success 0.944 -> 0.90-0.91, though the edits kept closer to the truth (outside change 0.007
    # -> 0.005, identity 0.93 -> 0.94). The 8 fitted removals did not carry over to others either
    # (the held-out ones' leftover 0.36 -> 0.30).
    counterfactual_removal_weight: float = 1.0
    # Fraction of pairs whose B is A's own face without the attribute: B wearing A's block must
    # then give A back, style and all (the swaps learned a generic fringe from cross-person pairs).
    counterfactual_same_person: float = 0.0
    # Not in the paper either, and synthetic-only like the counterfactuals: cross-entropy of a
    # linear read-out of the exemplar's block to its true style (`style_weight`), and of the same
    # read-out on the re-encoded swap D (`style_cycle_weight`). The starter's blocks held the bangs
    # cut for a linear probe at 0.75, yet its swaps drew it at chance (0.30): a generic fringe.
    # 2500 steps with weights 1 and 0.5 from the starter lifted fidelity on the 48 standard faces
    # 0.40 -> 0.56 (bangs 0.30 -> 0.55), but only 0.41 -> 0.43 on 96 others, and success fell
    # 0.90 -> 0.84 (glasses removal), so the starter was not retrained with them. Again 3500 steps
    # with same-person 0.5: fidelity 0.41 -> 0.50 (48 faces) and 0.355 -> 0.485 (96 others, seed
    # 20000), success 0.91 -> 0.81 and 0.92 -> 0.88; with skip gates as well, no better (0.37 on 96).
    # From the image-skip starter (fidelity 0.44, success 0.90), weights 1 and 0.5 lifted nothing:
    # fidelity 0.45 / 0.46 / 0.42 at steps 1000 / 1500 / 2000 (same-person 0.5), 0.43 / 0.39 at
    # 1000 / 1250 (0.25); success 0.85-0.88, glasses removal 2-5 of 12.
    # A linear probe reads the bangs cut from the starter's block at 0.76 and the glasses shape at
    # 0.59 (chance 0.25): the encoder keeps the style only in part.
    style_weight: float = 0.0
    style_cycle_weight: float = 0.0
    # Not in the paper: gate each skip the decoder adds (`SkipGates`), so a swap can redraw the
    # attribute's region from the latent instead of over the receiver's own look of it. Plain
    # skips hold the style in the receiver: the truth's own block, swapped into its source, drew
    # the true bangs cut 0.53 of the time and the glasses shape 0.52 (starter, 48 faces).
    # `skip_gate_weight` weighs the gates' cross-entropy to each swap's true change mask (it needs
    # the synthetic world's counterfactuals).
    # The gates are new layers in a trained decoder: they learn at lr x skip_gate_lr_scale, or at
    # the decoder's 1e-4 they still predicted the mask's prior everywhere after 300 steps.
    # Fine-tuned from the starter (skip_gate_weight 1 or 3, same-person 0.5, lr 2e-4, 4000 steps),
    # the gates found the forehead and the eye band within 750 steps, but fidelity only went
    # 0.41 -> 0.48 on the 48 standard faces and 0.355 -> 0.377 on 96 others, while success fell
    # 0.91 -> 0.83-0.87 (bangs removal) and the block ceiling did not rise: with the skips faded,
    # the decoder still drew no exemplar's cut from the 4x4 block. The starter keeps plain skips.
    skip_gates: bool = False
    skip_gate_weight: float = 0.0
    skip_gate_lr_scale: float = 10.0
    # Not in the paper, where a swap moves a block of z alone and the decoder adds the receiver's
    # skips whole: the deepest `swap_skips` skips are split into attribute blocks too (over the
    # first `swap_skip_share` of their channels; the rest stay the receiver's), and a swap or a
    # blend moves those blocks with z's. At 128 px z is 4x4, too coarse for a bangs cut or a
    # glasses frame, and the skips that hold them came from the receiver (see `skip_gates`).
    # 0 is the paper's decoder. Fine-tuned from the starter with 2 (the 8x8 and 16x16 skips) for
    # 3000 steps, fidelity went 0.41 -> 0.45 / 0.42 / 0.49 / 0.44 at steps 1000 / 2000 / 2750 /
    # 3000 and its block ceilings stayed put (bangs 0.51 / 0.43 / 0.46): the trained decoder kept
    # drawing a generic fringe from the blocks; success fell 0.91 -> 0.83-0.86 (glasses removal).
    # With 3 it was no better at step 1000. A model would have to learn the split from scratch.
    # From scratch (the starter preset with 2 or 3, two runs at 0.8 s a step sharing two cores)
    # it did not either: at step 4000 success 0.78 / 0.78, fidelity 0.21 / 0.30 (bangs cut 0.12 /
    # 0.22, block ceilings 0.26 / 0.31); with 3, success swung 0.86 / 0.77 / 0.85 at steps 4250 /
    # 5250 / 7924 and fidelity stayed 0.16-0.37, though glasses shape reached 0.68 at 4250.
    swap_skips: int = 0
    swap_skip_share: float = 0.5
    # Not in the paper: the decoder's last step also sees the input image (`ImageSkip`), so its
    # residual can cancel strokes thinner than the half-size features it draws from.
    # The starter model is the previous one (plain decoder, "l2") fine-tuned with it and the "l1"
    # norm for 2000 steps, its layers at 10x the lr. On the 48 standard faces / 96 others (seed
    # 20000): success 0.91 -> 0.90 / 0.92 -> 0.91, identity 0.92 -> 0.93 / 0.93 -> 0.94, L1 to the
    # truth 0.018 -> 0.012 / 0.018 -> 0.011, reconstruction 0.011 -> 0.005, fidelity 0.41 -> 0.44 /
    # 0.36 -> 0.35; the astronaut's dlib distance after +Eyeglasses 0.35 -> 0.22, +Mustache 0.27 ->
    # 0.11. Glasses removal stayed at 3-4 of 12 faces: the frames are left at about half their
    # contrast, and the eyes keep the lenses' look (the truth shows the lashes and liner the lenses
    # hid); the oracle reads them as glasses.
    image_skip: bool = False
    # Not in the paper: the image skip also gates an eraser, residual <- residual + g * s *
    # (median(x) - x - residual), g in (0, 1) per pixel from its hidden layer, s how much of a
    # stroke the image has there (`ImageSkip.erase`). A 5 x 5 median (`median_filter`) takes
    # out any stroke under three pixels wide, so where g is 1 a glasses frame goes whole, which the residual's
    # own path did only to about half its contrast: pasting the truth over the frames alone
    # (the source's glasses segment outside the eyes) turned the starter's glasses removals from
    # 6 to 9 of 12, pasting it over the eyes none.
    image_skip_erase: bool = False
    # Its gate starts shut (`ImageSkip.zero_output_`), where the swaps' loss hardly reaches it:
    # fine-tuned from the starter, it stayed at 0.001 over the frames for 250 steps. This weight
    # teaches it where erasing helps, by the cross-entropy of its logits on the swaps C and D to
    # the true change's pixels that the median brings at least halfway to the truth; to stay shut
    # on the swaps' other changed pixels (an added frame) and on all the rest, reconstructions
    # included; the three parts weighed alike (`ElegantTrainer._erase_gate_loss`).
    # With the eraser's change added to the residual, and the two parts opened / the rest alike,
    # fine-tuned from the starter (weight 1, eager, 48 faces; steps 100 / 200 / 300 / 400 / 500 /
    # 600) the gate opened over the frames (mean 0.55 / 0.68 / 0.80 / 0.73 / 0.78 / 0.83), but also
    # over the eyes (0.23-0.52) and a little everywhere (0.08-0.14; 0.04-0.11 with no edit), and
    # glasses removals went 3 / 4 / 4 / 5 / 6 / 6 of 12, the starter's 6 at best, while glasses
    # were added less surely (1.0 -> 0.89-0.97): success 0.944 -> 0.875-0.92; the residual's own
    # path still drew ghosts of the frames over the erased ones.
    # In place of the residual (the lerp), same loss, 1000 steps: removals 8 / 8 / 8 / 9 of 12 at
    # steps 375 / 500 / 750 / 1000, but added glasses fell to 0.83-0.89 (the gate was open 0.36
    # over them at 750, 0.28 over the removed frames, 0.16 elsewhere), fidelity to 0.27-0.39,
    # success 0.91-0.92; and on 96 other faces (seed 20000) step 1000 removed 0 of 9 (starter 1).
    # Over strokes alone and with the three-part loss (weights 1 / 3, 750 steps): success
    # 0.88-0.93 / 0.89-0.94, best 0.931 (removals 7 of 12, additions 0.94) / 0.938 (9 of 12, 0.92),
    # the gate hardly telling the frames from the rest (0.19 / 0.10 over them, 0.11 / 0.07
    # elsewhere); the second removed 2 of 9 of the 96 (success 0.89). Not shipped.
    # Nor a rule with no training: adding the rest of the median's change wherever the residual
    # already made a third of it or more turned removals 6 -> 7 of 12 (success 0.944 -> 0.951)
    # on the 48 faces but 1 -> 1 of 9 on the 96 (success 0.955 either way).
    erase_gate_weight: float = 0.0
    image_skip_lr_scale: float = 10.0  # like the gates: at the decoder's lr it barely left zero in 500 steps
    # Not in the paper (AttGAN's classification constraint): an attribute classifier, trained on
    # the real A and B, grades the swaps C and D, and the generator's loss adds this weight times
    # its cross-entropy to their swapped labels. Meant for glasses removal, where the critics'
    # real/fake verdict did not ask for the frames to go (see `adversarial_weight`).
    # The starter model is the image-skip one fine-tuned with weight 1 for 3000 steps: on the 48
    # standard faces / 96 others (seed 20000) success 0.90 -> 0.94 / 0.91 -> 0.955 (glasses and
    # mustaches added surely: Eyeglasses 0.79 -> 0.875, Mustache 0.94 -> 0.98 on the 48), identity
    # 0.93 -> 0.93 / 0.94 -> 0.94, fidelity 0.44 -> 0.45 / 0.35 -> 0.385. Removal barely moved
    # (glasses 3-4 -> 6 of 12 on the 48, 1 of 9 on the 96): the generator soon fooled its own
    # classifier (its loss on the swaps 0.17 at step 2000, against 0.25 on real faces) while the
    # evaluation oracle still read the leftover frames as glasses. Fine-tuning the starter further
    # (lr 5e-5, its classifier restarted since exports leave it out) with weight 1 or 3 lost
    # removals: glasses 6 -> 2-3 of 12 by step 500, success 0.944 -> 0.90-0.91. Again with weight 3
    # at the starter's lr (1e-4): 2 / 3 of 12 at steps 250 / 500 (success 0.90 / 0.92).
    classifier_weight: float = 0.0
    small_scale_weight: float = 0.5  # weight of D2 (half resolution) against D1
    # Batches drawn per update while collecting batch_size positives and negatives.
    max_draws: int = 4
    log_every: int = 100
    sample_every: int = 2000
    checkpoint_every: int = 2000

    def __post_init__(self) -> None:
        super().__post_init__()
        depth = len(self.encoder_channels)
        if self.image_size % 2 ** depth:
            raise ConfigError(f"image_size {self.image_size} must be a multiple of {2 ** depth}")
        if len(self.attributes) < 1 or len(set(self.attributes)) != len(self.attributes):
            raise ConfigError(f"attributes must be distinct and non-empty, got {self.attributes}")
        if len(self.attributes) > self.encoder_channels[-1]:
            raise ConfigError("more attributes than latent channels")
        if (self.style_weight or self.style_cycle_weight) and not self.counterfactual_weight:
            raise ConfigError("style_weight and style_cycle_weight need the synthetic world's styles "
                              "(counterfactual_weight > 0)")
        if self.skip_gate_weight and not (self.skip_gates and self.counterfactual_weight):
            raise ConfigError("skip_gate_weight needs skip_gates and the synthetic world's change masks "
                              "(counterfactual_weight > 0)")
        if self.counterfactual_removal_weight < 0:
            raise ConfigError(f"counterfactual_removal_weight must be >= 0, got {self.counterfactual_removal_weight}")
        if not 0 <= self.swap_skips < depth:
            raise ConfigError(f"swap_skips must be 0 to {depth - 1} (the encoder's skips), got {self.swap_skips}")
        if not 0 < self.swap_skip_share <= 1:
            raise ConfigError(f"swap_skip_share is a share of a skip's channels, in (0, 1], got {self.swap_skip_share}")
        if self.image_skip_erase and not self.image_skip:
            raise ConfigError("image_skip_erase gates an eraser from the image skip: set image_skip too")
        if self.erase_gate_weight and not (self.image_skip_erase and self.counterfactual_weight):
            raise ConfigError("erase_gate_weight needs image_skip_erase and the synthetic world's "
                              "counterfactuals (counterfactual_weight > 0)")
        if self.erase_gate_weight and self.torch_compile:
            # the loss reads the logits the eraser keeps from its last call, a side effect that a
            # compiled graph need not keep; only eager runs were measured
            raise ConfigError("erase_gate_weight trains eagerly: set torch_compile=false")
        if (self.image_size // 2) // 2 ** len(self.discriminator_channels) < 1:
            raise ConfigError(f"image_size {self.image_size} is too small for the half-scale discriminator")
