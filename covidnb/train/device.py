"""Which device a run uses, whether mixed precision is on, and what to call the device."""

from __future__ import annotations

import platform
import warnings

import torch


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if isinstance(spec, torch.device):
        return spec
    if spec in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {spec!r} requested but CUDA is not available; use device='auto' or 'cpu'"
        )
    return dev


def use_amp(amp, device: torch.device) -> bool:
    """Mixed precision only on CUDA: ``"auto"`` turns it on there; ``True`` on CPU is ignored."""
    if device.type != "cuda":
        if amp is True:
            warnings.warn("amp=True ignored: mixed precision is used on CUDA only", stacklevel=2)
        return False
    return amp in ("auto", True)


def device_name(device: torch.device | str | None = None) -> str:
    device = resolve_device(device or "auto")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"
