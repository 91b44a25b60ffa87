"""`python -m ml train METHOD --preset starter --data synthetic|PATH --out runs/NAME --steps N`

Trains any registered method on the shared loop. Running the same command again resumes from
the run's last checkpoint; Ctrl-C (or SIGTERM) checkpoints and stops. `--set key=value`
overrides a config field (JSON values: `--set lr=1e-4 --set attributes='["Bangs","Smiling"]'`).
`--export DIR` writes an inference-only copy (manifest + safetensors) when training ends.
`--init-from CHECKPOINT` starts a new run from a checkpoint's weights (an exported model too:
the networks it lacks, such as critics, start from scratch) and its config, with `--set` on top;
the manifest records it as `parent`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", help="method name (see ml.registry)")
    parser.add_argument("--preset", default="starter", help="tiny | starter | paper (default starter)")
    parser.add_argument("--data", default="synthetic", help="'synthetic', a .npz file or a CelebA-format folder")
    parser.add_argument("--out", help="run directory (default runs/METHOD-PRESET)")
    parser.add_argument("--steps", type=int, help="total steps to reach (default: the preset's)")
    parser.add_argument("--count", type=int, default=4000, help="images to render / read (default 4000)")
    parser.add_argument("--held-out", type=int, default=64, help="images kept aside for evaluation")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default FACELAB_TORCH_THREADS or all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")
    parser.add_argument("--export", help="after training, copy manifest + weights here")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start a new run from this checkpoint's weights and config, --set on top (fine-tune); "
                             "its weights are not read again when resuming")


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value  # a bare string
    return overrides


def run(args: argparse.Namespace) -> int:
    from ml import checkpoints, registry
    from ml.training.datasets import load_dataset
    from ml.training.loop import TrainingLoop

    method = registry.get(args.method)
    if method.trainer_class is None:
        raise SystemExit(f"{args.method} has no trainer")
    overrides = parse_overrides(args.set)
    if args.init_from:  # a fine-tune keeps its parent's hyperparameters unless --set changes them
        overrides = checkpoints.inherited_config(args.init_from, method.config_class, overrides)
    config = method.config(args.preset, **overrides)
    out = Path(args.out or f"runs/{args.method}-{args.preset}")

    dataset = load_dataset(args.data, config.image_size, count=args.count, seed=args.data_seed,
                           pose=config.world_pose)
    if "attribute_names" in config.field_names() and "attribute_names" not in overrides:
        # a config that numbers its label columns takes them from the data (CelebA has 40, the
        # synthetic world 28); it still refuses groups that name a column the data lacks
        config = config.replace(attribute_names=tuple(dataset.attribute_names))
    training, held_out = dataset.split(min(args.held_out, len(dataset) // 10))
    trainer = method.trainer_class(config, device=args.device)
    trainer.use_held_out(held_out)
    batches = trainer.make_batches(training)
    if hasattr(batches, "preview"):  # a source that renders its own data
        preview = batches.preview(8)
    else:
        preview = batches.batch(-1) if hasattr(batches, "batch") else None
        if preview is not None:
            preview = tuple(part[:8] for part in preview)
    data_fingerprint = getattr(batches, "fingerprint", dataset.fingerprint)
    print(f"{args.method} / {args.preset}: {len(training)} training images ({data_fingerprint}), "
          f"{config.image_size}px, {config.precision}, out {out}")
    loop = TrainingLoop(trainer, batches, out, preview=preview, progress=not args.no_progress,
                        data_fingerprint=data_fingerprint, init_from=args.init_from)
    step = loop.run(args.steps)
    print(f"{'stopped' if loop.stopped_early else 'finished'} at step {step}; "
          f"checkpoint {checkpoints.latest_checkpoint(out)}")
    if args.export and not loop.stopped_early:
        print(f"exported to {checkpoints.export_for_inference(out, args.export)}")
    return 0
