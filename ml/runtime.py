"""Process-wide torch settings. Every process that runs torch calls `configure_torch` once.

On a shared 2-core machine an over-subscribed OpenMP pool made element-wise work 20-80x
slower, so the thread count is always set explicitly, never left to torch's default.
"""
from __future__ import annotations

import os

_configured_threads: int | None = None


def default_threads() -> int:
    """Threads for this process: FACELAB_TORCH_THREADS, else every core we may use."""
    value = os.environ.get("FACELAB_TORCH_THREADS")
    if value:
        return max(1, int(value))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def configure_torch(threads: int | None = None) -> int:
    """Set torch's intra- and inter-op thread counts; return the intra-op count used."""
    global _configured_threads
    import torch

    threads = threads or default_threads()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if _configured_threads != threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # inter-op pool already started: it can be set only once per process
        _configured_threads = threads
    return threads
