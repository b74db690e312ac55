"""ONNX Runtime backends (``core.ort``): CPU, CUDA, DirectML, CoreML."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ..model import ModelInfo
from .base import Backend, as_nodes, auto_float_bits, compact, log_level_index
from .fields import check, name_set

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["ORT", "ORT_COREML", "ORT_CPU", "ORT_CUDA", "ORT_DML"]


@dataclass(frozen=True, kw_only=True)
class ORT(Backend):
    """ONNX Runtime: the fields every execution provider shares. Use a subclass (ORT_CPU, ORT_CUDA...)."""

    class Verbosity(IntEnum):
        """ONNX Runtime log severity: messages at or above it are printed."""

        VERBOSE = 0
        INFO = 1
        WARNING = 2
        ERROR = 3
        FATAL = 4

    class OutputFormat(IntEnum):
        """Sample type of the output clip."""

        FP32 = 0
        FP16 = 1

    namespace: ClassVar[str] = "ort"
    provider: ClassVar[str] = ""
    """The plugin's ``provider`` argument for this class."""

    num_streams: int = 1
    """Parallel inference streams (sessions); frames in flight at once."""
    verbosity: int | None = None
    """ORT log severity 0 (verbose) .. 4 (fatal); None follows the ``vsinfer`` logger's level."""
    fp16: bool = True
    """Run the model in half precision (the plugin converts it, keeping the IO types of the clip)."""
    fp16_blacklist_ops: Collection[str] | None = None
    """Op types kept in float32 by the fp16 conversion; only with ``fp16=True``."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    output_format: int | None = None
    """OutputFormat of the output clip; None means the float precision of the input clips (half in, half out)."""

    def __post_init__(self) -> None:
        """Validate and normalize the fields."""
        super().__post_init__()
        where = type(self).__name__
        check(self.verbosity is None or self.verbosity in range(5), where, "verbosity", self.verbosity,
              "None or 0 (verbose) .. 4 (fatal)")
        check(self.output_format is None or self.output_format in (0, 1), where, "output_format",
              self.output_format, "None, ORT.OutputFormat.FP32 (0) or ORT.OutputFormat.FP16 (1)")
        self._set("fp16_blacklist_ops", name_set(where, "fp16_blacklist_ops", self.fp16_blacklist_ops))
        check(not self.fp16_blacklist_ops or self.fp16, where, "fp16_blacklist_ops", self.fp16_blacklist_ops,
              "None when fp16=False (the block list only applies to the fp16 conversion)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Provider, streams, verbosity and precision arguments of ``core.ort.Model``."""
        output_format = self.output_format
        if output_format is None:
            half = auto_float_bits(as_nodes(clips), None, self.fp16) == 16
            output_format = self.OutputFormat.FP16 if half else self.OutputFormat.FP32
        return compact({
            "provider": self.provider,
            "num_streams": self.num_streams,
            "verbosity": log_level_index() if self.verbosity is None else int(self.verbosity),
            "fp16": int(self.fp16),
            "fp16_blacklist_ops": list(self.fp16_blacklist_ops) if self.fp16_blacklist_ops else None,
            "output_format": int(output_format),
        })

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """Half floats for fp16 runs of integer clips and for fp16-IO models, else single floats."""
        return auto_float_bits(clips, model, self.fp16)


@dataclass(frozen=True, kw_only=True)
class ORT_CPU(ORT):
    """ONNX Runtime on the CPU."""

    provider: ClassVar[str] = "CPU"


@dataclass(frozen=True, kw_only=True)
class ORT_CUDA(ORT):
    """ONNX Runtime with the CUDA execution provider (needs ``vsinfer[ort-cuda]``)."""

    provider: ClassVar[str] = "CUDA"

    device_id: int = 0
    """CUDA device index."""
    cudnn_benchmark: bool = True
    """Let cuDNN benchmark convolution algorithms on the first frame."""
    use_cuda_graph: bool = False
    """Capture the inference in a CUDA graph (lower launch overhead, static shapes only)."""
    tf32: bool = False
    """Allow TF32 math in float32 convolutions and matmuls (Ampere and newer)."""
    prefer_nhwc: bool = False
    """Prefer NHWC layouts inside the CUDA provider."""

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the CUDA provider's options."""
        return super().get_args(clips) | {
            "device_id": self.device_id,
            "cudnn_benchmark": int(self.cudnn_benchmark),
            "use_cuda_graph": int(self.use_cuda_graph),
            "tf32": int(self.tf32),
            "prefer_nhwc": int(self.prefer_nhwc),
        }


@dataclass(frozen=True, kw_only=True)
class ORT_DML(ORT):
    """ONNX Runtime with DirectML (Windows, any DirectX 12 GPU)."""

    provider: ClassVar[str] = "DML"

    device_id: int = 0
    """DirectX adapter index."""

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the adapter index."""
        return super().get_args(clips) | {"device_id": self.device_id}


@dataclass(frozen=True, kw_only=True)
class ORT_COREML(ORT):
    """ONNX Runtime with CoreML (macOS)."""

    class MLProgram(IntEnum):
        """CoreML model format."""

        NEURAL_NETWORK = 0
        ML_PROGRAM = 1

    provider: ClassVar[str] = "COREML"

    ml_program: int = MLProgram.NEURAL_NETWORK
    """CoreML model format: NEURAL_NETWORK (0) or ML_PROGRAM (1); the plugin needs a CoreML build."""

    def __post_init__(self) -> None:
        """Validate ``ml_program`` too."""
        super().__post_init__()
        check(self.ml_program in (0, 1), type(self).__name__, "ml_program", self.ml_program,
              "ORT_COREML.MLProgram.NEURAL_NETWORK (0) or ML_PROGRAM (1)")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """The ORT arguments plus the CoreML model format."""
        return super().get_args(clips) | {"ml_program": int(self.ml_program)}
