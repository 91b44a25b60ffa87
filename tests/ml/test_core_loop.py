"""ml.training.loop: exact resume, logs, samples and a clean stop on a signal, with a toy task."""
import dataclasses
import json
import os
import signal
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from ml import checkpoints
from ml.config import TrainingConfig
from ml.runtime import configure_torch
from ml.training import InMemoryBatches, TrainingLoop, TrainingTask, seed_everything
from ml.training.images import make_grid

configure_torch()


@dataclasses.dataclass
class ToyConfig(TrainingConfig):
    method: ClassVar[str] = "toy"
    PRESETS: ClassVar[dict] = {"paper": {}, "tiny": {
        "image_size": 8, "batch_size": 4, "log_every": 1, "checkpoint_every": 2, "sample_every": 2,
        "eval_every": 2, "keep_checkpoints": 0}}


class ToyTask(TrainingTask):
    """Denoise images with one conv; uses every RNG the loop must restore."""

    method = "toy"

    def __init__(self, config, stop_at=None):
        super().__init__(config)
        seed_everything(config.seed)
        self.net = nn.Conv2d(3, 3, 3, padding=1)
        self.optimizer = torch.optim.Adam(self.net.parameters(), 1e-2)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, 3, 0.5)
        self.stop_at = stop_at
        self.calls = 0

    def networks(self):
        return {"net": self.net}

    def optimizers(self):
        return {"opt": self.optimizer}

    def schedulers(self):
        return {"opt": self.scheduler}

    def train_step(self, batches, step):
        images, _ = batches.next()
        noise = torch.randn_like(images) * float(np.random.rand()) * (1 + __import__("random").random())
        loss = (self.net(images + noise) - images).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.calls += 1
        if self.stop_at is not None and step + 1 == self.stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return {"loss": loss}

    def sample(self, preview, step):
        return make_grid([preview[0], self.net(preview[0])])

    def evaluate(self, step):
        return {"weight_norm": self.net.weight.norm()}


def data():
    generator = torch.Generator().manual_seed(1)
    return InMemoryBatches(torch.randint(0, 256, (20, 8, 8, 3), dtype=torch.uint8, generator=generator),
                           torch.ones(20, 2), batch_size=4)


def weights(task):
    return {k: v.clone() for k, v in task.net.state_dict().items()}


def run(out, steps, **task_args):
    task = ToyTask(ToyConfig.preset("tiny"), **task_args)
    source = data()
    loop = TrainingLoop(task, source, out, preview=source.batch(-1), progress=False)
    loop.run(steps)
    return task, loop


def test_resume_is_bit_identical(tmp_path):
    straight, _ = run(tmp_path / "straight", 6)
    run(tmp_path / "split", 4)
    resumed, _ = run(tmp_path / "split", 6)
    assert resumed.calls == 2
    for key, value in weights(straight).items():
        assert torch.equal(weights(resumed)[key], value), key
    lines = lambda run_dir: [json.loads(l) for l in (run_dir / "losses.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in lines(tmp_path / "split")] == [r["loss"] for r in lines(tmp_path / "straight")]


def test_resume_drops_log_lines_after_the_checkpoint(tmp_path):
    run(tmp_path, 4)
    import shutil

    shutil.rmtree(checkpoints.checkpoint_dir(tmp_path, 4))  # as if killed after step 4's log line
    resumed, _ = run(tmp_path, 4)
    assert resumed.calls == 2
    steps = [json.loads(l)["step"] for l in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_a_plain_iterable_resumes_by_skipping(tmp_path):
    source = data()
    batches = [source.batch(i) for i in range(10)]

    def go(out, steps):
        task = ToyTask(ToyConfig.preset("tiny"))
        TrainingLoop(task, batches, tmp_path / out, progress=False).run(steps)
        return task
    straight = go("straight", 6)
    go("split", 3)
    resumed = go("split", 6)
    assert resumed.calls == 3
    assert all(torch.equal(weights(straight)[k], v) for k, v in weights(resumed).items())


def test_outputs_samples_metrics_and_manifest(tmp_path):
    run(tmp_path, 4)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step-0000002.png", "step-0000004.png"]
    metrics = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [2, 4]
    manifest = checkpoints.read_manifest(checkpoints.latest_checkpoint(tmp_path))
    assert manifest.method == "toy" and manifest.steps == 4 and "weight_norm" in manifest.metrics


def test_sigterm_finishes_the_step_and_checkpoints(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    task, loop = run(tmp_path, 10, stop_at=3)
    assert loop.stopped_early and loop.step == 3 and task.calls == 3
    assert checkpoints.latest_checkpoint(tmp_path).name == "step-0000003"
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored after the run
    resumed, loop = run(tmp_path, 5)
    assert resumed.calls == 2 and loop.step == 5


def test_a_checkpoint_from_another_method_is_refused(tmp_path):
    run(tmp_path, 2)
    task = ToyTask(ToyConfig.preset("tiny"))
    task.method = "other"
    with pytest.raises(checkpoints.CheckpointError, match="made by 'toy'"):
        TrainingLoop(task, data(), tmp_path, progress=False).run(4)


def test_a_new_run_can_start_from_another_checkpoint(tmp_path):
    parent, _ = run(tmp_path / "parent", 4)
    exported = checkpoints.export_for_inference(tmp_path / "parent", tmp_path / "export")
    task = ToyTask(ToyConfig.preset("tiny"))
    TrainingLoop(task, data(), tmp_path / "child", progress=False, init_from=exported).run(0)
    assert all(torch.equal(weights(task)[k], v) for k, v in weights(parent).items())  # loaded, nothing trained
    task = ToyTask(ToyConfig.preset("tiny"))
    TrainingLoop(task, data(), tmp_path / "child", progress=False, init_from=exported).run(2)
    manifest = checkpoints.read_manifest(checkpoints.latest_checkpoint(tmp_path / "child"))
    assert manifest.steps == 2 and manifest.parent["steps"] == 4 and manifest.parent["networks"] == ["net"]
    # resuming the child continues its own run (init_from is not read again) and still names the parent
    resumed = ToyTask(ToyConfig.preset("tiny"))
    TrainingLoop(resumed, data(), tmp_path / "child", progress=False, init_from=tmp_path / "nowhere").run(4)
    assert resumed.calls == 2
    assert checkpoints.read_manifest(checkpoints.latest_checkpoint(tmp_path / "child")).parent["steps"] == 4


def test_a_run_whose_architecture_changed_takes_the_tensors_that_still_fit(tmp_path, capsys):
    parent, _ = run(tmp_path / "parent", 4)

    class GainConv(nn.Conv2d):  # the parent's conv plus a parameter it never had
        def __init__(self):
            super().__init__(3, 3, 3, padding=1)
            self.gain = nn.Parameter(torch.full((3, 1, 1), 7.0))

        def forward(self, x):
            return super().forward(x) * self.gain

    class GainTask(ToyTask):
        def __init__(self, config):
            super().__init__(config)
            self.net = GainConv()
            self.optimizer = torch.optim.Adam(self.net.parameters(), 1e-2)
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, 3, 0.5)

    task = GainTask(ToyConfig.preset("tiny"))
    TrainingLoop(task, data(), tmp_path / "child", progress=False, init_from=tmp_path / "parent").run(0)
    assert torch.equal(task.net.weight, parent.net.weight) and torch.equal(task.net.bias, parent.net.bias)
    assert float(task.net.gain.detach()[0]) == 7.0  # what the parent lacks keeps its init
    assert "init: net: 1 of 3 tensors do not fit" in capsys.readouterr().out
    TrainingLoop(GainTask(ToyConfig.preset("tiny")), data(), tmp_path / "child", progress=False,
                 init_from=tmp_path / "parent").run(2)
    manifest = checkpoints.read_manifest(checkpoints.latest_checkpoint(tmp_path / "child"))
    assert manifest.parent["not_loaded"] == {"net": ["gain"]}

    # a tensor whose shape changed is left too, and the rest still loads
    other = GainConv()
    changed = {"net": {**weights(parent), "bias": torch.zeros(5)}}
    assert checkpoints.load_fitting({"net": other}, changed) == {"net": ["bias", "gain"]}
    assert torch.equal(other.weight, parent.net.weight)


def test_starting_from_another_methods_checkpoint_is_refused(tmp_path):
    run(tmp_path / "parent", 2)
    task = ToyTask(ToyConfig.preset("tiny"))
    task.method = "other"
    with pytest.raises(checkpoints.CheckpointError, match="made by 'toy'.*cannot start from it"):
        TrainingLoop(task, data(), tmp_path / "child", progress=False, init_from=tmp_path / "parent").run(2)


def test_a_loss_logged_on_some_steps_is_averaged_over_those_steps(tmp_path):
    class SometimesTask(ToyTask):
        def train_step(self, batches, step):
            record = super().train_step(batches, step)
            return {**record, "odd_steps": 3.0} if step % 2 else record

    task = SometimesTask(ToyConfig.preset("tiny", log_every=4))
    TrainingLoop(task, data(), tmp_path, progress=False).run(4)
    (line,) = [json.loads(l) for l in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert line["odd_steps"] == 3.0  # logged on 2 of the 4 steps, not diluted to 1.5
