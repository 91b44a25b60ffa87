"""The training loop every method shares. It knows no method: a method's Trainer is a
`TrainingTask` (networks, optimizers, one training step, optional samples and evaluation), and
`TrainingLoop` does the rest:

- resumes exactly from the run's last checkpoint: network weights, optimizer and scheduler
  state, step, the RNG states of torch / numpy / python, the data position, and any extra state
  the task keeps (`TrainingTask.state_dict`). 4 steps == 2 steps + resume + 2 steps, bit for bit;
- writes losses as JSON lines (`losses.jsonl`, one line per `log_every` steps, means over the
  interval) and evaluation results (`metrics.jsonl`); on resume, lines past the checkpoint go;
- shows a tqdm bar with rate and ETA;
- saves sample grids as PNG (`samples/step-0000100.png`) and checkpoints at intervals;
- on SIGINT / SIGTERM finishes the current step, checkpoints and returns (a second SIGINT
  interrupts at once).

Run layout: `OUT/config.json`, `OUT/losses.jsonl`, `OUT/metrics.jsonl`, `OUT/samples/`,
`OUT/checkpoints/step-NNNNNNN/` (see ml.checkpoints).

    task = ElegantTrainer(Config.preset("tiny"))
    TrainingLoop(task, data, "runs/try").run(steps=100)
"""
from __future__ import annotations

import abc
import contextlib
import json
import math
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from ml import checkpoints
from ml.config import ConfigError, TrainingConfig
from ml.training.data import BatchStream, ImageAttributeSet, InMemoryBatches
from ml.training.images import save_png


class TrainingTask(abc.ABC):
    """What a method's Trainer gives the loop. Subclasses build networks and optimizers in
    `__init__` (after seeding, see `seed_everything`) and implement `train_step`."""

    method: str = ""

    def __init__(self, config: TrainingConfig, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)

    @abc.abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """Everything whose weights a checkpoint keeps, by name (no '.' in names)."""

    def compiled_networks(self) -> dict[str, nn.Module]:
        """The networks `torch_compile` compiles: all of them, unless a subclass keeps out one
        that is differentiated twice (compiled graphs have no double backward)."""
        return self.networks()

    def compile_networks(self) -> None:
        """torch.compile the `compiled_networks()` in place, so state_dict keys (and checkpoints)
        stay those of the plain modules."""
        for network in self.compiled_networks().values():
            network.compile()

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name; their state is checkpointed."""

    def schedulers(self) -> dict[str, Any]:
        """Learning-rate schedulers by name (anything with state_dict / load_state_dict)."""
        return {}

    @abc.abstractmethod
    def train_step(self, batches: BatchStream, step: int) -> Mapping[str, float]:
        """One optimisation step (step counts from 0). Draw batches with `batches.next()`;
        return scalar losses to log."""

    def sample(self, preview: Any, step: int) -> np.ndarray | None:
        """A uint8 H x W x 3 grid showing the model on the preview batch, or None."""
        return None

    def evaluate(self, step: int) -> dict[str, float]:
        """Evaluation metrics at this step ({} when the method has none)."""
        return {}

    def make_batches(self, dataset: ImageAttributeSet, seed: int | None = None) -> Iterable:
        """Training batches from an in-memory dataset (what `python -m ml train` loads).
        Default: all label columns, config.batch_size per batch; methods override to pick columns."""
        return InMemoryBatches(dataset.images, dataset.attributes, self.config.batch_size,
                               seed=self.config.seed if seed is None else seed)

    def use_held_out(self, dataset: ImageAttributeSet) -> None:
        """Receive held-out data for `evaluate` (default: ignored)."""

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint (tensors / numbers / strings / containers only)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def data_fingerprint(self) -> str:
        return getattr(self, "_data_fingerprint", "")


# --- RNG state --------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch as weights_only-loadable values."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["gauss"]))
    torch.set_rng_state(state["torch"])


@contextlib.contextmanager
def preserved_rng():
    """Run side work (samples, evaluation) without moving the training RNG streams."""
    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(saved)


# --- signals ----------------------------------------------------------------------------------

class StopRequest:
    """Turns SIGINT / SIGTERM into a flag the loop checks between steps."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C means now
        self.requested = True

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# --- the loop ---------------------------------------------------------------------------------

def _scalar(value: Any) -> float:
    return float(value.detach().float().item()) if isinstance(value, torch.Tensor) else float(value)


class TrainingLoop:
    """Runs a TrainingTask on a batch source into a run directory, resuming if it can."""

    def __init__(self, task: TrainingTask, data: Iterable, out_dir: str | Path, *, preview: Any = None,
                 progress: bool = True, data_fingerprint: str = "", init_from: str | Path | None = None):
        self.task = task
        self.config = task.config
        self.data = data
        self.out_dir = Path(out_dir)
        self.preview = preview
        self.progress = progress
        self.data_fingerprint = data_fingerprint or task.data_fingerprint()
        self.step = 0
        self.metrics: dict[str, Any] = {}
        self.stopped_early = False
        self.init_from = init_from
        self.parent: dict[str, Any] = {}

    # resume ---------------------------------------------------------------------------------

    def _restore(self) -> dict[str, Any] | None:
        latest = checkpoints.latest_checkpoint(self.out_dir)
        if latest is None:
            return None
        checkpoint = checkpoints.load_checkpoint(latest, device=self.task.device, with_training_state=True)
        if checkpoint.manifest.method != self.task.method:
            raise checkpoints.CheckpointError(f"{latest} was made by {checkpoint.manifest.method!r}, "
                                              f"not {self.task.method!r}")
        checkpoint.load_into(self.task.networks())
        state = checkpoint.training_state
        for name, optimizer in self.task.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.task.schedulers().items():
            scheduler.load_state_dict(state["schedulers"][name])
        self.task.load_state_dict(state.get("task", {}))
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.metrics = dict(checkpoint.manifest.metrics)
        self.parent = dict(checkpoint.manifest.parent)
        self._truncate_logs(self.step)
        return state["data"]

    def _initialize(self) -> None:
        """Start a new run from another checkpoint's weights (fine-tuning): the networks it has
        are loaded, the others (say, critics an inference export left out) keep their random
        init; optimizers, step and RNG start fresh. The parent is recorded in every manifest.

        A network whose layers no longer all fit (the run's config changed its architecture)
        takes the tensors that do; the names left at their init are printed and kept in the
        parent record under "not_loaded"."""
        checkpoint = checkpoints.load_checkpoint(self.init_from, device=self.task.device)
        if checkpoint.manifest.method != self.task.method:
            raise checkpoints.CheckpointError(f"{checkpoint.path} was made by {checkpoint.manifest.method!r}, "
                                              f"not {self.task.method!r}; cannot start from it")
        networks = self.task.networks()
        shared = {name: network for name, network in networks.items() if name in checkpoint.weights}
        if not shared:
            raise checkpoints.CheckpointError(f"{checkpoint.path} has none of the networks "
                                              f"{', '.join(sorted(networks))}")
        not_loaded = checkpoints.load_fitting(shared, checkpoint.weights)
        for name, keys in not_loaded.items():
            total = len(networks[name].state_dict())
            print(f"init: {name}: {len(keys)} of {total} tensors do not fit {checkpoint.path} and keep their init",
                  flush=True)
        manifest = checkpoint.manifest
        self.parent = {"path": str(checkpoint.path), "steps": manifest.steps, "code_version": manifest.code_version,
                       "data_fingerprint": manifest.data_fingerprint, "networks": sorted(shared),
                       "ancestors": [manifest.parent] if manifest.parent else []}
        if not_loaded:
            self.parent["not_loaded"] = not_loaded

    def _truncate_logs(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be redone)."""
        for name in ("losses.jsonl", "metrics.jsonl"):
            path = self.out_dir / name
            if path.is_file():
                kept = [line for line in path.read_text().splitlines()
                        if line.strip() and json.loads(line).get("step", 0) <= step]
                path.write_text("".join(line + "\n" for line in kept))

    # checkpoint -----------------------------------------------------------------------------

    def save(self, stream: BatchStream) -> Path:
        state = {
            "step": self.step,
            "optimizers": {name: opt.state_dict() for name, opt in self.task.optimizers().items()},
            "schedulers": {name: sched.state_dict() for name, sched in self.task.schedulers().items()},
            "rng": rng_state(),
            "data": stream.state_dict(),
            "task": self.task.state_dict(),
        }
        manifest = checkpoints.Manifest.create(self.task.method, self.config.to_dict(), steps=self.step,
                                               data_fingerprint=self.data_fingerprint, metrics=self.metrics,
                                               parent=self.parent)
        path = checkpoints.save_checkpoint(checkpoints.checkpoint_dir(self.out_dir, self.step),
                                           self.task.networks(), manifest, state)
        checkpoints.prune_checkpoints(self.out_dir, self.config.keep_checkpoints)
        return path

    # logging --------------------------------------------------------------------------------

    def _append(self, name: str, record: Mapping[str, Any]) -> None:
        with open(self.out_dir / name, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def _sample(self) -> None:
        if self.preview is None:
            return
        with preserved_rng(), torch.no_grad():
            grid = self.task.sample(self.preview, self.step)
        if grid is not None:
            save_png(grid, self.out_dir / "samples" / f"step-{self.step:07d}.png")

    def _evaluate(self) -> None:
        with preserved_rng():
            metrics = self.task.evaluate(self.step)
        if metrics:
            self.metrics = {key: _scalar(value) for key, value in metrics.items()}
            self._append("metrics.jsonl", {"step": self.step, **self.metrics})

    def _freeze(self) -> None:
        """Zero the learning rate of every optimizer group that updates only `config.frozen`
        networks (after a resume too, whose optimizer state brings its own rates back), and
        the momentum of their batch norms, whose running statistics would drift otherwise."""
        frozen = set(self.config.frozen)
        if not frozen:
            return
        networks = self.task.networks()
        unknown = sorted(frozen - set(networks))
        if unknown:
            raise ConfigError(f"frozen names {', '.join(unknown)}, which {self.task.method} does not train; "
                              f"its networks: {', '.join(sorted(networks))}")
        held = {id(parameter) for name in frozen for parameter in networks[name].parameters()}
        still = []  # the optimizer groups to stop, once every group is known to split cleanly
        for name, optimizer in self.task.optimizers().items():
            for group in optimizer.param_groups:
                updated = {id(parameter) for parameter in group["params"]}
                if updated <= held:
                    still.append(group)
                elif updated & held:
                    raise ConfigError(f"the {name!r} optimizer updates a frozen network together with others; "
                                      "freeze all of them or none")
        for group in still:
            group["lr"] = 0.0
        for name in frozen:
            for module in networks[name].modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.momentum = 0.0  # train mode still normalizes by the batch's statistics

    @staticmethod
    def _due(step: int, every: int) -> bool:
        return every > 0 and step % every == 0

    # run ------------------------------------------------------------------------------------

    def run(self, steps: int | None = None) -> int:
        """Train until `steps` total steps (default config.steps); return the step reached."""
        total = self.config.steps if steps is None else int(steps)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.json").write_text(json.dumps(
            {"method": self.task.method, "config": self.config.to_dict()}, indent=2, sort_keys=True) + "\n")
        data_state = self._restore()
        if data_state is None and self.init_from is not None:
            self._initialize()
        self._freeze()
        stream = BatchStream(self.data, data_state)
        if self.step >= total:
            return self.step
        if self.config.torch_compile:
            self.task.compile_networks()

        from tqdm import tqdm

        sums: dict[str, float] = {}
        seen: dict[str, int] = {}  # per key: a loss that only some steps log is averaged over those
        count, interval_start, last_saved = 0, time.perf_counter(), self.step
        bar = tqdm(total=total, initial=self.step, disable=not self.progress, dynamic_ncols=True,
                   desc=f"{self.task.method} {self.out_dir.name}", unit="step")
        with StopRequest() as stop, bar:
            while self.step < total:
                losses = self.task.train_step(stream, self.step)
                self.step += 1
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + _scalar(value)
                    seen[key] = seen.get(key, 0) + 1
                count += 1
                if self._due(self.step, self.config.log_every) or self.step == total or stop.requested:
                    now = time.perf_counter()
                    means = {key: value / seen[key] for key, value in sums.items()}
                    self._append("losses.jsonl", {"step": self.step, "seconds_per_step": (now - interval_start) / count,
                                                  **means})
                    bar.set_postfix({key: f"{value:.3g}" for key, value in list(means.items())[:4]}, refresh=False)
                    sums, seen, count, interval_start = {}, {}, 0, now
                    if not all(math.isfinite(value) for value in means.values()):
                        bar.write(f"warning: non-finite loss at step {self.step}: {means}")
                bar.update(1)
                if self._due(self.step, self.config.sample_every):
                    self._sample()
                if self._due(self.step, self.config.eval_every):
                    self._evaluate()
                if self._due(self.step, self.config.checkpoint_every):
                    self.save(stream)
                    last_saved = self.step
                if stop.requested:
                    self.stopped_early = True
                    bar.write(f"stop requested: checkpointing at step {self.step}")
                    break
        if last_saved != self.step:
            self.save(stream)
        return self.step
