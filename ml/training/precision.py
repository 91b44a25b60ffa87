"""Mixed precision and memory layout on CPU.

On this machine's AMX cores, bf16 convolutions in channels-last layout ran about 10x faster than
float32. Methods run their forward passes under `autocast(config.precision)`; parameters,
losses, normalisations and optimizer state stay float32 (autocast only casts conv/matmul inputs).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


def autocast(precision: str, device: str | torch.device = "cpu"):
    """A context in which convolutions and matmuls run in bf16 when precision == "bf16"."""
    device_type = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise ValueError(f"unknown precision {precision!r}")


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
