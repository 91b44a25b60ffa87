"""Oracles: networks trained on the synthetic world that grade (and teach) the methods.

    load_attribute_oracle()            attributes (CelebA names), intensities, bangs / glasses / ... styles
    load_identity_oracle("loss")       identity network for methods' identity / perceptual losses
    load_identity_oracle("eval")       a separately trained identity network, for evaluation only
    identity_similarity(a, b)          cosine similarity of paired faces (eval network)
    features.load_feature_network()    the loss network's feature maps, shallow to deep

Trained by `python -m ml train-oracle ROLE`; weights in ml/weights/oracles/<role>/.
"""
from ml.oracles.loaders import (
    AttributeOracle, IdentityOracle, OracleMissingError, identity_similarity, load_attribute_oracle,
    load_identity_oracle,
)

__all__ = ["AttributeOracle", "IdentityOracle", "OracleMissingError", "identity_similarity",
           "load_attribute_oracle", "load_identity_oracle"]
