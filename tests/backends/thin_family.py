"""A backend family written outside vsinfer, in one module with one registry call: the proof that adding a family
touches nothing else (tests/backends/test_new_family.py runs it through every place that lists backends).

ORT_THIN drives the ort plugin in float32 on the CPU, and "builds" ahead of time: its artifact is the model's
bytes committed to the cache (kind ``thin``), which ``inference`` then hands to the plugin, as an engine would be.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import vapoursynth as vs

from vsinfer.backends.base import Backend
from vsinfer.backends.registry import register
from vsinfer.model import ModelInfo
from vsinfer.store import Store


@dataclass(frozen=True, kw_only=True)
class ORT_THIN(Backend):
    """ONNX Runtime on the CPU in float32, with a cached "build" of the model."""

    namespace: ClassVar[str] = "ort"
    builds: ClassVar[bool] = True

    num_streams: int = 1
    """Parallel sessions."""

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The CPU provider, float32, float32 output."""
        return {"provider": "CPU", "num_streams": self.num_streams, "fp16": 0, "output_format": 0}

    def prepare_network(
        self, model: ModelInfo, channels: int, tilesize: tuple[int, int], *, bits: int, input_name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Path:
        """The model's bytes, committed to the cache once per model and tile size."""
        identity = {"model_crc32": model.checksum, "channels": channels, "tilesize": list(tilesize)}
        return Store(cache_dir).get_or_create("thin", ".onnx", identity, lambda tmp: Path(model.path).read_bytes(),
                                              meta={"model": Path(model.path).name, "precision": "fp32"})


register(ORT_THIN, vendors=["cpu"], priority=30)  # above OV_CPU (20): autoselect's pick on a machine without GPU
