"""Backend.autoselect (placeholder until the policy lands): the CPU backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NoBackendError
from .plugins import is_loaded

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = ["autoselect"]


def autoselect(device_id: int = 0, **kwargs: Any) -> Backend:
    """OV_CPU when the ov plugin is loaded, else ORT_CPU."""
    from .backends import ORT_CPU, OV_CPU

    for cls, ns in ((OV_CPU, "ov"), (ORT_CPU, "ort")):
        if is_loaded(ns):
            return cls(**kwargs)
    raise NoBackendError("no vs-mlrt CPU plugin is loaded; install one with pip install 'vsinfer[cpu]'")
