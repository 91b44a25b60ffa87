"""Data fingerprints for checkpoint manifests: which data a model was trained on.

- synthetic data: ``"world:<the world's own fingerprint>"`` (generator version + parameters);
- a folder (real or exported): ``"folder:<sha256>"`` over every file's relative path and size,
  plus the full content of its label files (``.txt``, ``.csv``, ``.json``, ``.5pt``). Images are
  not read, so a 200 000-image CelebA folder fingerprints in seconds; a relabelled, added, removed
  or resized file changes the fingerprint.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

LABEL_SUFFIXES = (".txt", ".csv", ".json", ".5pt")
SKIPPED_NAMES = ("facelab_export.json",)  # the export manifest holds fingerprints of its own folders


def folder_fingerprint(root: str | os.PathLike) -> str:
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    digest = hashlib.sha256()
    for path in _files(root):
        relative = path.relative_to(root).as_posix()
        digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
        if path.suffix.lower() in LABEL_SUFFIXES:
            digest.update(_content_hash(path))
    return "folder:" + digest.hexdigest()


def _files(root: Path) -> list[Path]:
    found = []
    for directory, subdirectories, filenames in os.walk(root):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        found.extend(Path(directory) / name for name in filenames if not name.startswith(".") and name not in SKIPPED_NAMES)
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _content_hash(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def world_fingerprint(world) -> str:
    return "world:" + str(world.fingerprint())


def data_fingerprint(source) -> str:
    """The fingerprint of a world, an on-the-fly dataset, a reader (its ``root``) or a folder path."""
    if hasattr(source, "fingerprint") and callable(source.fingerprint):
        value = str(source.fingerprint())
        return value if value.startswith(("world:", "folder:")) else "world:" + value
    if hasattr(source, "root"):
        return folder_fingerprint(source.root)
    return folder_fingerprint(source)
