"""ml.checkpoints: safetensors weights, manifests, and refusing anything that would run code."""
import json
import pickle

import pytest
import torch
from torch import nn

from ml import checkpoints
from ml.checkpoints import CheckpointError, Manifest, UnsafeCheckpointError


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def networks():
    torch.manual_seed(0)
    return {"encoder": nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last), "head": nn.Linear(4, 2)}


def test_round_trip_with_manifest(tmp_path):
    saved = networks()
    manifest = Manifest.create("toy", {"image_size": 8}, steps=12, data_fingerprint=checkpoints.fingerprint("d"),
                               metrics={"reconstruction_l1": 0.1})
    path = checkpoints.save_checkpoint(checkpoints.checkpoint_dir(tmp_path, 12), saved, manifest,
                                       {"step": 12, "optimizers": {}})
    fresh = {name: type(net)(*args) for (name, net), args in zip(saved.items(), [(3, 4, 3), (4, 2)])}
    checkpoint = checkpoints.load_checkpoint(tmp_path, with_training_state=True)
    checkpoint.load_into(fresh)
    for name in saved:
        for key, value in saved[name].state_dict().items():
            assert torch.equal(fresh[name].state_dict()[key], value)
    written = json.loads((path / "manifest.json").read_text())
    for key in ("method", "config", "code_version", "data_fingerprint", "steps", "metrics", "created"):
        assert key in written
    assert written["steps"] == 12 and written["code_version"]
    assert checkpoint.training_state["step"] == 12
    assert checkpoints.latest_checkpoint(tmp_path) == path


def test_pickled_weights_are_refused(tmp_path):
    marker = tmp_path / "code-ran"
    directory = tmp_path / "evil"
    directory.mkdir()
    (directory / "manifest.json").write_text(json.dumps(Manifest("toy", {}).to_dict()))
    (directory / "weights.safetensors").write_bytes(pickle.dumps({"encoder.weight": Payload(marker)}))
    with pytest.raises(UnsafeCheckpointError, match="not a safetensors file"):
        checkpoints.load_checkpoint(directory)
    assert not marker.exists()


def test_pickled_training_state_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = checkpoints.save_checkpoint(tmp_path / "ckpt", networks(), Manifest("toy", {}), {"step": 1})
    torch.save({"step": 1, "evil": Payload(marker)}, path / "training_state.pt")  # torch.save pickles
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        checkpoints.load_checkpoint(path, with_training_state=True)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        checkpoints.safe_torch_load(path / "training_state.pt")
    assert not marker.exists()


def test_mismatched_weights_give_a_clear_error(tmp_path):
    path = checkpoints.save_checkpoint(tmp_path / "ckpt", networks(), Manifest("toy", {}))
    checkpoint = checkpoints.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="do not fit"):
        checkpoint.load_into({"encoder": nn.Conv2d(3, 5, 3), "head": nn.Linear(4, 2)})
    with pytest.raises(CheckpointError, match="no weights for network"):
        checkpoint.load_into({"decoder": nn.Linear(1, 1)})


def test_prune_and_export(tmp_path):
    for step in (2, 4, 6):
        checkpoints.save_checkpoint(checkpoints.checkpoint_dir(tmp_path / "run", step), networks(),
                                    Manifest("toy", {}, steps=step), {"step": step})
    checkpoints.prune_checkpoints(tmp_path / "run", keep=2)
    assert [p.name for p in checkpoints.list_checkpoints(tmp_path / "run")] == ["step-0000004", "step-0000006"]
    exported = checkpoints.export_for_inference(tmp_path / "run", tmp_path / "weights", metrics={"a": 1.0})
    assert sorted(p.name for p in exported.iterdir()) == ["manifest.json", "weights.safetensors"]
    assert checkpoints.read_manifest(exported).metrics == {"a": 1.0}
    assert checkpoints.read_manifest(exported).steps == 6


def test_export_for_inference_can_keep_only_the_editor_networks(tmp_path):
    path = checkpoints.save_checkpoint(tmp_path / "ckpt", networks(), Manifest("toy", {}), {"step": 1})
    exported = checkpoints.export_for_inference(path, tmp_path / "weights", networks=["encoder"])
    assert set(checkpoints.load_checkpoint(exported).weights) == {"encoder"}
    assert not (exported / "training_state.pt").exists()
    with pytest.raises(checkpoints.CheckpointError, match="no weights for z"):
        checkpoints.export_for_inference(path, tmp_path / "other", networks=["z"])


def test_export_can_store_a_network_at_half_precision_and_it_loads_back_as_float32(tmp_path):
    source = networks()
    path = checkpoints.save_checkpoint(tmp_path / "ckpt", source, Manifest("toy", {}), {"step": 1})
    exported = checkpoints.export_for_inference(path, tmp_path / "weights", float16=["encoder"])
    weights = checkpoints.load_checkpoint(exported).weights
    assert all(t.dtype == torch.float16 for t in weights["encoder"].values())
    assert all(t.dtype == torch.float32 for t in weights["head"].values())
    target = networks()
    checkpoints.load_networks(target, weights)
    for key, value in target["encoder"].state_dict().items():
        assert value.dtype == torch.float32
        assert torch.allclose(value, source["encoder"].state_dict()[key], atol=1e-3)
