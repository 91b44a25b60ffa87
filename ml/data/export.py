"""Write the synthetic world to disk in the real datasets' layouts, so that any CelebA, MultiPIE or
CelebAMask-HQ reader (ours in :mod:`ml.data.datasets`, or a paper's own) reads it unchanged.

``OUT/celeba/``      img_align_celeba/000001.jpg..., list_attr_celeba.txt, list_eval_partition.txt,
                     identity_CelebA.txt, list_landmarks_align_celeba.txt (5 points, integers like the
                     real file), plus the world's extra ground truth in ``list_*_facelab.txt``
                     (68 landmarks, pose, intensities, style ids) that real CelebA lacks.
``OUT/multipie/``    FS_aligned/SSS_01_01_CCC_00.png for 11 cameras (-75...+75 degrees) per subject,
                     TP-GAN-aligned (eyes level at row 40/128, eye-to-mouth 48/128);
                     FS_t5pt/SSS_01_01_CCC_trans.5pt; train.csv and test.csv (subjects split).
``OUT/celebamask/``  CelebA-HQ-img/<i>.jpg, CelebAMask-HQ-mask/<i>.png (label map),
                     CelebAMask-HQ-mask-anno/<i // 2000>/<i:05d>_<class>.png (the released per-class
                     masks), CelebA-HQ-sketch/<i>.png, CelebAMask-HQ-attribute-anno.txt,
                     CelebA-HQ-to-CelebA-mapping.txt.

Face i is the same face in ``celeba`` (file i+1) and ``celebamask`` (file i); MultiPIE subject i+1
is the same person. Partitions are by identity, so no person is in two splits.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ml.data.align import align_landmarks, five_points
from ml.data.datasets import (
    CELEBA_ATTRIBUTES,
    CELEBA_LANDMARK_NAMES,
    CELEBAMASK_CLASSES,
    CELEBAMASK_PER_FOLDER,
    MULTIPIE_CAMERA_YAW,
    chunk_seed,
    write_celeba_mapping,
    write_celeba_table,
    write_five_points,
)

FORMATS = ("celeba", "multipie", "celebamask")
# MultiPIE's head-height cameras within the world's yaw range (it renders -75...+75 degrees)
MULTIPIE_EXPORT_CAMERAS = tuple(camera for camera, yaw in sorted(MULTIPIE_CAMERA_YAW.items(), key=lambda item: item[1]) if abs(yaw) <= 75)
EXPORT_MANIFEST = "facelab_export.json"


@dataclass
class ExportOptions:
    out: Path
    count: int
    size: int = 128
    formats: Sequence[str] = FORMATS
    seed: int = 0
    correlation: float = 1.0
    backend: str = "auto"
    chunk_size: int = 32
    jpeg_quality: int = 95
    progress: bool = True

    def __post_init__(self):
        self.out = Path(self.out)
        self.formats = tuple(self.formats)
        unknown = [name for name in self.formats if name not in FORMATS]
        if unknown:
            raise ValueError(f"unknown formats {unknown}; choose from {', '.join(FORMATS)}")
        if self.count < 1:
            raise ValueError("count must be at least 1")


def identity_partition(identity: np.ndarray) -> np.ndarray:
    """CelebA partition codes (0 train, 1 valid, 2 test) from the identity id: 80 / 10 / 10 %."""
    bucket = (np.asarray(identity, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(56)
    return np.select([bucket < 205, bucket < 230], [0, 1], 2).astype(np.int64)


@dataclass
class _Collected:
    """Per-face rows gathered while rendering, written as label files at the end."""

    names: list = field(default_factory=list)
    attributes: list = field(default_factory=list)
    intensities: list = field(default_factory=list)
    styles: list = field(default_factory=list)
    identity: list = field(default_factory=list)
    landmarks68: list = field(default_factory=list)
    pose: list = field(default_factory=list)


class Exporter:
    def __init__(self, options: ExportOptions, world=None):
        self.options = options
        if world is None:
            from ml.data.world import FaceWorld

            world = FaceWorld(size=options.size, correlation=options.correlation, backend=options.backend)
        self.world = world
        from ml.data.world import ATTRIBUTES, SEGMENT_CLASSES

        self.world_attributes = tuple(ATTRIBUTES)
        # CelebA's own column order for the attributes the world has
        self.celeba_columns = [name for name in CELEBA_ATTRIBUTES if name in self.world_attributes]
        self.columns = [self.world_attributes.index(name) for name in self.celeba_columns]
        self.segment_lookup = _segment_lookup(SEGMENT_CLASSES)
        self.collected = _Collected()
        self.style_keys: list[str] = []

    # -------------------------------------------------------------------------------- driving
    def run(self) -> dict:
        options = self.options
        for name in options.formats:
            (options.out / name).mkdir(parents=True, exist_ok=True)
        self._make_folders()
        per_face = self._images_per_face()
        bar = _progress_bar(options.count * per_face, options.progress)
        start = 0
        chunk = 0
        while start < options.count:
            count = min(options.chunk_size, options.count - start)
            params = self.world.sample(count, seed=chunk_seed(options.seed, chunk))
            batch = self.world.render(params)
            if "celeba" in options.formats or "celebamask" in options.formats:
                self._collect(batch, start)
            if "celeba" in options.formats:
                self._write_celeba_images(batch, start)
            if "celebamask" in options.formats:
                self._write_celebamask_images(batch, start)
            if "multipie" in options.formats:
                self._write_multipie_subjects(params, start)
            bar.update(count * per_face)
            start += count
            chunk += 1
        bar.close()
        if "celeba" in options.formats:
            self._write_celeba_labels()
        if "celebamask" in options.formats:
            self._write_celebamask_labels()
        if "multipie" in options.formats:
            self._write_multipie_splits()
        manifest = self._manifest()
        (options.out / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest

    def _images_per_face(self) -> int:
        formats = self.options.formats
        return ("celeba" in formats) + ("celebamask" in formats) + len(MULTIPIE_EXPORT_CAMERAS) * ("multipie" in formats)

    def _make_folders(self) -> None:
        out = self.options.out
        folders = {
            "celeba": ["img_align_celeba"],
            "multipie": ["FS_aligned", "FS_t5pt"],
            "celebamask": ["CelebA-HQ-img", "CelebAMask-HQ-mask", "CelebAMask-HQ-mask-anno", "CelebA-HQ-sketch"],
        }
        for name in self.options.formats:
            for folder in folders[name]:
                (out / name / folder).mkdir(parents=True, exist_ok=True)

    def _manifest(self) -> dict:
        from ml.data.fingerprint import folder_fingerprint

        options = asdict(self.options)
        options["out"] = str(options["out"])
        options["formats"] = list(options["formats"])
        del options["progress"]
        return {
            "world_fingerprint": self.world.fingerprint(),
            "options": options,
            "folders": {name: folder_fingerprint(self.options.out / name) for name in self.options.formats},
            "multipie_cameras": list(MULTIPIE_EXPORT_CAMERAS) if "multipie" in self.options.formats else [],
        }

    # -------------------------------------------------------------------------------- CelebA
    def _collect(self, batch, start: int) -> None:
        collected = self.collected
        count = len(batch.image)
        attributes = np.asarray(batch.attributes)
        intensities = getattr(batch, "intensities", None)
        styles = getattr(batch, "styles", None) or {}
        if not self.style_keys:
            self.style_keys = sorted(styles)
        for row in range(count):
            collected.names.append(celeba_name(start + row))
            collected.attributes.append(attributes[row, self.columns])
            collected.intensities.append(np.asarray(intensities)[row, self.columns] if intensities is not None else np.full(len(self.columns), np.nan))
            collected.styles.append([int(np.asarray(styles[key])[row]) for key in self.style_keys])
            collected.identity.append(int(np.asarray(batch.identity)[row]))
            collected.landmarks68.append(np.asarray(batch.landmarks, dtype=np.float32)[row])
            collected.pose.append(np.asarray(batch.pose, dtype=np.float32)[row])

    def _write_celeba_images(self, batch, start: int) -> None:
        folder = self.options.out / "celeba" / "img_align_celeba"
        for row, image in enumerate(np.asarray(batch.image)):
            Image.fromarray(image).save(folder / celeba_name(start + row), quality=self.options.jpeg_quality)

    def _write_celeba_labels(self) -> None:
        root = self.options.out / "celeba"
        c = self.collected
        write_celeba_table(root / "list_attr_celeba.txt", c.names, self.celeba_columns, np.stack(c.attributes))
        identity = np.array(c.identity, dtype=np.int64)
        write_celeba_mapping(root / "list_eval_partition.txt", zip(c.names, identity_partition(identity)))
        write_celeba_mapping(root / "identity_CelebA.txt", zip(c.names, _compact_ids(identity)))
        landmarks68 = np.stack(c.landmarks68)
        five = np.stack([five_points(points) for points in landmarks68]).reshape(len(c.names), 10)
        write_celeba_table(root / "list_landmarks_align_celeba.txt", c.names, CELEBA_LANDMARK_NAMES, five, integer_width=4)
        landmark_columns = [f"p{index}_{axis}" for index in range(68) for axis in "xy"]
        write_celeba_table(root / "list_landmarks68_facelab.txt", c.names, landmark_columns, landmarks68.reshape(len(c.names), -1), decimals=2)
        write_celeba_table(root / "list_pose_facelab.txt", c.names, ("yaw", "pitch", "roll"), np.stack(c.pose), decimals=2)
        write_celeba_table(root / "list_intensity_facelab.txt", c.names, self.celeba_columns, np.stack(c.intensities), decimals=3)
        if self.style_keys:
            write_celeba_table(root / "list_style_facelab.txt", c.names, self.style_keys, np.array(c.styles))

    # -------------------------------------------------------------------------------- CelebAMask-HQ
    def _write_celebamask_images(self, batch, start: int) -> None:
        root = self.options.out / "celebamask"
        for row in range(len(batch.image)):
            number = start + row
            Image.fromarray(np.asarray(batch.image)[row]).save(root / "CelebA-HQ-img" / f"{number}.jpg", quality=self.options.jpeg_quality)
            label = self.segment_lookup[np.asarray(batch.segmentation)[row]]
            Image.fromarray(label).save(root / "CelebAMask-HQ-mask" / f"{number}.png")
            anno = root / "CelebAMask-HQ-mask-anno" / str(number // CELEBAMASK_PER_FOLDER)
            anno.mkdir(exist_ok=True)
            for class_id in np.unique(label):
                if class_id == 0:
                    continue
                mask = np.where(label == class_id, 255, 0).astype(np.uint8)
                Image.fromarray(mask).save(anno / f"{number:05d}_{CELEBAMASK_CLASSES[class_id]}.png")
            Image.fromarray(np.asarray(batch.sketch)[row]).save(root / "CelebA-HQ-sketch" / f"{number}.png")

    def _write_celebamask_labels(self) -> None:
        root = self.options.out / "celebamask"
        c = self.collected
        names = [f"{index}.jpg" for index in range(len(c.names))]
        write_celeba_table(root / "CelebAMask-HQ-attribute-anno.txt", names, self.celeba_columns, np.stack(c.attributes))
        lines = ["idx orig_idx orig_file"] + [f"{index} {index} {name}" for index, name in enumerate(c.names)]
        (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(lines) + "\n")

    # -------------------------------------------------------------------------------- MultiPIE
    def _write_multipie_subjects(self, params, start: int) -> None:
        root = self.options.out / "multipie"
        size = self.options.size
        for camera in MULTIPIE_EXPORT_CAMERAS:
            batch = self.world.render(params.with_pose(yaw=float(MULTIPIE_CAMERA_YAW[camera]), pitch=0.0, roll=0.0))
            for row in range(len(batch.image)):
                view = multipie_view(start + row, camera)
                aligned = align_landmarks(np.asarray(batch.image)[row], np.asarray(batch.landmarks)[row], style="tpgan", size=size)
                Image.fromarray(aligned.crop).save(root / "FS_aligned" / f"{view}_00.png")
                write_five_points(root / "FS_t5pt" / f"{view}_trans.5pt", aligned.five_points)

    def _write_multipie_splits(self) -> None:
        root = self.options.out / "multipie"
        train, test = [], []
        for path in sorted((root / "FS_aligned").glob("*.png")):
            subject = int(path.name.split("_")[0])
            (test if subject % 10 == 0 else train).append(path.name)
        (root / "train.csv").write_text("".join(f"{name}\n" for name in train))
        (root / "test.csv").write_text("".join(f"{name}\n" for name in test))


def celeba_name(index: int) -> str:
    return f"{index + 1:06d}.jpg"


def multipie_view(index: int, camera: str) -> str:
    """Subject index+1, session 01, recording 01, the camera: MultiPIE's name without illumination."""
    return f"{index + 1:03d}_01_01_{camera}"


def _compact_ids(identity: np.ndarray) -> np.ndarray:
    """The world's 62-bit identity ids as small numbers from 1, like CelebA's identity file."""
    _, first_seen, inverse = np.unique(identity, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_seen))  # number identities in the order they first appear
    return order[inverse] + 1


def _segment_lookup(world_classes: Sequence[str]) -> np.ndarray:
    """A 256-entry table from the world's label ids to CelebAMask-HQ's, matched by class name."""
    lookup = np.zeros(256, dtype=np.uint8)
    for world_id, name in enumerate(world_classes):
        name = "background" if name in ("bg", "background") else name
        if name not in CELEBAMASK_CLASSES:
            raise ValueError(f"the world's segment class {name!r} has no CelebAMask-HQ counterpart")
        lookup[world_id] = CELEBAMASK_CLASSES.index(name)
    return lookup


class _NoBar:
    def update(self, _count):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="render", dynamic_ncols=True)


def export_dataset(out, *, count: int, world=None, **options) -> dict:
    """Render ``count`` faces to ``out`` in the chosen formats; returns the export manifest."""
    return Exporter(ExportOptions(out=out, count=count, **options), world=world).run()
