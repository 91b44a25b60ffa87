"""`python -m ml render --out DIR --count N --size 128 --formats celeba,multipie,celebamask --seed 0`"""
from __future__ import annotations

import argparse
import json

from ml.data.export import FORMATS


def _formats(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"formats are a comma-separated subset of {','.join(FORMATS)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (one sub-folder per format)")
    parser.add_argument("--count", type=int, required=True, help="number of faces (MultiPIE: subjects, 11 views each)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    parser.add_argument("--formats", type=_formats, default=list(FORMATS), help="comma-separated: " + ",".join(FORMATS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--correlation", type=float, default=1.0, help="attribute correlation strength, 0..1")
    parser.add_argument("--backend", default="auto", help="world renderer backend (default auto)")
    parser.add_argument("--chunk-size", type=int, default=32, help="faces rendered per batch")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default FACELAB_TORCH_THREADS or all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ml.data.export import export_dataset

    manifest = export_dataset(
        args.out,
        count=args.count,
        size=args.size,
        formats=args.formats,
        seed=args.seed,
        correlation=args.correlation,
        backend=args.backend,
        chunk_size=args.chunk_size,
        progress=not args.quiet,
    )
    print(json.dumps({"out": args.out, "world_fingerprint": manifest["world_fingerprint"], "folders": manifest["folders"]}, indent=2))
    return 0
