"""ELEGANT: exchanging latent encodings with a residual decoder (Xiao, Hong, Ma; ECCV 2018).

    config    Config (presets tiny / starter / paper)
    networks  Encoder, Decoder, LatentSplit, Generator, build_generator, build_discriminators
    losses    the official loss terms and weights
    training  ElegantTrainer (a TrainingTask for ml.training.TrainingLoop)
    editor    ElegantEditor (exemplar + strength per attribute; swap; interpolation matrix)
    official  load / convert checkpoints saved by the official code
"""
from ml.methods.base import Method
from ml.methods.elegant.config import Config
from ml.methods.elegant.editor import ElegantEditor
from ml.methods.elegant.training import ElegantTrainer

METHOD = Method(
    name="elegant",
    title="ELEGANT",
    summary="Transfers an attribute (bangs, glasses, ...) from an exemplar face by swapping one block "
            "of the latent code; a strength slider blends toward the exemplar.",
    config_class=Config,
    editor_class=ElegantEditor,
    trainer_class=ElegantTrainer,
    alignment="celeba",
)

__all__ = ["METHOD", "Config", "ElegantEditor", "ElegantTrainer"]
