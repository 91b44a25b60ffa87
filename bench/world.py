"""Synthetic world throughput: images per second with segmentation, sketch and landmarks.

    python bench/world.py [--quick] [--threads 2] [--backend gl]

Prints a table and writes bench/results/world.json. Thread counts are set explicitly (llvmpipe's
LP_NUM_THREADS and torch's) before anything starts: an over-subscribed 2-core machine ran
element-wise work 23x slower. Numbers are best-of-N wall time, plus process CPU time per image,
which stays meaningful when other jobs share the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine  # noqa: E402  (imports nothing that starts threads)


def measure(world, count: int, repeats: int) -> dict:
    params = world.sample(count, seed=123)
    world.render(params[: min(count, 8)])  # warm: shader compile, buffers
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        batch = world.render(params)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert batch.segmentation.shape[0] == count and batch.landmarks.shape == (count, 68, 2)
    best = min(walls)
    return {"images": count, "best_seconds": round(best, 4),
            "images_per_second": round(count / best, 1),
            "cpu_ms_per_image": round(1000 * min(cpus) / count, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches (under a minute)")
    parser.add_argument("--threads", type=int, default=2, help="render threads (llvmpipe, torch)")
    parser.add_argument("--backend", default="auto", choices=("auto", "gl", "torch"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "world.json"))
    args = parser.parse_args(argv)

    os.environ["LP_NUM_THREADS"] = str(args.threads)
    os.environ["FACELAB_TORCH_THREADS"] = str(args.threads)
    from ml.runtime import configure_torch

    configure_torch(args.threads)
    from ml.data.world import FaceWorld

    plan = {64: (256, 2), 128: (64, 2)} if args.quick else {64: (1024, 3), 128: (256, 3)}
    results, backend = {}, None
    for size, (count, repeats) in plan.items():
        world = FaceWorld(size=size, backend=args.backend, threads=args.threads)
        backend = world.backend
        if backend == "torch":
            count = min(count, 32)
        results[str(size)] = measure(world, count, repeats)

    record = {
        "benchmark": "world",
        "images_per_second": {size: r["images_per_second"] for size, r in results.items()},
        "details": results,
        "includes": ["image", "segmentation", "sketch", "landmarks (68, with visibility)"],
        "backend": backend,
        "threads": args.threads,
        "quick": args.quick,
        "machine": machine(args.threads),
        "load_average": list(os.getloadavg()),
        "goal_images_per_second": {"64": 500, "128": 150},
    }
    host = record["machine"]
    print(f"world render ({backend}, {args.threads} threads, {host['cpu']}, rev {host['git_revision']})")
    print(f"{'size':>6} {'images':>7} {'best s':>8} {'img/s':>8} {'CPU ms/img':>11} {'goal':>6}")
    for size, r in results.items():
        print(f"{size:>6} {r['images']:>7} {r['best_seconds']:>8.3f} {r['images_per_second']:>8.1f} "
              f"{r['cpu_ms_per_image']:>11.2f} {record['goal_images_per_second'][size]:>6}")
    print(f"load average during the run: {record['load_average']}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
