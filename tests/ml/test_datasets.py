"""Dataset readers on folders in the real datasets' exact layouts, and the exporter's round trip."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml.data import datasets, export, fingerprint
from ml.data.align import five_points
from ml.data.datasets import (
    CELEBA_ATTRIBUTES,
    CELEBAMASK_CLASSES,
    CelebA,
    CelebAMaskHQ,
    DatasetFormatError,
    MultiPIEName,
    MultiPIEPairs,
    SyntheticFaces,
    tensor_to_image,
)

# ------------------------------------------------------------------------------------- real CelebA layout
# The first lines of the real files, character for character (values of the first two images).
REAL_ATTR_ROWS = {
    "000001.jpg": "-1  1  1 -1 -1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1  1  1 -1  1 -1 -1  1 -1 -1  1 -1 -1 -1  1  1 -1  1 -1  1 -1 -1  1",
    "000002.jpg": "-1 -1 -1  1 -1 -1 -1  1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1 -1  1 -1 -1  1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1",
}
REAL_LANDMARK_ROWS = {
    "000001.jpg": "69  109  106  113   77  142   73  152  108  154",
    "000002.jpg": "69  110  107  112   81  135   70  151  108  153",
}


def make_real_celeba(root: Path, count: int = 6) -> Path:
    """A tiny folder in the real CelebA format: 178x218 JPEGs and the four label files."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{index:06d}.jpg" for index in range(1, count + 1)]
    attr_lines = [str(count), " ".join(CELEBA_ATTRIBUTES) + " "]
    landmark_lines = [str(count), "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y "]
    for index, name in enumerate(names):
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(images / name, quality=95)
        attr_lines.append(f"{name} {REAL_ATTR_ROWS.get(name, REAL_ATTR_ROWS['000001.jpg' if index % 2 else '000002.jpg'])}")
        landmark_lines.append(f"{name}    {REAL_LANDMARK_ROWS.get(name, REAL_LANDMARK_ROWS['000001.jpg'])}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_landmarks_align_celeba.txt").write_text("\n".join(landmark_lines) + "\n")
    partitions = [0, 0, 0, 1, 2, 2]
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partitions)))
    identities = [2880, 2937, 8692, 5805, 9295, 4153]
    (root / "identity_CelebA.txt").write_text("".join(f"{n} {i}\n" for n, i in zip(names, identities)))
    return root


def test_real_celeba_files_read_unchanged(tmp_path):
    root = make_real_celeba(tmp_path / "celeba")
    train = CelebA(root, partition="train")
    assert len(train) == 3 and len(CelebA(root, partition="valid")) == 1 and len(CelebA(root, partition="test")) == 2
    assert len(CelebA(root, partition="all")) == 6
    assert train.attribute_names == CELEBA_ATTRIBUTES
    item = train[0]
    assert item["image"].shape == (3, 218, 178) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["name"] == "000001.jpg" and int(item["identity"]) == 2880
    expected = [int(v) for v in REAL_ATTR_ROWS["000001.jpg"].split()]
    assert item["attributes"].tolist() == expected
    assert item["landmarks"].tolist() == [[69, 109], [106, 113], [77, 142], [73, 152], [108, 154]]


def test_attribute_selection_by_name_and_resizing_moves_landmarks(tmp_path):
    root = make_real_celeba(tmp_path / "celeba")
    data = CelebA(root, partition="all", attributes=["Smiling", "Male", "Young"], size=64, center_crop=True, value_range=(0, 1))
    item = data[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].min() >= 0
    assert item["attributes"].tolist() == [1.0, -1.0, 1.0]  # image 000001: smiling, female, young
    # 178x218 -> centre 178x178 (rows 20..197) -> 64: the left eye (69, 109) lands at about (24.6, 31.7)
    assert np.allclose(item["landmarks"][0].numpy(), [(69 + 0.5) * 64 / 178 - 0.5, (109 - 20 + 0.5) * 64 / 178 - 0.5])
    with pytest.raises(KeyError):
        CelebA(root, attributes=["Smiling", "Has_Wings"])
    with pytest.raises(ValueError):
        CelebA(root, partition="holdout")


def test_kaggle_nesting_and_png_edition_are_found(tmp_path):
    root = make_real_celeba(tmp_path / "celeba")
    nested = root / "img_align_celeba" / "img_align_celeba"
    nested.mkdir()
    for path in (root / "img_align_celeba").glob("*.jpg"):
        Image.open(path).save(nested / (path.stem + ".png"))
        path.unlink()
    data = CelebA(root, partition="all")
    assert data.image_path(0) == nested / "000001.png" and data[0]["image"].shape == (3, 218, 178)


def test_malformed_tables_say_what_is_wrong(tmp_path):
    root = make_real_celeba(tmp_path / "celeba")
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()
    (root / "list_attr_celeba.txt").write_text("\n".join(["7"] + lines[1:]) + "\n")
    with pytest.raises(DatasetFormatError, match="says 7 rows"):
        CelebA(root, partition="all")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines[:2] + [lines[2] + " 1"] + lines[3:]) + "\n")
    with pytest.raises(DatasetFormatError, match="row 3"):
        CelebA(root, partition="all")


# ------------------------------------------------------------------------------------- MultiPIE layout
def test_multipie_tree_pairs_profiles_with_the_frontal_camera(tmp_path):
    rng = np.random.default_rng(1)
    # MultiPIE's own tree: session01/multiview/<subject>/<recording>/<camera>/<name>.png
    for subject in ("001", "002"):
        for camera_folder, code in (("05_1", "051"), ("14_0", "140"), ("19_0", "190"), ("11_0", "110")):
            for light in ("00", "07"):
                folder = tmp_path / "session01" / "multiview" / subject / "01" / camera_folder
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{subject}_01_01_{code}_{light}.png")
    pairs = MultiPIEPairs(tmp_path, max_yaw=60)
    assert len(pairs) == 2 * 2 * 3  # subjects x lights x (frontal, -15, +45); -90 is beyond max_yaw
    names = {pair[0].stem: pair[1].stem for pair in pairs.pairs}
    assert names["002_01_01_190_07"] == "002_01_01_051_07"  # same light, frontal camera
    item = pairs[[p[0].stem for p in pairs.pairs].index("001_01_01_140_00")]
    assert float(item["yaw"]) == -15 and int(item["identity"]) == 1
    assert len(MultiPIEPairs(tmp_path, max_yaw=90, include_frontal=False)) == 2 * 2 * 3
    mirrored = MultiPIEPairs(tmp_path, max_yaw=60, mirror_to_one_side=True, size=32)
    item = mirrored[[p[0].stem for p in mirrored.pairs].index("001_01_01_140_00")]
    assert item["mirrored"] and float(item["yaw"]) == 15 and item["profile"].shape == (3, 32, 32)
    assert MultiPIEName.parse("001_01_01_051_00_cropped").camera == "051" and MultiPIEName.parse("holiday") is None


# ------------------------------------------------------------------------------------- CelebAMask-HQ layout
def test_celebamask_per_class_masks_compose_like_the_released_script(tmp_path):
    (tmp_path / "CelebA-HQ-img").mkdir()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(tmp_path / "CelebA-HQ-img" / "0.jpg")
    folder = tmp_path / "CelebAMask-HQ-mask-anno" / "0"
    folder.mkdir(parents=True)
    skin = np.zeros((32, 32), np.uint8)
    skin[8:24, 8:24] = 255
    hair = np.zeros((32, 32), np.uint8)
    hair[4:12, 4:28] = 255  # overlaps the skin: hair comes later and wins
    Image.fromarray(skin).save(folder / "00000_skin.png")
    Image.fromarray(hair).save(folder / "00000_hair.png")
    (tmp_path / "CelebAMask-HQ-attribute-anno.txt").write_text("1\n" + " ".join(CELEBA_ATTRIBUTES) + "\n0.jpg " + REAL_ATTR_ROWS["000001.jpg"] + "\n")
    data = CelebAMaskHQ(tmp_path, attributes=["Smiling"])
    item = data[0]
    label = item["segmentation"].numpy()
    assert label.shape == (64, 64)  # masks (512 in the real set) are resized to the image (1024)
    assert label[40, 32] == CELEBAMASK_CLASSES.index("skin") and label[12, 32] == CELEBAMASK_CLASSES.index("hair")
    assert label[0, 0] == 0 and item["attributes"].tolist() == [1.0]


# ------------------------------------------------------------------------------------- a stand-in world
WORLD_ATTRIBUTES = ("Smiling", "Eyeglasses", "Bangs", "Male", "No_Beard", "Young")
WORLD_CLASSES = CELEBAMASK_CLASSES


def face_template(size: int, yaw: float) -> np.ndarray:
    """68 iBUG-ordered points of a plausible face, shifted sideways with yaw."""
    points = np.zeros((68, 2), np.float32)
    points[:, 0], points[:, 1] = 0.5, 0.55
    points[0:17] = np.stack([np.linspace(0.2, 0.8, 17), 0.5 + 0.3 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    points[36:42] = [0.35, 0.4] + 0.03 * np.stack([np.cos(np.arange(6)), np.sin(np.arange(6))], axis=1)
    points[42:48] = [0.65, 0.4] + 0.03 * np.stack([np.cos(np.arange(6)), np.sin(np.arange(6))], axis=1)
    points[27:36] = np.stack([np.full(9, 0.5), np.linspace(0.42, 0.6, 9)], axis=1)
    points[48:68] = np.stack([np.linspace(0.38, 0.62, 20), 0.7 + 0.02 * np.sin(np.arange(20))], axis=1)
    points[48], points[54] = (0.38, 0.7), (0.62, 0.7)
    points[:, 0] += 0.1 * np.sin(np.deg2rad(yaw))
    return points * size


@dataclasses.dataclass
class FakeParams:
    identity: np.ndarray
    pose: np.ndarray
    seed: int

    def __len__(self):
        return len(self.identity)

    def with_pose(self, yaw=0.0, pitch=0.0, roll=0.0):
        pose = self.pose.copy()
        for axis, value in enumerate((yaw, pitch, roll)):
            if value is not None:
                pose[:, axis] = value
        return FakeParams(self.identity, pose, self.seed)


@dataclasses.dataclass
class FakeBatch:
    image: np.ndarray
    segmentation: np.ndarray
    sketch: np.ndarray
    landmarks: np.ndarray
    landmark_visible: np.ndarray
    attributes: np.ndarray
    intensities: np.ndarray
    styles: dict
    identity: np.ndarray
    pose: np.ndarray


class FakeWorld:
    """Implements the FaceWorld contract with simple deterministic pictures."""

    def __init__(self, size=64, correlation=1.0, backend="auto"):
        self.size = size

    def sample(self, n, seed=0):
        rng = np.random.default_rng(seed)
        return FakeParams(rng.integers(0, 4, n).astype(np.int64) * 1_000_003 + 7, rng.uniform(-60, 60, (n, 3)).astype(np.float32), seed)

    def render(self, params):
        n, size = len(params), self.size
        rng = np.random.default_rng(params.seed)
        image = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
        image[:, : size // 2] = 90  # smooth areas survive JPEG exactly enough to compare
        segmentation = np.zeros((n, size, size), np.uint8)
        segmentation[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
        segmentation[:, : size // 5] = 17
        intensities = rng.uniform(0, 1, (n, len(WORLD_ATTRIBUTES))).astype(np.float32)
        return FakeBatch(
            image=image,
            segmentation=segmentation,
            sketch=np.where(segmentation > 0, 0, 255).astype(np.uint8),
            landmarks=np.stack([face_template(size, yaw) for yaw in params.pose[:, 0]]),
            landmark_visible=np.ones((n, 68), bool),
            attributes=np.where(intensities > 0.5, 1, -1).astype(np.int8),
            intensities=intensities,
            styles={"Bangs": rng.integers(0, 4, n), "Eyeglasses": rng.integers(0, 4, n)},
            identity=params.identity.copy(),
            pose=params.pose.copy(),
        )

    def fingerprint(self):
        return f"fake-world-v1-size{self.size}"


@pytest.fixture
def fake_world(monkeypatch):
    import ml.data.world as world_module

    monkeypatch.setattr(world_module, "ATTRIBUTES", WORLD_ATTRIBUTES, raising=False)
    monkeypatch.setattr(world_module, "SEGMENT_CLASSES", WORLD_CLASSES, raising=False)
    monkeypatch.setattr(world_module, "FaceWorld", FakeWorld, raising=False)
    return FakeWorld(size=64)


# ------------------------------------------------------------------------------------- export round trip
def test_export_round_trips_through_the_readers(tmp_path, fake_world):
    manifest = export.export_dataset(tmp_path, count=5, size=64, world=fake_world, chunk_size=3, progress=False)
    # the same faces the exporter rendered, re-rendered from the same seeds
    expected = [fake_world.render(fake_world.sample(n, seed=datasets.chunk_seed(0, k))) for k, n in ((0, 3), (1, 2))]
    attributes = np.concatenate([b.attributes for b in expected])
    landmarks = np.concatenate([b.landmarks for b in expected])
    images = np.concatenate([b.image for b in expected])
    columns = [name for name in CELEBA_ATTRIBUTES if name in WORLD_ATTRIBUTES]  # CelebA's column order

    celeba = CelebA(tmp_path / "celeba", partition="all", value_range=(0, 1))
    assert len(celeba) == 5 and celeba.attribute_names == tuple(columns)
    for index in range(5):
        item = celeba[index]
        assert item["name"] == f"{index + 1:06d}.jpg"
        assert item["attributes"].tolist() == [float(attributes[index, WORLD_ATTRIBUTES.index(c)]) for c in columns]
        assert np.abs(item["landmarks"].numpy() - five_points(landmarks[index])).max() <= 0.5  # integers, as in CelebA
        assert np.abs(item["landmarks68"].numpy() - landmarks[index]).max() <= 0.005
        smooth = tensor_to_image(item["image"], (0, 1))[:24].astype(int)  # the flat top, away from JPEG blocks touching the noise
        assert np.abs(smooth - images[index, :24]).max() <= 2
    identities = [int(celeba[i]["identity"]) for i in range(5)]
    assert min(identities) == 1 and len(set(identities)) == len(set(np.concatenate([b.identity for b in expected])))
    split_sizes = [len(CelebA(tmp_path / "celeba", partition=p)) for p in ("train", "valid", "test")]
    assert sum(split_sizes) == 5

    masks = CelebAMaskHQ(tmp_path / "celebamask")
    assert len(masks) == 5 and masks.attribute_names == tuple(columns)
    segmentation = np.concatenate([b.segmentation for b in expected])
    for index in range(5):
        item = masks[index]
        assert np.array_equal(item["segmentation"].numpy(), segmentation[index])
        assert item["sketch"].shape == (1, 64, 64)
    # the per-class masks alone give the same label maps
    os.rename(tmp_path / "celebamask" / "CelebAMask-HQ-mask", tmp_path / "combined-elsewhere")
    assert np.array_equal(CelebAMaskHQ(tmp_path / "celebamask")[2]["segmentation"].numpy(), segmentation[2])

    pairs = MultiPIEPairs(tmp_path / "multipie", size=None)
    assert len(pairs) == 5 * len(export.MULTIPIE_EXPORT_CAMERAS)
    item = pairs[0]
    assert item["profile"].shape == (3, 64, 64)
    # TP-GAN alignment: eyes level at row 40/128, eye midpoint centred
    eyes = item["frontal_landmarks"].numpy()[:2]
    assert np.allclose(eyes.mean(axis=0), (32, 20), atol=0.02) and abs(eyes[0, 1] - eyes[1, 1]) < 0.02
    train, test = MultiPIEPairs(tmp_path / "multipie", split="train"), MultiPIEPairs(tmp_path / "multipie", split="test")
    assert len(train) + len(test) == len(pairs)
    assert not {p[0].subject for p in train.pairs} & {p[0].subject for p in test.pairs}
    assert manifest["world_fingerprint"] == fake_world.fingerprint()


def test_export_is_deterministic_and_fingerprinted(tmp_path, fake_world):
    for name in ("a", "b"):
        export.export_dataset(tmp_path / name, count=3, size=32, formats=["celeba"], world=FakeWorld(32), progress=False)
    first, second = fingerprint.folder_fingerprint(tmp_path / "a"), fingerprint.folder_fingerprint(tmp_path / "b")
    assert first == second and first.startswith("folder:")
    labels = tmp_path / "b" / "celeba" / "list_attr_celeba.txt"
    labels.write_text(labels.read_text().replace(" 1", "-1", 1))
    assert fingerprint.folder_fingerprint(tmp_path / "b") != first
    assert fingerprint.data_fingerprint(FakeWorld(32)) == "world:fake-world-v1-size32"
    assert fingerprint.data_fingerprint(CelebA(tmp_path / "a" / "celeba", partition="all")).startswith("folder:")


def test_render_command_writes_all_formats(tmp_path, fake_world, capsys):
    from ml.cli import main

    code = main(["render", "--out", str(tmp_path), "--count", "2", "--size", "32", "--formats", "celeba,celebamask", "--quiet"])
    assert code == 0
    assert (tmp_path / "celeba" / "list_attr_celeba.txt").exists() and (tmp_path / "celebamask" / "CelebA-HQ-img" / "1.jpg").exists()
    assert not (tmp_path / "multipie").exists()
    assert "world_fingerprint" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["render", "--out", str(tmp_path), "--count", "2", "--formats", "celeba,imagenet"])


# ------------------------------------------------------------------------------------- on the fly
def test_synthetic_stream_is_deterministic_and_needs_no_disk(fake_world):
    stream = SyntheticFaces(64, seed=3, length=10, chunk_size=4, attributes=["Smiling", "Male"])
    items = list(stream)
    assert len(items) == 10 == len(stream)
    again = list(SyntheticFaces(64, seed=3, length=10, chunk_size=4, attributes=["Smiling", "Male"]))
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(items, again))
    assert items[0]["image"].shape == (3, 64, 64) and items[0]["attributes"].shape == (2,)
    assert items[0]["segmentation"].dtype == torch.int64 and items[0]["landmarks68"].shape == (68, 2)
    batches = list(stream.batches())
    assert [len(b["image"]) for b in batches] == [4, 4, 2]
    assert torch.equal(batches[2]["image"][1], items[9]["image"])
    loader = torch.utils.data.DataLoader(stream, batch_size=5)
    assert [len(batch["image"]) for batch in loader] == [5, 5]
    with pytest.raises(KeyError):
        SyntheticFaces(64, attributes=["Attractive"])


def _real_world_available() -> bool:
    try:
        from ml.data.world import FaceWorld  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _real_world_available(), reason="the synthetic world renderer has not landed yet")
def test_real_world_export_round_trip(tmp_path):
    from ml.data.world import ATTRIBUTES, FaceWorld

    world = FaceWorld(size=64)
    export.export_dataset(tmp_path, count=4, size=64, world=world, chunk_size=4, progress=False)
    params = world.sample(4, seed=datasets.chunk_seed(0, 0))
    batch = world.render(params)
    celeba = CelebA(tmp_path / "celeba", partition="all", attributes=["Smiling", "Male"])
    for index in range(4):
        expected = [float(batch.attributes[index, list(ATTRIBUTES).index(n)]) for n in ("Smiling", "Male")]
        assert celeba[index]["attributes"].tolist() == expected
    masks = CelebAMaskHQ(tmp_path / "celebamask")
    assert masks[0]["segmentation"].shape == (64, 64)
    assert len(MultiPIEPairs(tmp_path / "multipie")) == 4 * len(export.MULTIPIE_EXPORT_CAMERAS)
