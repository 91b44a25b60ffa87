"""`python -m ml eval METHOD --checkpoint DIR [--data synthetic|PATH] [--out DIR] [--record]`

Prints a table and writes `eval.json` (into --out, default the checkpoint directory). With
`--record`, the numbers are also stored under `metrics` in the checkpoint's manifest.
Metrics that need the evaluation oracles are listed as unavailable until those exist.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ORACLE_METRICS = ("attribute_success", "identity_similarity", "exemplar_fidelity", "slider_rank_correlation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method")
    parser.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    parser.add_argument("--data", default="synthetic", help="'synthetic', a .npz file or a CelebA-format folder")
    parser.add_argument("--count", type=int, default=64, help="held-out images to evaluate on")
    parser.add_argument("--data-seed", type=int, default=10_000, help="seed of the held-out synthetic faces")
    parser.add_argument("--out", help="where to write eval.json (default: the checkpoint directory)")
    parser.add_argument("--record", action="store_true", help="store the metrics in the manifest too")
    parser.add_argument("--threads", type=int)


def evaluate_editor(editor, images: np.ndarray) -> dict[str, float]:
    """Reconstruction L1 with default controls (in [0, 1] pixel units) and render time."""
    errors, encode_ms, render_ms = [], [], []
    default_controls = editor.validate({})
    for image in images:
        start = time.perf_counter()
        latent = editor.encode(image)
        encode_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        output = editor.render(latent, default_controls)
        render_ms.append((time.perf_counter() - start) * 1000)
        errors.append(np.abs(output.astype(np.float32) - image.astype(np.float32)).mean() / 255.0)
    return {"reconstruction_l1": float(np.mean(errors)), "encode_ms": float(np.median(encode_ms)),
            "render_ms": float(np.median(render_ms)), "images": len(images)}


def run(args: argparse.Namespace) -> int:
    from ml import checkpoints, registry
    from ml.training.datasets import load_dataset

    method = registry.get(args.method)
    editor = method.load_editor(args.checkpoint)
    dataset = load_dataset(args.data, editor.image_size, count=args.count, seed=args.data_seed)
    metrics = evaluate_editor(editor, dataset.images[: args.count])
    unavailable = [name for name in ORACLE_METRICS]
    print(f"{args.method} @ {args.checkpoint} on {len(dataset.images[: args.count])} held-out images")
    for name, value in metrics.items():
        print(f"  {name:<24} {value:.4g}")
    print(f"  not yet measured (needs ml.oracles): {', '.join(unavailable)}")
    checkpoint_dir = Path(args.checkpoint)
    if not (checkpoint_dir / checkpoints.MANIFEST_FILE).is_file():
        checkpoint_dir = checkpoints.latest_checkpoint(checkpoint_dir) or checkpoint_dir
    out = Path(args.out) if args.out else checkpoint_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps({"method": args.method, "checkpoint": str(checkpoint_dir),
                                               "data": dataset.fingerprint, "metrics": metrics,
                                               "unavailable": unavailable}, indent=2) + "\n")
    if args.record:
        manifest = checkpoints.read_manifest(checkpoint_dir)
        manifest.metrics.update({"reconstruction_l1": metrics["reconstruction_l1"]})
        checkpoints.write_manifest(checkpoint_dir, manifest)
    return 0
