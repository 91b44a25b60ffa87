"""The held-out report: the committed oracles on faces of identities no oracle trained on.

Attributes and styles are scored on `identities` x 6 views at random pose, and on the frontal
views with each graded attribute switched (what an edit makes); identity on the same
faces arranged as a pose ladder (per identity one frontal face and one at each of 15..75 degrees
yaw, each view with its own expression, accessories and light), with the threshold each identity
oracle chose on its validation split.
"""
from __future__ import annotations

import time
from pathlib import Path

from ml import checkpoints
from ml.oracles import metrics
from ml.oracles.data import CACHE_DIR, FaceSet, pose_ladder, render_params

LADDER_YAWS = (15, 30, 45, 60, 75)


def render_ladder(identities: int, seed: int, size: int = 128, cache_dir: Path | None = CACHE_DIR) -> FaceSet:
    """The pose-ladder faces (cached when `cache_dir` is given)."""
    path = None if cache_dir is None else Path(cache_dir) / f"ladder-{size}px-{identities}-seed{seed}.npz"
    if path is not None and path.is_file():
        return FaceSet.load(path)
    params = pose_ladder(identities, seed, LADDER_YAWS)
    parts = [render_params(params[start:start + 256], size) for start in range(0, len(params), 256)]
    faces = FaceSet.concat(parts)
    faces.fingerprint = checkpoints.fingerprint({"kind": "oracle-ladder", "identities": identities, "seed": seed,
                                                 "size": size, "yaws": LADDER_YAWS})
    if path is not None:
        faces.save(path)
    return faces


def _frontal_params(identities: int, seed: int):
    """The parameters of the ladder's first view of each identity (its own pose, yaw 0)."""
    params = pose_ladder(identities, seed, LADDER_YAWS)
    return params[params.pose[:, 0] == 0][:identities]


def held_out_report(weights_root: Path, identities: int = 150, seed: int = 2, record: bool = True,
                    faces: FaceSet | None = None) -> dict:
    """Score every oracle found under `weights_root` on unseen faces; optionally record the
    numbers in their manifests (metrics["held_out"])."""
    from ml.oracles.loaders import load_oracle_network

    began = time.perf_counter()
    faces = faces if faces is not None else render_ladder(identities, seed)
    report = {"faces": len(faces), "identities": int(len(set(faces.identity.tolist()))), "seed": seed,
              "data_fingerprint": faces.fingerprint}
    for role in ("attributes", "identity-loss", "identity-eval"):
        directory = Path(weights_root) / role
        if not (directory / checkpoints.MANIFEST_FILE).is_file():
            continue
        network, manifest = load_oracle_network(role, directory)
        if role == "attributes":
            result = metrics.attribute_report(network, faces)
            result["counterfactual"] = metrics.counterfactual_report(network, _frontal_params(identities, seed),
                                                                     faces.images.shape[1])
            summary = {"mean_accuracy": result["mean_accuracy"],
                       "counterfactual_accuracy": {key: value["accuracy"] for key, value
                                                   in result["counterfactual"]["attributes"].items()},
                       "counterfactual_blurred_accuracy": {key: value["blurred"] for key, value
                                                           in result["counterfactual"]["attributes"].items()},
                       "mean_balanced_accuracy": result["mean_balanced_accuracy"],
                       "style_accuracy": {key: value["accuracy"] for key, value in result["styles"].items()},
                       "attribute_accuracy": {key: value["accuracy"] for key, value in result["attributes"].items()},
                       "intensity_mae": result["intensity_mae"]}
        else:
            threshold = float(manifest.metrics.get("threshold", 0.5))
            ladder = metrics.frontal_to_yaw_report(network, faces, threshold, seed=seed)
            pairs = metrics.verification_report(network, faces, threshold, seed=seed)
            result = {"threshold": threshold, "frontal_to_yaw": ladder, "all_pairs": pairs}
            summary = {"verification_accuracy": pairs["accuracy"],
                       "frontal_to_yaw_accuracy": {key: value["accuracy"] for key, value in ladder.items()},
                       "threshold": threshold}
        report[role] = result
        if record:
            manifest.metrics["held_out"] = {**summary, "faces": len(faces), "data_fingerprint": faces.fingerprint}
            checkpoints.write_manifest(directory, manifest)
    report["seconds"] = time.perf_counter() - began
    return report


def format_report(report: dict) -> str:
    lines = [f"held-out faces: {report['faces']} ({report['identities']} unseen identities, seed {report['seed']})"]
    if "attributes" in report:
        result = report["attributes"]
        lines += ["", f"{'attribute':<22}{'accuracy':>9}{'balanced':>10}{'positives':>10}"]
        for name, value in result["attributes"].items():
            lines.append(f"{name:<22}{value['accuracy']:>9.3f}{value['balanced_accuracy']:>10.3f}{value['positives']:>10d}")
        lines.append(f"{'mean':<22}{result['mean_accuracy']:>9.3f}{result['mean_balanced_accuracy']:>10.3f}")
        lines.append(f"intensity MAE {result['intensity_mae']:.3f}")
        lines += ["", f"{'style (where shown)':<22}{'accuracy':>9}{'faces':>10}"]
        for key, value in result["styles"].items():
            lines.append(f"{key:<22}{value['accuracy']:>9.3f}{value['count']:>10d}")
        switched = result.get("counterfactual")
        if switched:
            blurred = f"blur {switched['blur_sigma']:g}px"
            lines += ["", f"{'switched on one face':<22}{'accuracy':>9}{'added':>9}{'removed':>9}{blurred:>12}{'faces':>7}"]
            for name, value in switched["attributes"].items():
                rate = lambda key: "-" if value[key] is None else f"{value[key]:.3f}"
                lines.append(f"{name:<22}{value['accuracy']:>9.3f}{rate('added'):>9}{rate('removed'):>9}"
                             f"{value['blurred']:>12.3f}{value['faces']:>7d}")
            lines.append(f"{'mean':<22}{switched['mean_accuracy']:>9.3f}  (balanced {switched['mean_balanced_accuracy']:.3f}, "
                         f"blurred {switched['mean_blurred_accuracy']:.3f})")
    for role in ("identity-loss", "identity-eval"):
        if role not in report:
            continue
        result = report[role]
        ladder = result["frontal_to_yaw"]
        lines += ["", f"{role}: verification, threshold {result['threshold']:.3f} (chosen on validation)"]
        lines.append("  frontal vs |yaw|   " + "".join(f"{angle + 'deg':>8}" for angle in ladder))
        lines.append("  accuracy          " + "".join(f"{value['accuracy']:>8.3f}" for value in ladder.values()))
        lines.append("  cos(same person)  " + "".join(f"{value['mean_similarity_same']:>8.3f}" for value in ladder.values()))
        pairs = result["all_pairs"]
        lines.append(f"  all view pairs: accuracy {pairs['accuracy']:.3f} over {pairs['pairs']} pairs; by yaw gap: "
                     + ", ".join(f"{gap}: {value['accuracy']:.3f}" for gap, value in pairs["by_yaw_gap"].items()))
    return "\n".join(lines)
