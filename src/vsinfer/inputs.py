"""Validation of what a user hands ``inference``: clips, model path, model shape, forwarded kwargs, devices.

Every check raises a vsinfer error before the plugin is called. (Stub: helper H6 fills this module.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import vapoursynth as vs

    from .backends.base import Backend
    from .model import ModelInfo, TensorInfo

__all__ = ["check_device", "check_kwargs", "check_output", "clip_list", "image_input", "model_path"]


def clip_list(clips: object, where: str) -> list[vs.VideoNode]:
    """The input clips as a list of constant-format video nodes of one size and length."""
    from .backends.base import as_clip_list

    return as_clip_list(clips, where)  # type: ignore[arg-type]


def model_path(network_path: object, where: str) -> Path:
    """``network_path`` as a Path to an existing file."""
    return Path(network_path)  # type: ignore[arg-type]


def image_input(model: ModelInfo, where: str) -> TensorInfo:
    """The model's one image input (NCHW, float)."""
    return model.input()


def check_kwargs(backend: Backend, kwargs: Mapping[str, Any], where: str) -> None:
    """Forwarded plugin kwargs: known names of the loaded plugin, right types, not clips / the model path."""


def check_output(backend: Backend, model: ModelInfo, flexible: bool, where: str) -> None:
    """The model's output fits the call (plane count without ``flexible``, backend limits)."""


def check_device(backend: Backend, where: str) -> None:
    """The backend's device exists on this machine (ov devices, ort providers, ncnn Vulkan devices)."""
