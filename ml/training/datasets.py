"""Load training data into memory for `python -m ml train --data synthetic|PATH`.

    synthetic      faces rendered by ml.data.world, cached under data-cache/ as .npz
    PATH.npz       arrays images (uint8 N x H x W x 3), attributes (int8 N x A), attribute_names
    PATH/          a CelebA-format folder: list_attr_celeba.txt plus the images it names (in the
                   folder itself or in img_align_celeba/, align_5p/, data/ or images/)

Images are resized to the config's size here, once, so training never waits on decoding.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.checkpoints import fingerprint
from ml.training.data import ImageAttributeSet

CACHE_DIR = Path(__file__).resolve().parents[2] / "data-cache"
_IMAGE_DIRS = ("", "img_align_celeba", "align_5p", "data", "images")


def load_dataset(source: str, image_size: int, count: int = 4000, seed: int = 0,
                 pose: str = "wide") -> ImageAttributeSet:
    """`pose` is the synthetic world's head-pose distribution (ml.data.world.sampler.POSES)."""
    if source == "synthetic":
        return load_synthetic(image_size, count, seed, pose=pose)
    path = Path(source)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.is_dir():
        return load_celeba_folder(path, image_size, limit=count)
    raise FileNotFoundError(f"--data must be 'synthetic', a .npz file or a CelebA-format folder; got {source!r}")


def load_npz(path: str | Path) -> ImageAttributeSet:
    with np.load(path, allow_pickle=False) as archive:  # no pickle: a data file cannot run code either
        images, attributes = archive["images"], archive["attributes"]
        names = [str(name) for name in archive["attribute_names"]]
        recorded = str(archive["fingerprint"]) if "fingerprint" in archive else ""
    return ImageAttributeSet(images, attributes.astype(np.int8), names, recorded or fingerprint(images, attributes))


def save_npz(dataset: ImageAttributeSet, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=dataset.images, attributes=dataset.attributes,
             attribute_names=np.array(dataset.attribute_names), fingerprint=np.array(dataset.fingerprint))
    return path


def load_synthetic(image_size: int, count: int, seed: int = 0, chunk: int = 256,
                   pose: str = "wide") -> ImageAttributeSet:
    """Render `count` synthetic faces (cached; the same seed gives the same faces)."""
    posed = "" if pose == "wide" else f"-{pose}"
    cache = CACHE_DIR / f"synthetic-{image_size}px-{count}-seed{seed}{posed}.npz"
    if cache.is_file():
        return load_npz(cache)
    try:
        from ml.data.world import ATTRIBUTES, FaceWorld
    except ImportError as error:
        raise RuntimeError(f"the synthetic world (ml.data.world) is not available: {error}") from None
    world = FaceWorld(image_size, pose=pose)
    images, attributes = [], []
    for start in range(0, count, chunk):
        batch = world.render(world.sample(min(chunk, count - start), seed=seed * 1_000_003 + start))
        images.append(np.asarray(batch.image, dtype=np.uint8))
        attributes.append(np.asarray(batch.attributes, dtype=np.int8))
    dataset = ImageAttributeSet(np.concatenate(images), np.concatenate(attributes), list(ATTRIBUTES),
                                fingerprint({"kind": "synthetic", "size": image_size, "count": count, "seed": seed,
                                             **({"pose": pose} if posed else {})}))
    save_npz(dataset, cache)
    return dataset


def _square_resize(image, size: int) -> np.ndarray:
    from PIL import Image

    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.convert("RGB").crop((left, top, left + side, top + side))
    return np.asarray(image.resize((size, size), Image.BICUBIC), dtype=np.uint8)


def load_celeba_folder(path: str | Path, image_size: int, limit: int | None = None) -> ImageAttributeSet:
    """A CelebA-format folder (list_attr_celeba.txt: count, names, then `file +-1 ...` rows)."""
    from PIL import Image

    path = Path(path)
    lines = (path / "list_attr_celeba.txt").read_text().splitlines()
    names = lines[1].split()
    rows = [line.split() for line in lines[2:] if line.strip()][:limit]
    image_dir = next((path / sub for sub in _IMAGE_DIRS if rows and (path / sub / rows[0][0]).is_file()), None)
    if image_dir is None:
        raise FileNotFoundError(f"cannot find {rows[0][0] if rows else 'any image'} under {path}")
    images = np.stack([_square_resize(Image.open(image_dir / row[0]), image_size) for row in rows])
    attributes = np.array([[int(value) for value in row[1:]] for row in rows], dtype=np.int8)
    return ImageAttributeSet(images, attributes, names, fingerprint({"kind": "celeba-folder", "path": str(path.resolve()),
                                                                     "count": len(rows), "size": image_size}))
