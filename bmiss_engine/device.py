"""Choice of the torch device: CUDA (or MPS) when present, else CPU.

torch is imported inside the functions: importing this module costs nothing, so a caller
(the desktop application) can show its window first and ask about the device afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bmiss_engine.errors import ConfigError

if TYPE_CHECKING:
    import torch


def pick_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name`` ("auto", "cpu", "cuda", "cuda:N" or "mps").

    "auto" prefers CUDA, then Apple's MPS, then the CPU. Asking for a device that is not
    present raises :class:`ConfigError` rather than failing later inside torch.
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device 'mps' was asked for but MPS is not available here")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from exc


def describe_device(device: torch.device) -> str:
    """Human-readable device name, e.g. ``"cuda (NVIDIA H100)"`` or ``"cpu"``."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def release_device_memory(device: torch.device) -> None:
    """Hand cached blocks back to the driver once a decomposition ends or is cancelled."""
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def set_cpu_threads(n_threads: int) -> None:
    """Let torch use at most ``n_threads`` CPU threads for the work of one operation
    (process-wide). An interactive caller keeps a core for itself this way: with every core
    busy in torch, its own thread waits for the scheduler."""
    import torch

    torch.set_num_threads(max(1, int(n_threads)))


def cpu_threads() -> int:
    """Threads torch currently uses for one operation on the CPU."""
    import torch

    return int(torch.get_num_threads())
