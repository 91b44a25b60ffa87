"""`python -m ml fit-references METHOD --checkpoint DIR [--data synthetic|PATH] [--count N]`

Recomputes a checkpoint's mean references (the latents an editor blends toward when a control
names no exemplar: HomoInterpGAN's group targets, ELEGANT's "average" exemplar) as exact means of
labelled faces under the deployed encoder, and writes them into the checkpoint's weights. For
checkpoints whose training kept none (ELEGANT's own code) or kept moving averages of an encoder
still in training (with batch-norm in training mode).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="method name (see ml.registry)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (manifest.json + weights)")
    parser.add_argument("--data", default="synthetic", help="'synthetic', a .npz file or a CelebA-format folder")
    parser.add_argument("--count", type=int, default=2000, help="faces to average (default 2000)")
    parser.add_argument("--data-seed", type=int, default=7, help="seed of the synthetic faces")
    parser.add_argument("--threads", type=int, help="torch threads (default FACELAB_TORCH_THREADS or all cores)")


def run(args: argparse.Namespace) -> int:
    from ml import checkpoints, registry
    from ml.training.datasets import load_dataset

    method = registry.get(args.method)
    directory = Path(args.checkpoint)
    editor = method.load_editor(directory).set_precision("auto")
    if not hasattr(editor, "fit_references"):
        raise SystemExit(f"{args.method}'s editor keeps no mean references")
    # synthetic faces in the poses the model was trained on (and edits)
    dataset = load_dataset(args.data, editor.image_size, count=args.count, seed=args.data_seed,
                           pose=editor.config.world_pose)
    fitted = editor.fit_references(dataset.images, dataset.attributes, dataset.attribute_names)
    weights_file = directory / checkpoints.WEIGHTS_FILE
    weights = checkpoints.load_weights(weights_file)
    for name, network in fitted.items():
        weights[name] = network.state_dict()
    checkpoints.save_weights(weights_file, weights)
    references = fitted["references"]
    counts = references.positive_count.int().tolist()
    print(f"{directory}: mean references of {len(dataset)} faces ({dataset.fingerprint}); faces with each "
          f"label: {dict(zip(references.labels, counts))}")
    return 0
