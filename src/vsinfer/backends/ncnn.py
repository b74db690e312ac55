"""NCNN on Vulkan (``core.ncnn``): any GPU with a Vulkan driver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import ModelInfo
from .base import Backend, as_nodes, auto_float_bits, compact
from .fields import check

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["NCNN"]


@dataclass(frozen=True, kw_only=True)
class NCNN(Backend):
    """NCNN with Vulkan compute (``Backend.NCNN_VK`` is the same class)."""

    namespace: ClassVar[str] = "ncnn"
    takes_fp16_io: ClassVar[bool] = False  # core.ncnn 17.1 crashes the process on a float16-input model

    device_id: int = 0
    """Vulkan device index."""
    num_streams: int = 1
    """Parallel inference streams."""
    fp16: bool = True
    """Store and compute in half precision where the device supports it."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    batch_tiles: int | None = None
    """Tiles processed per batch; None leaves the plugin's default."""
    output_format: int | None = None
    """0 float32, 1 float16 output clip; None means the float precision of the input clips (half in, half out)."""

    def __post_init__(self) -> None:
        """Validate ``batch_tiles`` and ``output_format``."""
        super().__post_init__()
        check(self.batch_tiles is None or self.batch_tiles >= 1, "NCNN", "batch_tiles", self.batch_tiles,
              "None or an int >= 1")
        check(self.output_format in (None, 0, 1), "NCNN", "output_format", self.output_format,
              "None, 0 (float32) or 1 (float16)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Device, streams and precision arguments of ``core.ncnn.Model``."""
        output_format = self.output_format
        if output_format is None:
            output_format = int(auto_float_bits(as_nodes(clips), None, self.fp16) == 16)
        return compact({
            "device_id": self.device_id,
            "num_streams": self.num_streams,
            "fp16": int(self.fp16),
            "batch_tiles": self.batch_tiles,
            "output_format": output_format,
        })

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """Half floats for fp16 runs of integer clips and for fp16-IO models, else single floats."""
        return auto_float_bits(clips, model, self.fp16)
