"""The smoke check: build a tiny network, run it on an image, report the output and timing.

It proves a process can import torch, set its threads and run a convolution in bf16 autocast,
which is all the stack needs before any method is trained. `python -m ml smoke --image x.png`.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ml.runtime import configure_torch


class TinyToneNet(nn.Module):
    """Two convolutions whose fixed weights blend an image toward a warm, smoothed copy."""

    def __init__(self):
        super().__init__()
        self.blur = nn.Conv2d(3, 3, 5, padding=2, padding_mode="replicate", bias=False, groups=3)
        self.tone = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            kernel = torch.outer(torch.tensor([1.0, 4, 6, 4, 1]), torch.tensor([1.0, 4, 6, 4, 1]))
            self.blur.weight.copy_((kernel / kernel.sum()).expand(3, 1, 5, 5))
            self.tone.weight.copy_(torch.tensor([[1.1, 0.1, 0.0], [0.05, 1.0, 0.0], [0.0, 0.0, 0.8]])[..., None, None])
            self.tone.bias.copy_(torch.tensor([0.05, 0.0, -0.05]))

    def forward(self, image: torch.Tensor, strength: float) -> torch.Tensor:
        styled = self.tone(self.blur(image))
        return (image + strength * (styled - image)).clamp(-1, 1)


@dataclass
class SmokeResult:
    image: np.ndarray  # uint8 H x W x 3
    milliseconds: float
    threads: int
    parameters: int


_network: TinyToneNet | None = None


def tiny_network() -> TinyToneNet:
    global _network
    if _network is None:
        _network = TinyToneNet().eval().to(memory_format=torch.channels_last)
    return _network


def test_card(size: int = 128) -> np.ndarray:
    """A built-in picture (a face-like test card) so the smoke check needs no file."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    card = np.stack([0.55 + 0.35 * x, 0.45 + 0.25 * y, 0.75 - 0.3 * x], axis=-1)
    head = (x / 0.62) ** 2 + ((y + 0.05) / 0.8) ** 2 < 1
    card[head] = [0.86, 0.68, 0.56]
    for eye_x in (-0.25, 0.25):
        card[((x - eye_x) / 0.11) ** 2 + ((y + 0.15) / 0.06) ** 2 < 1] = [0.15, 0.12, 0.1]
    card[(np.abs(x) < 0.22) & (np.abs(y - 0.42 + 0.6 * x**2) < 0.035)] = [0.6, 0.2, 0.25]
    return (card.clip(0, 1) * 255).astype(np.uint8)


def run_smoke(image: np.ndarray | None = None, strength: float = 1.0, threads: int | None = None) -> SmokeResult:
    used_threads = configure_torch(threads)
    image = test_card() if image is None else np.ascontiguousarray(image[..., :3])
    network = tiny_network()
    started = time.perf_counter()
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        output = network(tensor.contiguous(memory_format=torch.channels_last), float(strength))
    result = output[0].float().add(1).mul(127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    elapsed = (time.perf_counter() - started) * 1000
    return SmokeResult(np.ascontiguousarray(result), elapsed, used_threads,
                       sum(p.numel() for p in network.parameters()))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", help="an image file (default: the built-in test card)")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--out", help="write the output PNG here")
    parser.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    image = np.asarray(Image.open(args.image).convert("RGB")) if args.image else None
    result = run_smoke(image, args.strength, args.threads)
    if args.out:
        Image.fromarray(result.image).save(args.out)
    print(f"tiny network: {result.parameters} parameters, {result.image.shape[1]}x{result.image.shape[0]} px, "
          f"{result.milliseconds:.1f} ms on {result.threads} thread(s)")
    return 0
