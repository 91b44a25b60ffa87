"""`python -m ml eval METHOD --checkpoint DIR [--count N] [--figures DIR] [--record]`

Grades a checkpoint on held-out synthetic people with the evaluation oracles and ground-truth
counterfactual renders (see ml.evaluation), prints a table, writes `eval.json` (into --out,
default the checkpoint directory) and the method's figures (PNG, into --figures, default
docs/eval/). With `--record` the headline numbers are also stored under `metrics` in the
checkpoint's manifest. `--data PATH` (a .npz or CelebA-format folder) measures only the
reconstruction error with no edit on those images, which needs no oracle. The held-out faces
take the head poses of the crop the method edits (near-frontal for CelebA crops; `--pose wide`
for the world's whole +-75 degrees), and `--control NAME=VALUE` sets a control for every render.
`--sweep` takes a run directory and grades each checkpoint it keeps (no figures), so a fine-tune
can be stopped at its best step: a table, and `sweep.json` in --out (default the run directory).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FIGURES = REPO / "docs" / "eval"
# Manifest keys every evaluated method records, plus the method's own.
COMMON_KEYS = ("attribute_success", "identity_similarity", "reconstruction_l1", "decoder_reconstruction_l1",
               "outside_change", "counterfactual_l1")
METHOD_KEYS = {"elegant": "exemplar_fidelity", "homointerp": "slider_rank_correlation"}
CONTROL_SUCCESS = "control_success"  # the key prefix the editor page reads (static/js/controls.js)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method")
    parser.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    parser.add_argument("--data", default="synthetic", help="'synthetic' (full evaluation) or a .npz / "
                                                            "CelebA-format folder (reconstruction only)")
    parser.add_argument("--count", type=int, default=48, help="held-out faces to evaluate on")
    parser.add_argument("--data-seed", type=int, default=10_000, help="seed of the held-out synthetic faces")
    parser.add_argument("--pose", choices=("celeba", "wide"),
                        help="head poses of the held-out faces (default: those of the method's crop, "
                             "near-frontal 'celeba' for ELEGANT and HomoInterpGAN)")
    parser.add_argument("--out", help="where to write eval.json (default: the checkpoint directory)")
    parser.add_argument("--figures", default=str(DEFAULT_FIGURES), help="where to write the PNG figures")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--record", action="store_true", help="store the metrics in the manifest too")
    parser.add_argument("--control", action="append", default=[], metavar="NAME=VALUE",
                        help="a default for every render, as JSON (keep_detail=false); repeatable")
    parser.add_argument("--sweep", action="store_true",
                        help="grade every checkpoint kept in the run directory --checkpoint names")
    parser.add_argument("--threads", type=int)


def parse_controls(pairs) -> dict:
    """['keep_detail=false', 'mode=inversion'] -> {'keep_detail': False, 'mode': 'inversion'}."""
    controls = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--control wants NAME=VALUE, got {pair!r}")
        try:
            controls[name] = json.loads(text)
        except json.JSONDecodeError:
            controls[name] = text
    return controls


def method_module(name: str):
    if name == "elegant":
        from ml.evaluation import elegant as module
    elif name == "homointerp":
        from ml.evaluation import homointerp as module
    else:
        raise SystemExit(f"no evaluation is written for {name!r} yet (have: {', '.join(METHOD_KEYS)})")
    return module


def evaluate(method: str, editor, graders, count: int = 48, seed: int = 10_000,
             figures_dir: str | Path | None = DEFAULT_FIGURES, photos=None, pose: str | None = None) -> dict:
    """The whole evaluation of one editor: metrics, and (with figures_dir) figures and photos.
    `pose`: the held-out faces' head-pose distribution (default: the one the editor's crop holds)."""
    from ml.evaluation.edits import pooled_success_interval
    from ml.evaluation.photos import PHOTOS, edit_photos

    module = method_module(method)
    start = time.perf_counter()
    report = {"method": method, **module.evaluate(editor, graders, count=count, seed=seed, pose=pose),
              "graders": graders.describe()}
    report["attribute_success_interval"] = pooled_success_interval(report["attributes"])
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        report["figures"] = module.figures(editor, figures_dir, pose=pose)
        photos = PHOTOS if photos is None else photos
        if photos:
            report["photos"] = edit_photos(editor, module.photo_edits, figures_dir / f"{method}-photo.png", photos)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def recorded_metrics(method: str, report: dict) -> dict[str, float]:
    """The numbers a manifest keeps (floats only, so any reader can show them). Each attribute's
    success is also kept under the control that made its edits, `control_success/CONTROL/ATTRIBUTE`,
    so the editor can say beside a control how often it works."""
    summary = report["summary"]
    keys = COMMON_KEYS + (METHOD_KEYS[method],)
    metrics = {key: round(float(summary[key]), 4) for key in keys if key in summary}
    for attribute, entry in report["attributes"].items():
        metrics[f"attribute_success/{attribute}"] = round(entry["success"], 4)
        metrics[f"{CONTROL_SUCCESS}/{entry['control']}/{attribute}"] = round(entry["success"], 4)
    metrics["eval_faces"] = report["faces"]
    return metrics


def format_report(report: dict) -> str:
    def number(value) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"

    def interval(bounds) -> str:
        return f"{bounds[0]:.2f}-{bounds[1]:.2f}" if bounds else "-"

    lines = [f"{report['method']}: {report['faces']} held-out synthetic people (seed {report['seed']}, "
             f"{report.get('pose', 'wide')} poses)", ""]
    lines.append(f"{'metric':<26}{'value':>8}")
    for key, value in report["summary"].items():
        lines.append(f"{key:<26}{number(value):>8}")
        if key == "attribute_success" and "attribute_success_interval" in report:
            lines[-1] += f"   (95%: {interval(report['attribute_success_interval'])})"
    lines += ["", f"{'attribute':<20}{'success':>8}{'95%':>11}{'add':>7}{'remove':>7}{'identity':>9}{'outside':>8}"
                  f"{'cf L1':>7}{'truth':>7}{'blur 1':>7}{'block':>7}"]
    for attribute, entry in report["attributes"].items():
        lines.append(f"{attribute:<20}{number(entry['success']):>8}{interval(entry.get('success_interval')):>11}"
                     f"{number(entry['success_add']):>7}"
                     f"{number(entry['success_remove']):>7}{number(entry['identity_similarity']):>9}"
                     f"{number(entry['outside_change']):>8}{number(entry['counterfactual_l1']):>7}"
                     f"{number(entry['true_success']):>7}{number(entry.get('blurred_truth_success')):>7}"
                     f"{number(entry.get('block_ceiling')):>7}")
    if "styles" in report:
        lines += ["", f"{'style key':<20}{'fidelity':>9}{'all adds':>9}{'truth':>7}{'block':>7}{'shown':>7}"]
        for key, entry in report["styles"].items():
            lines.append(f"{key:<20}{number(entry['fidelity']):>9}{number(entry['fidelity_all_additions']):>9}"
                         f"{number(entry['true_fidelity']):>7}{number(entry.get('block_ceiling')):>7}"
                         f"{entry['with_attribute']:>4}/{entry['edits']}")
    if "sliders" in report:
        lines += ["", f"{'group':<14}{'attribute':<14}{'rank corr':>10}{'intensity moved':>17}"
                      f"{'decoder ceiling':>17}"]
        for group, entry in report["sliders"].items():
            lines.append(f"{group:<14}{entry['attribute']:<14}{number(entry['rank_correlation']):>10}"
                         f"{number(entry['intensity_change']):>17}{number(entry.get('decoder_ceiling')):>17}")
    timing = report.get("timing", {})
    if timing:
        lines += ["", f"encode {timing['encode_ms_mean']:.1f} ms/face, render {timing['render_ms_median']:.1f} ms "
                      "(median, no edit)"]
    for photo, distances in report.get("photos", {}).get("dlib_distance", {}).items():
        shown = ", ".join(f"{label} {value:.3f}" for label, value in distances.items())
        lines.append(f"dlib distance to the original ({photo}): {shown}")
    return "\n".join(lines)


def evaluate_reconstruction(editor, images: np.ndarray) -> dict[str, float]:
    """Reconstruction L1 with default controls (in [0, 1] pixel units) and timing, on any images."""
    from ml.evaluation.edits import encode_all, reconstruction

    latents, encode_ms = encode_all(editor, images)
    return {**reconstruction(editor, images, latents), "encode_ms_mean": encode_ms, "images": len(images)}


SWEEP_COLUMNS = ("attribute_success", "identity_similarity", "reconstruction_l1", "counterfactual_l1")


def sweep(method_name: str, run_dir: str | Path, graders, count: int = 48, seed: int = 10_000,
          pose: str | None = None, controls: dict | None = None) -> list[dict]:
    """The summary metrics of every checkpoint a run keeps, oldest first, each a row with the
    checkpoint's path and step."""
    from ml import checkpoints, registry

    found = checkpoints.list_checkpoints(run_dir)
    if not found:
        raise checkpoints.CheckpointError(f"{run_dir} keeps no checkpoints: --sweep takes a run directory")
    method, rows = registry.get(method_name), []
    for directory in found:
        try:
            editor = method.load_editor(directory)
        except checkpoints.CheckpointError:
            if not directory.exists():  # a run still training pruned it since the listing
                continue
            raise
        if controls:
            editor.set_defaults(controls)
        report = evaluate(method_name, editor, graders, count=count, seed=seed, figures_dir=None, pose=pose)
        rows.append({"checkpoint": str(directory), "step": editor.manifest["steps"], **report["summary"]})
    return rows


def format_sweep(method_name: str, rows: list[dict]) -> str:
    columns = SWEEP_COLUMNS + (METHOD_KEYS[method_name],)
    width = max(map(len, columns)) + 2
    lines = [f"{'step':>8}" + "".join(f"{column:>{width}}" for column in columns)]
    for row in rows:
        lines.append(f"{row['step']:>8}" + "".join(f"{row[column]:>{width}.3f}" for column in columns))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ml import checkpoints, registry
    from ml.evaluation import faces
    from ml.runtime import configure_torch

    configure_torch(args.threads)
    method = registry.get(args.method)
    if args.sweep:
        return run_sweep(args)
    checkpoint_dir = checkpoints.resolve_checkpoint(args.checkpoint)
    editor = method.load_editor(checkpoint_dir)
    controls = parse_controls(args.control)
    if controls:
        from ml.controls import ControlsError

        if args.record:
            raise SystemExit("--record keeps the numbers of the editor's own defaults: drop --control")
        try:
            editor.set_defaults(controls)
        except ControlsError as error:
            raise SystemExit(f"--control: {error}") from None
    if args.record and args.pose and args.pose != faces.pose_for(editor):
        raise SystemExit(f"--record keeps the numbers on the poses {args.method} edits "
                         f"({faces.pose_for(editor)}): drop --pose")
    out = Path(args.out) if args.out else checkpoint_dir
    out.mkdir(parents=True, exist_ok=True)
    if args.data != "synthetic":
        from ml.training.datasets import load_dataset

        dataset = load_dataset(args.data, editor.image_size, count=args.count, seed=args.data_seed)
        metrics = evaluate_reconstruction(editor, dataset.images[: args.count])
        print(json.dumps(metrics, indent=2))
        (out / "eval.json").write_text(json.dumps({"method": args.method, "data": dataset.fingerprint,
                                                   "metrics": metrics}, indent=2) + "\n")
        return 0

    from ml.evaluation.grading import Graders

    report = evaluate(args.method, editor, Graders.load(), count=args.count, seed=args.data_seed,
                      figures_dir=None if args.no_figures else args.figures, pose=args.pose)
    report["checkpoint"] = str(checkpoint_dir)
    report["controls"] = controls
    print(format_report(report))
    (out / "eval.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"wrote {out / 'eval.json'}" + (f" and figures in {args.figures}" if not args.no_figures else ""))
    if args.record:
        manifest = checkpoints.read_manifest(checkpoint_dir)
        manifest.metrics.update(recorded_metrics(args.method, report))
        checkpoints.write_manifest(checkpoint_dir, manifest)
        print(f"recorded in {checkpoint_dir / checkpoints.MANIFEST_FILE}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from ml.checkpoints import CheckpointError
    from ml.controls import ControlsError
    from ml.evaluation.grading import Graders

    if args.record or args.data != "synthetic":
        raise SystemExit("--sweep grades on synthetic faces and records nothing: drop --record / --data")
    method_module(args.method)  # refuses a method with no evaluation before any checkpoint loads
    try:
        rows = sweep(args.method, args.checkpoint, Graders.load(), count=args.count, seed=args.data_seed,
                     pose=args.pose, controls=parse_controls(args.control))
    except (CheckpointError, ControlsError) as error:
        raise SystemExit(f"--sweep: {error}") from None
    print(format_sweep(args.method, rows))
    out = Path(args.out) if args.out else Path(args.checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps({"method": args.method, "faces": args.count, "seed": args.data_seed,
                                                "rows": rows}, indent=2, default=float) + "\n")
    print(f"wrote {out / 'sweep.json'}")
    return 0
