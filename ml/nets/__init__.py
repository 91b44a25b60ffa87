"""Building blocks written once and shared by every method (see each module's docstring).

    normalization   make_norm(kind, channels): "batch", "instance", "l2" (ELEGANT), "layer", "none"
    layers          activation(name), ConvBlock (conv/transposed conv -> norm -> activation),
                    ResidualBlock, Downsample/Upsample helpers, fold_batch_norms_ (for inference)
    discriminators  LabelConditionedDiscriminator, MultiScaleDiscriminator, PatchDiscriminator,
                    AttributeClassifier, logit_bce (their BCE from logits, in float32)
    init            init_normal_ (the N(0, 0.02) initialisation of DCGAN-era code)
"""
from ml.nets.discriminators import (AttributeClassifier, LabelConditionedDiscriminator, MultiScaleDiscriminator,
                                   PatchDiscriminator, logit_bce)
from ml.nets.init import init_normal_
from ml.nets.layers import ConvBlock, ResidualBlock, ScaledTanh, activation, fold_batch_norms_
from ml.nets.normalization import ChannelL2Norm, LayerNorm2d, make_norm

__all__ = ["AttributeClassifier", "ChannelL2Norm", "ConvBlock", "LabelConditionedDiscriminator", "LayerNorm2d",
           "MultiScaleDiscriminator", "PatchDiscriminator", "ResidualBlock", "ScaledTanh", "activation",
           "fold_batch_norms_", "init_normal_", "logit_bce", "make_norm"]
