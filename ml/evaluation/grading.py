"""The graders: the evaluation oracles (never a network a method trained against) and the
pixel measures against ground-truth counterfactuals."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Graders:
    """The attribute / style oracle and the *evaluation* identity oracle."""

    attributes: object  # ml.oracles.loaders.AttributeOracle
    identity: object  # ml.oracles.loaders.IdentityOracle with role "eval"

    @classmethod
    def load(cls, device: str = "cpu") -> "Graders":
        from ml.oracles.loaders import load_attribute_oracle, load_identity_oracle

        identity = load_identity_oracle("eval", device=device)
        if identity.role != "identity-eval":  # the loss network must never grade
            raise RuntimeError(f"expected the identity-eval oracle, got {identity.role}")
        return cls(load_attribute_oracle(device=device), identity)

    @classmethod
    def untrained(cls, seed: int = 0) -> "Graders":
        """Randomly initialised tiny oracles: only for tests of the evaluation's plumbing."""
        import torch

        from ml.checkpoints import Manifest
        from ml.oracles.config import oracle_config
        from ml.oracles.loaders import AttributeOracle, IdentityOracle, build_network

        torch.manual_seed(seed)
        networks = {role: build_network(oracle_config(role, "tiny")).eval().requires_grad_(False)
                    for role in ("attributes", "identity-eval")}
        manifest = Manifest.create("oracle-untrained", {})
        return cls(AttributeOracle(networks["attributes"], manifest),
                   IdentityOracle(networks["identity-eval"], manifest, "identity-eval"))

    def describe(self) -> dict:
        return {"attributes": _describe(self.attributes), "identity": _describe(self.identity)}

    # --- measures ------------------------------------------------------------------------------

    def labels(self, images: np.ndarray, attribute: str) -> np.ndarray:
        """+-1 per image as the attribute oracle sees it."""
        column = self.attributes.column(attribute)
        return self.attributes.predict(images)["attributes"][:, column]

    def intensities(self, images: np.ndarray, attribute: str) -> np.ndarray:
        return self.attributes.intensity(images, attribute)

    def styles(self, images: np.ndarray, key: str) -> np.ndarray:
        return self.attributes.predict(images)["styles"][key]

    def identity_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.identity.similarity(a, b).float().cpu().numpy()


def _describe(oracle) -> dict:
    manifest = getattr(oracle, "manifest", None)
    return {"method": getattr(manifest, "method", ""), "steps": getattr(manifest, "steps", 0),
            "code_version": getattr(manifest, "code_version", "")}


def mean_abs(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean |a - b| per image in [0, 1] pixel units, over the pixels where `mask` is true."""
    difference = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1) / 255.0
    if mask is None:
        return difference.reshape(len(a), -1).mean(1)
    weights = mask.reshape(len(a), -1).astype(np.float32)
    return (difference.reshape(len(a), -1) * weights).sum(1) / np.maximum(weights.sum(1), 1.0)


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties averaged."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation; 0 when either side does not vary (an unmoved slider)."""
    rx, ry = rank(x), rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0


def success_interval(successes: int, trials: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a success rate: on 48 faces a rate of 0.94 is anywhere
    from about 0.83 to 0.98, so goals a few hundredths apart are not told apart by one
    evaluation. Unlike the normal approximation it stays inside [0, 1] at 0 and n of n."""
    from scipy.stats import binomtest

    if trials <= 0:
        return 0.0, 1.0
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)
