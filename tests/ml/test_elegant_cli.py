"""`python -m ml train elegant ...` end to end on a small .npz, with resume and export."""
import json

from ml import checkpoints
from ml.cli import main
from ml.training.datasets import load_npz, save_npz
from test_elegant_training import toy_faces  # noqa: E402  (tests/ml is on sys.path under pytest)


def test_train_command_resumes_and_exports(tmp_path):
    data = save_npz(toy_faces(60), tmp_path / "toy.npz")
    assert load_npz(data).attribute_names == ["Bangs", "Eyeglasses", "Young"]
    command = ["train", "elegant", "--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "run"),
               "--threads", "1", "--no-progress", "--set", "checkpoint_every=2", "--set", "eval_every=2"]
    assert main(command + ["--steps", "2"]) == 0
    assert main(command + ["--steps", "4", "--export", str(tmp_path / "weights")]) == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    manifest = checkpoints.read_manifest(tmp_path / "weights")
    assert manifest.steps == 4 and "reconstruction_l1" in manifest.metrics
    assert manifest.config["preset_name"] == "tiny"
