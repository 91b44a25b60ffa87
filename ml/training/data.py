"""Batches for the shared training loop.

The loop takes any iterable of batches; a batch is usually `(images, attributes)` with images a
float tensor N x 3 x H x W in [-1, 1] and attributes N x A (CelebA's +-1). To resume exactly,
the loop records how many batches it has drawn:

- a source with `state_dict()` / `load_state_dict()` (like `InMemoryBatches`) jumps straight back;
- any other re-iterable source is replayed and the first `position` batches are skipped.

`InMemoryBatches` draws batch k from its own generator seeded by (seed, k), so its order never
depends on the global RNG, on how often it was restarted, or on what else the process did.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch


def images_to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 N x H x W x 3 (or H x W x 3) RGB -> float32 N x 3 x H x W in [-1, 1]."""
    if isinstance(images, np.ndarray) and not images.flags.writeable:
        images = images.copy()  # a decoded photo may be read-only; torch wants to own writable memory
    tensor = torch.as_tensor(images)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {tensor.dtype}")
    return tensor.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_images(tensor: torch.Tensor) -> np.ndarray:
    """float N x 3 x H x W in [-1, 1] -> uint8 N x H x W x 3."""
    tensor = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return tensor.permute(0, 2, 3, 1).contiguous().cpu().numpy()


@dataclasses.dataclass
class ImageAttributeSet:
    """Aligned images with CelebA-style labels, held in memory (what `ml train` loads)."""

    images: np.ndarray  # uint8 N x H x W x 3
    attributes: np.ndarray  # int8 N x A, +1 / -1
    attribute_names: list[str]
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def select(self, names: Sequence[str]) -> np.ndarray:
        """The label columns of `names`, in that order."""
        missing = [name for name in names if name not in self.attribute_names]
        if missing:
            raise KeyError(f"the data has no attribute(s) {', '.join(missing)}; it has "
                           f"{', '.join(self.attribute_names)}")
        return self.attributes[:, [self.attribute_names.index(name) for name in names]]

    def split(self, held_out: int) -> tuple["ImageAttributeSet", "ImageAttributeSet"]:
        """(training part, the last `held_out` items)."""
        cut = len(self) - held_out
        part = lambda rows, tag: ImageAttributeSet(self.images[rows], self.attributes[rows],
                                                   list(self.attribute_names), f"{self.fingerprint}:{tag}")
        return part(slice(0, cut), "train"), part(slice(cut, None), "held-out")


class IndexedBatches:
    """An endless source whose batch k is a pure function of k (`batch(k)`): it resumes in O(1),
    its state being the index of the next batch."""

    next_index = 0

    def batch(self, index: int):
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        while True:
            index = self.next_index
            self.next_index += 1
            yield self.batch(index)

    def state_dict(self) -> dict[str, int]:
        return {"next_index": self.next_index}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_index = int(state["next_index"])


class InMemoryBatches(IndexedBatches):
    """Endless random batches (with replacement) from images and attributes held in memory.

    `images` may be uint8 N x H x W x 3 (kept compact; converted per batch) or float
    N x 3 x H x W in [-1, 1]. Resumable in O(1): its state is the index of the next batch.
    """

    def __init__(self, images: np.ndarray | torch.Tensor, attributes: np.ndarray | torch.Tensor,
                 batch_size: int, seed: int = 0):
        self.images = torch.as_tensor(images)
        self.attributes = torch.as_tensor(attributes).float()
        if len(self.images) != len(self.attributes):
            raise ValueError(f"{len(self.images)} images but {len(self.attributes)} attribute rows")
        if len(self.images) == 0:
            raise ValueError("no images")
        self.batch_size = batch_size
        self.seed = seed
        self.next_index = 0

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number `index`, the same every time it is asked for."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        rows = torch.randint(len(self.images), (self.batch_size,), generator=generator)
        images = self.images[rows]
        if images.dtype == torch.uint8:
            images = images_to_tensor(images)
        return images, self.attributes[rows]


class BatchStream:
    """Draws batches from a source for the loop and counts them, so a run can resume exactly.

    A finite source is restarted when it ends (a new epoch); `position` counts every batch.
    """

    def __init__(self, source: Iterable, state: dict[str, Any] | None = None):
        self.source = source
        self.position = 0
        resumable = hasattr(source, "state_dict") and hasattr(source, "load_state_dict")
        if state and resumable and state.get("source") is not None:
            source.load_state_dict(state["source"])
            self.position = int(state["position"])
            self._iterator = iter(source)
        else:
            self._iterator = iter(source)
            for _ in range(int((state or {}).get("position", 0))):
                self.next()

    def next(self) -> Any:
        try:
            batch = next(self._iterator)
        except StopIteration:
            self._iterator = iter(self.source)
            try:
                batch = next(self._iterator)
            except StopIteration:
                raise RuntimeError("the training data yielded no batches") from None
        self.position += 1
        return batch

    __next__ = next

    def __iter__(self) -> "BatchStream":
        return self

    def state_dict(self) -> dict[str, Any]:
        source_state = self.source.state_dict() if hasattr(self.source, "state_dict") else None
        return {"position": self.position, "source": source_state}
