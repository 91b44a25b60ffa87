"""Mixed precision and memory layout.

On a CPU with AMX, bf16 convolutions in channels-last layout ran about 10x faster than float32;
on one without native bf16 (an AVX2-only AMD EPYC here) the same autocast ran 5-12x *slower*
(bench/methods.py). So "auto", the default of the presets and of the editors, picks bf16 only
where the device has it in hardware. Methods run their forward passes under
`autocast(config.precision)`; parameters, losses, normalisations and optimizer state stay
float32 (autocast only casts conv/matmul inputs).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


PRECISIONS = ("auto", "fp32", "bf16")


def has_fast_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether bf16 matmuls and convolutions run in hardware on `device` (AMX or AVX512-BF16 on
    a CPU, a bf16-capable GPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return False


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """"fp32" or "bf16": "auto" becomes bf16 where the device computes it natively."""
    if precision == "auto":
        return "bf16" if has_fast_bf16(device) else "fp32"
    if precision in ("fp32", "bf16"):
        return precision
    raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")


def autocast(precision: str, device: str | torch.device = "cpu"):
    """A context in which convolutions and matmuls run in bf16 when the precision (resolved on
    `device`) is bf16."""
    device_type = torch.device(device).type
    precision = resolve_precision(precision, device)
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def inference_channels_last(precision: str, device: str | torch.device = "cpu") -> bool:
    """Whether editors should run channels-last: always on a CPU (oneDNN's NHWC kernels ran a
    float32 decoder about 20% faster than NCHW on an AVX2 EPYC, and bf16 needs it), on a GPU
    with bf16 only."""
    return torch.device(device).type == "cpu" or resolve_precision(precision, device) == "bf16"


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def prepare_network(network: nn.Module, channels_last: bool, device: str | torch.device = "cpu") -> nn.Module:
    """Move a network to its device and layout (float32 parameters always)."""
    return network.to(device=device, memory_format=memory_format(channels_last))


def prepare_input(tensor: torch.Tensor, channels_last: bool, device: str | torch.device = "cpu") -> torch.Tensor:
    tensor = tensor.to(device)
    if tensor.dim() == 4:
        tensor = tensor.contiguous(memory_format=memory_format(channels_last))
    return tensor
