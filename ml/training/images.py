"""Sample grids: rows of uint8 images tiled into one PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ml.training.data import tensor_to_images


def _as_uint8(images: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        return tensor_to_images(images)
    return np.asarray(images, dtype=np.uint8)


def make_grid(rows: Sequence[np.ndarray | torch.Tensor], padding: int = 2, fill: int = 255) -> np.ndarray:
    """Tile rows (each N x H x W x 3 uint8, or N x 3 x H x W in [-1, 1]) into one image."""
    rows = [_as_uint8(row) for row in rows]
    height, width = rows[0].shape[1:3]
    columns = max(len(row) for row in rows)
    grid = np.full((len(rows) * (height + padding) + padding, columns * (width + padding) + padding, 3),
                   fill, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = padding + r * (height + padding), padding + c * (width + padding)
            grid[top:top + height, left:left + width] = image
    return grid


def save_png(image: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path
