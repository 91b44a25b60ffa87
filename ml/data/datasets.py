"""Dataset readers: CelebA, MultiPIE-style frontal/profile pairs, CelebAMask-HQ-style image/mask/sketch
triples, and an on-the-fly dataset that renders the synthetic world as it trains (no disk).

The readers read the real datasets' files as they are distributed (header lines, -1/1 labels,
file names), so a folder written by ``python -m ml render`` and a real download read the same way.

Every item is a dict of tensors: ``image`` is float32 [3, H, W] in ``value_range`` (default [-1, 1]);
``attributes`` is float32 [k] in CelebA's -1/+1 (``(a + 1) / 2`` gives 0/1 targets); landmarks are
float32 [n, 2] pixel coordinates of the returned image.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

# The 40 CelebA attributes, in the order of list_attr_celeba.txt.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)
CELEBA_LANDMARK_NAMES = (
    "lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y",
)
PARTITIONS = {"train": 0, "valid": 1, "val": 1, "validation": 1, "test": 2}

# CelebAMask-HQ label-map classes, in the order of its g_mask script (0 = background).
CELEBAMASK_CLASSES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
    "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)
CELEBAMASK_PER_FOLDER = 2000  # CelebAMask-HQ-mask-anno/<i // 2000>/<i:05d>_<class>.png

# MultiPIE camera code (as in file names) -> yaw in degrees; 051 (camera 05_1) is frontal.
MULTIPIE_CAMERA_YAW = {
    "240": 90, "010": 75, "200": 60, "190": 45, "041": 30, "050": 15, "051": 0,
    "140": -15, "130": -30, "080": -45, "090": -60, "120": -75, "110": -90,
}
MULTIPIE_FRONTAL_CAMERA = "051"
_MULTIPIE_NAME = re.compile(r"^(\d{3,})_(\d{2})_(\d{2})_(\d{3})_(\d{2})(?:_cropped)?$")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class DatasetFormatError(ValueError):
    """A dataset file does not have the layout of the real dataset's file."""


# ------------------------------------------------------------------------------------- images
def image_to_tensor(image: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [3, H, W] in ``value_range``."""
    low, high = value_range
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:  # PIL-backed arrays are read-only; torch wants to own writable memory
        array = array.copy()
    tensor = torch.from_numpy(array).permute(2, 0, 1).float()
    return tensor * ((high - low) / 255.0) + low


def tensor_to_image(tensor: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The inverse of :func:`image_to_tensor`, rounded and clipped."""
    low, high = value_range
    scaled = (tensor.detach().float().cpu() - low) * (255.0 / (high - low))
    return scaled.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class Resize:
    """Optional square centre crop, then resize; also maps point coordinates the same way."""

    size: int | None = None
    center_crop: bool = False

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        if not self.center_crop:
            return (0, 0, width, height)
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return (left, top, left + side, top + side)

    def image(self, image: np.ndarray, resample=Image.BICUBIC) -> np.ndarray:
        height, width = image.shape[:2]
        box = self.box(width, height)
        if box == (0, 0, width, height) and (self.size is None or (width, height) == (self.size, self.size)):
            return image
        pil = Image.fromarray(image).crop(box)
        if self.size is not None:
            pil = pil.resize((self.size, self.size), resample)
        return np.asarray(pil)

    def points(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        left, top, right, bottom = self.box(width, height)
        points = np.asarray(points, dtype=np.float32) - np.array([left, top], dtype=np.float32)
        if self.size is None:
            return points
        scale = np.array([self.size / (right - left), self.size / (bottom - top)], dtype=np.float32)
        # pixel centres: index x covers [x - .5, x + .5], so scale about the -0.5 corner
        return (points + 0.5) * scale - 0.5


# ------------------------------------------------------------------------------------- CelebA files
def _data_lines(path: Path) -> list[str]:
    return [line for line in Path(path).read_text().splitlines() if line.strip()]


def read_celeba_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """A CelebA label table: line 1 the row count, line 2 the column names, then ``file v1 v2 ...``.

    This is the layout of list_attr_celeba.txt, list_landmarks_align_celeba.txt, list_bbox_celeba.txt
    and CelebAMask-HQ-attribute-anno.txt. The Kaggle CSV variant (``image_id,...`` header) also reads.
    Returns (file names, column names, values as a float64 [N, columns] array).
    """
    path = Path(path)
    if path.suffix == ".csv":
        return _read_csv_table(path)
    lines = _data_lines(path)
    if len(lines) < 2:
        raise DatasetFormatError(f"{path}: expected a count line and a header line")
    try:
        count = int(lines[0].split()[0])
    except ValueError as error:
        raise DatasetFormatError(f"{path}: line 1 should be the number of rows, not {lines[0]!r}") from error
    columns = lines[1].split()
    if columns and columns[0] == "image_id":  # list_bbox_celeba.txt names its first column
        columns = columns[1:]
    rows = lines[2:]
    if len(rows) != count:
        raise DatasetFormatError(f"{path}: line 1 says {count} rows but {len(rows)} follow")
    names, values = [], np.empty((count, len(columns)), dtype=np.float64)
    for row_index, row in enumerate(rows):
        fields = row.split()
        if len(fields) != len(columns) + 1:
            raise DatasetFormatError(f"{path}: row {row_index + 3} has {len(fields) - 1} values, expected {len(columns)}")
        names.append(fields[0])
        values[row_index] = [float(value) for value in fields[1:]]
    return names, columns, values


def _read_csv_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for row in reader if row]
    values = np.array([[float(value) for value in row[1:]] for row in rows], dtype=np.float64)
    return [row[0] for row in rows], header[1:], values.reshape(len(rows), len(header) - 1)


def read_celeba_mapping(path: Path) -> dict[str, int]:
    """``file value`` per line, no header: list_eval_partition.txt and identity_CelebA.txt."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        return {row[0]: int(row[1]) for row in rows if row}
    mapping = {}
    for line_number, line in enumerate(_data_lines(path), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetFormatError(f"{path}: line {line_number} should be 'file value', not {line!r}")
        mapping[fields[0]] = int(fields[1])
    return mapping


def write_celeba_table(
    path: Path, names: Sequence[str], columns: Sequence[str], values: np.ndarray, integer_width: int = 2, decimals: int | None = None
) -> None:
    """Write a table in CelebA's own layout: count line, header line, then ``file v1 v2 ...``.

    Integers are right-aligned to ``integer_width`` (CelebA's "-1  1" spacing); ``decimals`` writes floats.
    """
    lines = [str(len(names)), " ".join(columns) + " "]
    for name, row in zip(names, np.asarray(values)):
        if decimals is None:
            cells = (f"{int(round(value)):>{integer_width}d}" for value in row)
        else:
            cells = (f"{value:.{decimals}f}" for value in row)
        lines.append(name + " " + " ".join(cells))
    Path(path).write_text("\n".join(lines) + "\n")


def write_celeba_mapping(path: Path, mapping: Iterable[tuple[str, int]]) -> None:
    Path(path).write_text("".join(f"{name} {int(value)}\n" for name, value in mapping))


def _partition_code(partition: str | int | None) -> int | None:
    if partition is None or partition == "all":
        return None
    if isinstance(partition, int):
        return partition
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {sorted(set(PARTITIONS))} or 'all', not {partition!r}")
    return PARTITIONS[partition]


def _find_first(root: Path, candidates: Sequence[str]) -> Path | None:
    for candidate in candidates:
        if (root / candidate).exists():
            return root / candidate
    return None


# ------------------------------------------------------------------------------------- CelebA dataset
class CelebA(Dataset):
    """A CelebA-format folder: ``img_align_celeba/`` plus the label files beside it.

    ``attributes`` selects columns by CelebA name (default: every column of the attribute file);
    ``partition`` is "train", "valid", "test" or "all" (needs list_eval_partition.txt unless "all").
    Identity and the 5 landmarks are returned when their files exist (identity -1 otherwise).
    Files named ``list_*_facelab.txt`` hold the synthetic world's extra ground truth (68 landmarks,
    pose); they are read when present and ignored by everyone else.
    """

    IMAGE_FOLDERS = ("img_align_celeba", "img_align_celeba_png", "img_celeba", "images")

    def __init__(
        self,
        root: str | Path,
        *,
        partition: str | int | None = "train",
        attributes: Sequence[str] | None = None,
        size: int | None = None,
        center_crop: bool = False,
        value_range: tuple[float, float] = (-1.0, 1.0),
        image_folder: str | None = None,
    ):
        self.root = Path(root)
        self.image_dir = self._image_dir(image_folder)
        self.resize = Resize(size, center_crop)
        self.value_range = value_range
        attribute_file = _find_first(self.root, ("list_attr_celeba.txt", "list_attr_celeba.csv"))
        if attribute_file is None:
            raise FileNotFoundError(f"{self.root}: no list_attr_celeba.txt")
        names, columns, values = read_celeba_table(attribute_file)
        self.all_attribute_names = tuple(columns)
        self.attribute_names = tuple(attributes) if attributes is not None else self.all_attribute_names
        unknown = [name for name in self.attribute_names if name not in columns]
        if unknown:
            raise KeyError(f"unknown attributes {unknown}; this folder has {list(columns)}")
        picked = [columns.index(name) for name in self.attribute_names]
        rows = self._rows_in_partition(names, partition)
        self.names = [names[row] for row in rows]
        self.attributes = values[rows][:, picked].astype(np.float32)
        self.identity = self._optional_mapping(("identity_CelebA.txt", "identity_CelebA.csv"), -1)
        self.landmarks = self._optional_points(("list_landmarks_align_celeba.txt", "list_landmarks_align_celeba.csv"))
        self.landmarks68 = self._optional_points(("list_landmarks68_facelab.txt",))
        self.pose = self._optional_table("list_pose_facelab.txt")

    def _image_dir(self, image_folder: str | None) -> Path:
        folder = self.root / image_folder if image_folder else _find_first(self.root, self.IMAGE_FOLDERS)
        if folder is None or not folder.is_dir():
            raise FileNotFoundError(f"{self.root}: no image folder (looked for {', '.join(self.IMAGE_FOLDERS)})")
        nested = folder / folder.name  # the Kaggle archive nests img_align_celeba/img_align_celeba/
        return nested if nested.is_dir() else folder

    def _rows_in_partition(self, names: list[str], partition) -> list[int]:
        code = _partition_code(partition)
        if code is None:
            return list(range(len(names)))
        partition_file = _find_first(self.root, ("list_eval_partition.txt", "list_eval_partition.csv"))
        if partition_file is None:
            raise FileNotFoundError(f"{self.root}: partition {partition!r} needs list_eval_partition.txt")
        partitions = read_celeba_mapping(partition_file)
        return [row for row, name in enumerate(names) if partitions.get(name) == code]

    def _optional_mapping(self, candidates, missing: int) -> np.ndarray | None:
        path = _find_first(self.root, candidates)
        if path is None:
            return None
        mapping = read_celeba_mapping(path)
        return np.array([mapping.get(name, missing) for name in self.names], dtype=np.int64)

    def _optional_points(self, candidates) -> np.ndarray | None:
        path = _find_first(self.root, candidates)
        if path is None:
            return None
        names, _, values = read_celeba_table(path)
        by_name = dict(zip(names, values))
        points = np.full((len(self.names), values.shape[1] // 2, 2), np.nan, dtype=np.float32)
        for index, name in enumerate(self.names):
            if name in by_name:
                points[index] = by_name[name].reshape(-1, 2)
        return points

    def _optional_table(self, filename: str) -> np.ndarray | None:
        path = self.root / filename
        if not path.exists():
            return None
        names, _, values = read_celeba_table(path)
        by_name = dict(zip(names, values))
        table = np.full((len(self.names), values.shape[1]), np.nan, dtype=np.float32)
        for index, name in enumerate(self.names):
            if name in by_name:
                table[index] = by_name[name]
        return table

    def image_path(self, index: int) -> Path:
        path = self.image_dir / self.names[index]
        if not path.exists():  # the PNG edition keeps the .jpg names in its label files
            for suffix in IMAGE_SUFFIXES:
                if path.with_suffix(suffix).exists():
                    return path.with_suffix(suffix)
        return path

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        raw = read_rgb(self.image_path(index))
        height, width = raw.shape[:2]
        item = {
            "image": image_to_tensor(self.resize.image(raw), self.value_range),
            "attributes": torch.from_numpy(self.attributes[index]),
            "identity": torch.tensor(self.identity[index] if self.identity is not None else -1),
            "index": index,
            "name": self.names[index],
        }
        if self.landmarks is not None:
            item["landmarks"] = torch.from_numpy(self.resize.points(self.landmarks[index], width, height))
        if self.landmarks68 is not None:
            item["landmarks68"] = torch.from_numpy(self.resize.points(self.landmarks68[index], width, height))
        if self.pose is not None:
            item["pose"] = torch.from_numpy(self.pose[index])
        return item


# ------------------------------------------------------------------------------------- MultiPIE
@dataclass(frozen=True)
class MultiPIEName:
    """``SSS_ss_rr_CCC_ii``: subject, session, recording (expression), camera, illumination."""

    subject: str
    session: str
    recording: str
    camera: str
    illumination: str

    @classmethod
    def parse(cls, stem: str) -> "MultiPIEName | None":
        match = _MULTIPIE_NAME.match(stem)
        return cls(*match.groups()) if match else None

    @property
    def stem(self) -> str:
        return f"{self.subject}_{self.session}_{self.recording}_{self.camera}_{self.illumination}"

    @property
    def view(self) -> str:
        """The name without illumination: MultiPIE's 5-point files are shared by all 20 lights."""
        return f"{self.subject}_{self.session}_{self.recording}_{self.camera}"

    @property
    def yaw(self) -> float:
        if self.camera not in MULTIPIE_CAMERA_YAW:
            raise DatasetFormatError(f"camera {self.camera} is not one of MultiPIE's 13 head-height cameras")
        return float(MULTIPIE_CAMERA_YAW[self.camera])

    def frontal(self) -> "MultiPIEName":
        """The target of a pair: same subject, session, recording and light, frontal camera."""
        return MultiPIEName(self.subject, self.session, self.recording, MULTIPIE_FRONTAL_CAMERA, self.illumination)


def read_five_points(path: Path) -> np.ndarray:
    """A ``.5pt`` file: 5 lines ``x y`` (eyes, nose, mouth corners)."""
    values = np.array([[float(v) for v in line.split()[:2]] for line in _data_lines(path)], dtype=np.float32)
    if values.shape != (5, 2):
        raise DatasetFormatError(f"{path}: expected 5 lines 'x y', got {values.shape}")
    return values


def write_five_points(path: Path, points: np.ndarray) -> None:
    Path(path).write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in np.asarray(points)))


class MultiPIEPairs(Dataset):
    """Profile -> frontal pairs from a MultiPIE-style folder.

    Images are found anywhere under ``root`` (``FS_aligned/`` flat, or MultiPIE's own
    session/multiview/subject/recording/camera tree) by their ``SSS_ss_rr_CCC_ii`` names. A pair's
    target is the same subject, session, recording and illumination seen by the frontal camera 05_1.
    ``split`` reads ``<split>.csv`` (one file name per line, first column). 5-point landmarks come from
    ``FS_t5pt/<SSS_ss_rr_CCC>_trans.5pt`` when present. ``mirror_to_one_side`` flips negative-yaw
    inputs (and their targets) so every input faces the same way, as TP-GAN trains.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | None = None,
        max_yaw: float = 90.0,
        include_frontal: bool = True,
        mirror_to_one_side: bool = False,
        size: int | None = None,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ):
        self.root = Path(root)
        self.resize = Resize(size)
        self.value_range = value_range
        self.mirror_to_one_side = mirror_to_one_side
        self.paths = self._index_images()
        allowed = self._split_names(split)
        self.pairs: list[tuple[MultiPIEName, MultiPIEName]] = []
        for name in sorted(self.paths, key=lambda n: n.stem):
            if allowed is not None and name.stem not in allowed:
                continue
            if name.camera not in MULTIPIE_CAMERA_YAW or abs(name.yaw) > max_yaw:
                continue
            if name.camera == MULTIPIE_FRONTAL_CAMERA and not include_frontal:
                continue
            if name.frontal() in self.paths:
                self.pairs.append((name, name.frontal()))
        self.five_point_dir = _find_first(self.root, ("FS_t5pt",))

    def _index_images(self) -> dict[MultiPIEName, Path]:
        paths = {}
        for path in sorted(self.root.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                name = MultiPIEName.parse(path.stem)
                if name is not None:
                    paths.setdefault(name, path)
        return paths

    def _split_names(self, split: str | None) -> set[str] | None:
        if split is None:
            return None
        path = self.root / f"{split}.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path}: the split lists its files one per line")
        with open(path, newline="") as handle:
            return {Path(row[0].strip()).stem for row in csv.reader(handle) if row and row[0].strip()}

    def five_points(self, name: MultiPIEName) -> np.ndarray | None:
        if self.five_point_dir is None:
            return None
        path = self.five_point_dir / f"{name.view}_trans.5pt"
        return read_five_points(path) if path.exists() else None

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, name: MultiPIEName, mirror: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        raw = read_rgb(self.paths[name])
        height, width = raw.shape[:2]
        image = self.resize.image(raw)
        points = self.five_points(name)
        if points is not None:
            points = self.resize.points(points, width, height)
        if mirror:
            image = image[:, ::-1]
            if points is not None:
                points = points.copy()
                points[:, 0] = image.shape[1] - 1 - points[:, 0]
                points = points[[1, 0, 2, 4, 3]]  # left and right swap places in a mirror
        tensor = image_to_tensor(image, self.value_range)
        return tensor, (torch.from_numpy(np.ascontiguousarray(points)) if points is not None else None)

    def __getitem__(self, index: int) -> dict:
        profile_name, frontal_name = self.pairs[index]
        mirror = self.mirror_to_one_side and profile_name.yaw < 0
        profile, profile_points = self._load(profile_name, mirror)
        frontal, frontal_points = self._load(frontal_name, mirror)
        item = {
            "profile": profile,
            "frontal": frontal,
            "identity": torch.tensor(int(profile_name.subject)),
            "yaw": torch.tensor(-profile_name.yaw if mirror else profile_name.yaw),
            "name": profile_name.stem,
            "mirrored": mirror,
        }
        if profile_points is not None and frontal_points is not None:
            item["profile_landmarks"] = profile_points
            item["frontal_landmarks"] = frontal_points
        return item


# ------------------------------------------------------------------------------------- CelebAMask-HQ
class CelebAMaskHQ(Dataset):
    """Image / label map / sketch triples in CelebAMask-HQ's layout.

    Images: ``CelebA-HQ-img/<i>.jpg``. Label maps: a combined ``CelebAMask-HQ-mask/<i>.png`` (class
    ids of :data:`CELEBAMASK_CLASSES`) if that folder exists, else composed from the released
    per-class masks ``CelebAMask-HQ-mask-anno/<i // 2000>/<i:05d>_<class>.png`` (later classes win,
    as the dataset's own script does). Sketches: ``CelebA-HQ-sketch/<i>.png`` when present.
    Masks are resized (nearest) to the image size: the real masks are 512 px, the images 1024 px.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        attributes: Sequence[str] | None = None,
        size: int | None = None,
        value_range: tuple[float, float] = (-1.0, 1.0),
        indices: Sequence[int] | None = None,
    ):
        self.root = Path(root)
        self.image_dir = self.root / "CelebA-HQ-img"
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.root}: no CelebA-HQ-img/ folder")
        self.size = size
        self.value_range = value_range
        found = sorted(int(path.stem) for path in self.image_dir.iterdir() if path.stem.isdigit() and path.suffix.lower() in IMAGE_SUFFIXES)
        self.indices = list(indices) if indices is not None else found
        self.combined_dir = _find_first(self.root, ("CelebAMask-HQ-mask", "mask"))
        self.anno_dir = _find_first(self.root, ("CelebAMask-HQ-mask-anno",))
        self.sketch_dir = _find_first(self.root, ("CelebA-HQ-sketch", "sketch"))
        self.attribute_names: tuple[str, ...] = ()
        self.attributes = None
        attribute_file = self.root / "CelebAMask-HQ-attribute-anno.txt"
        if attribute_file.exists():
            names, columns, values = read_celeba_table(attribute_file)
            self.attribute_names = tuple(attributes) if attributes is not None else tuple(columns)
            by_name = dict(zip(names, values))
            picked = [columns.index(name) for name in self.attribute_names]
            self.attributes = np.stack([by_name[f"{i}.jpg"][picked] for i in self.indices]).astype(np.float32)
        elif attributes:
            raise FileNotFoundError(f"{attribute_file} is needed to select attributes")

    def __len__(self) -> int:
        return len(self.indices)

    def _image_path(self, number: int) -> Path:
        for suffix in IMAGE_SUFFIXES:
            path = self.image_dir / f"{number}{suffix}"
            if path.exists():
                return path
        raise FileNotFoundError(f"{self.image_dir}: no image {number}")

    def label_map(self, number: int) -> np.ndarray:
        if self.combined_dir is not None and (self.combined_dir / f"{number}.png").exists():
            with Image.open(self.combined_dir / f"{number}.png") as mask:
                return np.asarray(mask.convert("L") if mask.mode not in ("L", "P") else mask).astype(np.uint8)
        if self.anno_dir is None:
            raise FileNotFoundError(f"{self.root}: no label map for image {number}")
        folder = self.anno_dir / str(number // CELEBAMASK_PER_FOLDER)
        label = None
        for class_id, class_name in enumerate(CELEBAMASK_CLASSES[1:], start=1):
            path = folder / f"{number:05d}_{class_name}.png"
            if not path.exists():
                continue
            with Image.open(path) as mask:
                on = np.asarray(mask.convert("L")) > 127
            if label is None:
                label = np.zeros(on.shape, dtype=np.uint8)
            label[on] = class_id
        if label is None:
            raise FileNotFoundError(f"{folder}: no masks for image {number}")
        return label

    def __getitem__(self, position: int) -> dict:
        number = self.indices[position]
        image = read_rgb(self._image_path(number))
        side = self.size or image.shape[0]
        if image.shape[:2] != (side, side):
            image = np.asarray(Image.fromarray(image).resize((side, side), Image.BICUBIC))
        label = self.label_map(number)
        if label.shape != (side, side):
            label = np.asarray(Image.fromarray(label).resize((side, side), Image.NEAREST))
        item = {
            "image": image_to_tensor(image, self.value_range),
            "segmentation": torch.from_numpy(label.astype(np.int64)),
            "index": number,
        }
        if self.sketch_dir is not None and (self.sketch_dir / f"{number}.png").exists():
            with Image.open(self.sketch_dir / f"{number}.png") as sketch:
                sketch = sketch.convert("L").resize((side, side), Image.BILINEAR)
            item["sketch"] = torch.from_numpy(np.asarray(sketch, dtype=np.float32) / 255.0)[None]
        if self.attributes is not None:
            item["attributes"] = torch.from_numpy(self.attributes[position])
        return item


# ------------------------------------------------------------------------------------- synthetic, on the fly
def chunk_seed(seed: int, chunk: int) -> int:
    """An independent, reproducible seed for the ``chunk``-th rendered batch of a stream."""
    return int(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, dtype=np.uint32)[0])


class SyntheticFaces(IterableDataset):
    """Faces rendered by the synthetic world as training asks for them: no disk at all.

    The stream is a deterministic function of ``seed``: chunk k is ``world.sample(chunk_size,
    seed=chunk_seed(seed, k))``. DataLoader workers take interleaved chunks, so the items are the
    same whatever the worker count (their order across workers follows the loader). ``length`` =
    None streams forever. Items carry everything the world knows: image, attributes (-1/+1,
    ``attributes`` selects by CelebA name), intensities, identity, pose, 68 landmarks and
    visibility, segmentation (CelebAMask-HQ ids) and sketch. :meth:`batches` yields whole
    batches without a DataLoader, the fastest way to train in-process.
    """

    def __init__(
        self,
        size: int = 64,
        *,
        seed: int = 0,
        length: int | None = None,
        attributes: Sequence[str] | None = None,
        chunk_size: int = 32,
        correlation: float = 1.0,
        backend: str = "auto",
        value_range: tuple[float, float] = (-1.0, 1.0),
        world=None,
    ):
        self.size = size
        self.seed = seed
        self.length = length
        self.chunk_size = chunk_size
        self.value_range = value_range
        self._world = world
        self._world_args = dict(size=size, correlation=correlation, backend=backend)
        from ml.data.world import ATTRIBUTES

        self.attribute_names = tuple(attributes) if attributes is not None else tuple(ATTRIBUTES)
        unknown = [name for name in self.attribute_names if name not in ATTRIBUTES]
        if unknown:
            raise KeyError(f"the synthetic world has no attributes {unknown}")
        self._columns = [list(ATTRIBUTES).index(name) for name in self.attribute_names]

    @property
    def world(self):
        if self._world is None:  # built lazily so that each DataLoader worker builds its own
            from ml.data.world import FaceWorld

            self._world = FaceWorld(**self._world_args)
        return self._world

    def fingerprint(self) -> str:
        return self.world.fingerprint()

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("an endless SyntheticFaces stream has no length")
        return self.length

    def render_chunk(self, chunk: int):
        params = self.world.sample(self.chunk_size, seed=chunk_seed(self.seed, chunk))
        return self.world.render(params)

    def batch_tensors(self, batch) -> dict:
        """A rendered batch as a dict of batched tensors."""
        images = torch.from_numpy(np.ascontiguousarray(batch.image)).permute(0, 3, 1, 2).float()
        low, high = self.value_range
        tensors = {
            "image": images * ((high - low) / 255.0) + low,
            "attributes": torch.from_numpy(np.asarray(batch.attributes)[:, self._columns].astype(np.float32)),
            "identity": torch.from_numpy(np.asarray(batch.identity).astype(np.int64)),
            "pose": torch.from_numpy(np.asarray(batch.pose, dtype=np.float32)),
            "landmarks68": torch.from_numpy(np.asarray(batch.landmarks, dtype=np.float32)),
            "segmentation": torch.from_numpy(np.asarray(batch.segmentation).astype(np.int64)),
            "sketch": torch.from_numpy(np.asarray(batch.sketch, dtype=np.float32) / 255.0)[:, None],
        }
        if getattr(batch, "landmark_visible", None) is not None:
            tensors["landmark_visible"] = torch.from_numpy(np.asarray(batch.landmark_visible, dtype=bool))
        if getattr(batch, "intensities", None) is not None:
            tensors["intensities"] = torch.from_numpy(np.asarray(batch.intensities, dtype=np.float32)[:, self._columns])
        return tensors

    def _chunks(self, first: int, step: int) -> Iterator[int]:
        chunk = first
        while self.length is None or chunk * self.chunk_size < self.length:
            yield chunk
            chunk += step

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        first, step = (info.id, info.num_workers) if info is not None else (0, 1)
        for chunk in self._chunks(first, step):
            tensors = self.batch_tensors(self.render_chunk(chunk))
            count = len(tensors["image"])
            if self.length is not None:
                count = min(count, self.length - chunk * self.chunk_size)
            for row in range(count):
                yield {key: value[row] for key, value in tensors.items()}

    def batches(self) -> Iterator[dict]:
        """Whole rendered chunks as batched tensors (batch size = ``chunk_size``), in stream order."""
        for chunk in self._chunks(0, 1):
            tensors = self.batch_tensors(self.render_chunk(chunk))
            if self.length is not None:
                keep = min(len(tensors["image"]), self.length - chunk * self.chunk_size)
                tensors = {key: value[:keep] for key, value in tensors.items()}
            yield tensors
