"""`python -m ml train-oracle ROLE ...`: train, export and report the oracles.

    python -m ml train-oracle attributes            # AttributeNet -> ml/weights/oracles/attributes/
    python -m ml train-oracle identity-loss         # Light CNN-style identity net (what losses use)
    python -m ml train-oracle identity-eval         # residual identity net (what grades methods)
    python -m ml train-oracle all                   # the three, one after the other
    python -m ml train-oracle report                # held-out table of the committed oracles

Faces are rendered once into data-cache/oracles/ (resumable). Training runs on the shared loop in
runs/oracles/ROLE: the same command again resumes; Ctrl-C checkpoints and stops. When a run ends
its network (without the training-only CosFace head) is exported with validation metrics, the
identity threshold among them. `report` renders faces of unseen identities, prints per-attribute,
style and verification-across-yaw tables, writes JSON and records the numbers in the manifests.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.oracles.config import ROLES

DEFAULT_RUNS = Path("runs/oracles")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", choices=(*ROLES, "all", "report"), help="which oracle to train, or 'report'")
    parser.add_argument("--preset", default="starter", help="tiny | starter | paper (default starter)")
    parser.add_argument("--steps", type=int, help="total steps to reach (default: the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--runs", default=str(DEFAULT_RUNS), help="parent of the run directories (runs/oracles)")
    parser.add_argument("--export-root", help="where trained oracles go (default ml/weights/oracles)")
    parser.add_argument("--no-export", action="store_true", help="train only")
    parser.add_argument("--cache", help="rendered-face cache folder (default data-cache/oracles)")
    parser.add_argument("--test-identities", type=int, default=150, help="report: unseen identities to render")
    parser.add_argument("--test-seed", type=int, default=2, help="report: seed of the unseen identities")
    parser.add_argument("--json", help="report: write the tables here too")
    parser.add_argument("--no-record", action="store_true", help="report: leave the manifests as they are")
    parser.add_argument("--init-from", metavar="CHECKPOINT",
                        help="start a new run from this oracle's weights and config, --set on top "
                             "(fine-tune, e.g. ml/weights/oracles/attributes)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default FACELAB_TORCH_THREADS or all cores)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ml.oracles import loaders

    export_root = Path(args.export_root) if args.export_root else loaders.WEIGHTS_DIR
    if args.role == "report":
        return _report(args, export_root)
    roles = ROLES if args.role == "all" else (args.role,)
    for role in roles:
        train_role(role, args, export_root)
    return 0


def train_role(role: str, args: argparse.Namespace, export_root: Path) -> Path:
    from ml import checkpoints
    from ml.oracles.config import oracle_config
    from ml.oracles.data import CACHE_DIR, SetSpec, build_set
    from ml.oracles.training import OracleTrainer, export_oracle
    from ml.training.cli import parse_overrides
    from ml.training.loop import TrainingLoop

    overrides = parse_overrides(args.set)
    if args.init_from:  # a fine-tune keeps its parent's hyperparameters unless --set changes them
        from ml.oracles.config import OracleConfig

        overrides = {key: value for key, value in checkpoints.inherited_config(args.init_from, OracleConfig,
                                                                                overrides).items() if key != "role"}
    config = oracle_config(role, args.preset, **overrides)
    cache = Path(args.cache) if args.cache else CACHE_DIR
    train = build_set(SetSpec(config.train_identities, config.views, config.image_size, config.data_seed,
                              config.correlation, config.toggles, tuple(config.toggle_focus),
                              config.paired_toggles), cache)
    val = build_set(SetSpec(config.val_identities, config.views, config.image_size, config.data_seed + 1,
                            config.correlation), cache)
    out = Path(args.runs) / (role if args.preset == "starter" else f"{role}-{args.preset}")
    trainer = OracleTrainer(config, train, val, device=args.device)
    print(f"oracle {role} / {args.preset}: {len(train)} training faces ({train.fingerprint}), "
          f"{len(val)} validation faces, {config.image_size}px, {config.precision}, out {out}", flush=True)
    loop = TrainingLoop(trainer, trainer.batches(), out, progress=not args.no_progress,
                        data_fingerprint=train.fingerprint,
                        init_from=args.init_from)
    step = loop.run(args.steps)
    latest = checkpoints.latest_checkpoint(out)
    print(f"{'stopped' if loop.stopped_early else 'finished'} at step {step}; checkpoint {latest}", flush=True)
    if not args.no_export and not loop.stopped_early:
        destination = export_oracle(latest, val, export_root / role)
        print(f"exported to {destination}: {json.dumps(checkpoints.read_manifest(destination).metrics)}", flush=True)
    return out


def _report(args: argparse.Namespace, export_root: Path) -> int:
    from ml.oracles.report import format_report, held_out_report

    report = held_out_report(export_root, identities=args.test_identities, seed=args.test_seed,
                             record=not args.no_record)
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0
