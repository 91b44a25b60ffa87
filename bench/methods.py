"""Training step and editor render time of every registered method, on this CPU.

    python bench/methods.py [--quick] [--compiled] [--threads 1] [--methods elegant,homointerp]

For each method: one training update (the starter preset, at 64 and 128 px, batch 1 and 16,
under bf16 autocast + channels-last and in float32; with the starter's counterfactual supervision,
the step includes rendering its pairs or blends), and one editor render after a slider
change (batch 1: the editor's own `render`; batch 16: sixteen latents decoded in one call, time
per image); with `--compiled`, also the 128 px batch-16 training update with the networks
compiled as `torch_compile` does (a minute or two of compiling each). The editor is the
committed starter model where `ml/weights/<method>/` has one, else the same networks untrained
(same cost). Prints a table and writes bench/results/methods.json.
The issue's goal: a slider-change render of a starter model at 128 px in at most 15 ms.
Numbers are the median wall time of a few repeats; `cpu_ms` is process CPU time, which stays
meaningful when other jobs share the cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, print_table, write_result  # noqa: E402

GOAL_RENDER_MS = 15.0


def timed(function, repeats: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"ms": round(statistics.median(walls), 2), "cpu_ms": round(statistics.median(cpus), 2),
            "repeats": repeats}


def random_dataset(config, count: int, size: int):
    """Random images with random +-1 labels in the columns the method's trainer reads."""
    import numpy as np

    from ml.data.world import ATTRIBUTES
    from ml.training.data import ImageAttributeSet

    names = list(getattr(config, "attribute_names", ATTRIBUTES))
    names += [name for name in getattr(config, "attributes", ()) if name not in names]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    attributes = np.where(rng.random((count, len(names))) > 0.5, 1, -1).astype(np.int8)
    return ImageAttributeSet(images, attributes, names, "bench-random")


def bench_training(method, size: int, batch: int, precision: str, repeats: int, compiled: bool = False) -> dict:
    from ml.training.data import BatchStream

    from ml.data.world import ATTRIBUTES

    overrides = {}
    if "attribute_names" in method.config_class.field_names():
        overrides["attribute_names"] = tuple(ATTRIBUTES)  # as `ml train --data synthetic` sets them
    config = method.config("starter", image_size=size, batch_size=batch, precision=precision,
                           channels_last=precision == "bf16", **overrides)
    trainer = method.trainer_class(config)
    if compiled:  # as TrainingLoop.run does under torch_compile; the warm-up step compiles
        trainer.compile_networks()
    stream = BatchStream(trainer.make_batches(random_dataset(config, max(64, 4 * batch), size)), None)
    step = iter(range(10**6))
    return timed(lambda: trainer.train_step(stream, next(step)), repeats)


def slider_change(editor, latent, reference):
    """Controls that move one attribute half-way toward an exemplar (a real edit, not a no-op)."""
    properties = editor.controls_schema()["properties"]
    exemplar = next(name for name, spec in properties.items() if spec.get("widget") == "exemplar")
    if editor.method == "elegant":
        attribute = exemplar.removesuffix("_exemplar")
        controls = {exemplar: "ref", f"{attribute}_strength": 0.5}
    else:
        group = exemplar.removesuffix("_reference")
        controls = {exemplar: "ref", group: 0.5}
    return controls, {"ref": reference}


def batched(latent, copies: int):
    import torch

    return {key: torch.cat([value] * copies) for key, value in latent.items()}


def load_editor(method, size: int, workdir: Path):
    """The committed starter model at its own size, else untrained starter networks."""
    weights = ROOT / "ml" / "weights" / method.name
    if (weights / "manifest.json").is_file():
        editor = method.load_editor(weights)
        if editor.image_size == size:
            return editor, "starter model"
    directory = workdir / f"{method.name}-{size}"
    method.untrained_checkpoint(directory, "starter", image_size=size)
    return method.load_editor(directory), "untrained starter networks"


def bench_render(method, size: int, batch: int, precision: str, repeats: int, workdir: Path) -> dict:
    import numpy as np

    editor, source = load_editor(method, size, workdir)
    if hasattr(editor, "set_precision"):
        editor.set_precision(precision)
    elif precision != "fp32":
        return {"skipped": "editor has no bf16 path"}
    rng = np.random.default_rng(1)
    image, other = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))
    latent, reference = editor.encode(image), editor.encode(other)
    controls, references = slider_change(editor, latent, reference)
    if batch > 1:
        latent = batched(latent, batch)
    result = timed(lambda: editor.render(latent, controls, references), repeats, warmup=2)
    result["ms_per_image"] = round(result["ms"] / batch, 2)
    result["editor"] = source
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, batch-16 training only in the "
                                                             "precision 'auto' picks here (under a minute)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FACELAB_TORCH_THREADS", "1")))
    parser.add_argument("--compiled", action="store_true", help="also time the 128 px batch-16 training "
                                                                "update compiled (minutes)")
    parser.add_argument("--methods", help="comma-separated (default: every registered method with a trainer)")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import triton  # noqa: F401  (before anything else loads LLVM; see ml.evaluation.faces)
    except ImportError:
        pass
    import torch

    from ml import registry
    from ml.training.precision import resolve_precision

    torch.set_num_threads(args.threads)
    native = resolve_precision("auto")  # bf16 only where the CPU has it in hardware (AMX)
    names = args.methods.split(",") if args.methods else registry.available()
    methods = [registry.get(name) for name in names]
    methods = [method for method in methods if method.trainer_class is not None]
    repeats = 2 if args.quick else 5
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for method in methods:
            for size in (64, 128):
                for batch in (1, 16):
                    for precision in ("bf16", "fp32"):
                        key = f"{method.name}/{size}px/batch{batch}/{precision}"
                        entry = {}
                        if args.quick and precision != native and batch == 16:
                            entry["train"] = {"skipped": "--quick"}
                        else:
                            entry["train"] = bench_training(method, size, batch, precision,
                                                            1 if args.quick else 3)
                        entry["render"] = bench_render(method, size, batch, precision, repeats * 5, Path(workdir))
                        results[key] = entry
                        train, render = entry["train"], entry["render"]
                        rows.append([method.name, size, batch, precision,
                                     train.get("ms", "-"), render.get("ms_per_image", "-"), render.get("editor", "")])
                        print(f"  {key}: train {train.get('ms', '-')} ms, render {render.get('ms_per_image', '-')} "
                              "ms/image", flush=True)
            if args.compiled:
                key = f"{method.name}/128px/batch16/{native}+compile"
                train = bench_training(method, 128, 16, native, 1 if args.quick else 3, compiled=True)
                results[key] = {"train": train}
                rows.append([method.name, 128, 16, f"{native}+compile", train["ms"], "-", ""])
                print(f"  {key}: train {train['ms']} ms", flush=True)
    print()
    print_table(["method", "px", "batch", "precision", "train step ms", "render ms/image", "editor"], rows)
    goal = {name: min((results[f"{name}/128px/batch1/{p}"]["render"].get("ms", float("inf"))
                       for p in ("bf16", "fp32")), default=None) for name in names if f"{name}/128px/batch1/fp32" in results}
    print(f"\nslider-change render at 128 px, batch 1 (best precision): "
          + ", ".join(f"{name} {ms:.1f} ms" for name, ms in goal.items()) + f"; goal <= {GOAL_RENDER_MS:.0f} ms")
    print(f"precision 'auto' picks {native} on this CPU")
    path = write_result("methods", {"benchmark": "methods", "machine": machine(args.threads), "quick": args.quick,
                                    "auto_precision": native,
                                    "results": results, "render_128px_ms": goal, "goal_render_ms": GOAL_RENDER_MS})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
