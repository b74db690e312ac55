"""The fields of a TensorRT / TensorRT-RTX build, declared once: ``TRT`` has them, the builder reads them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import ClassVar, SupportsInt

from ..devices import SeveralDevices

__all__ = ["TENSORRT", "TENSORRT_RTX", "Runtime", "Shape", "TRTSettings"]

Shape = tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """What differs between the two builders, TensorRT and TensorRT-RTX, besides the plugin they run on."""

    name: str
    """How messages name it."""
    module: str
    """The Python module of the builder."""
    package: str
    """The builder's PyPI name before its CUDA suffix (``tensorrt`` -> ``tensorrt-cu13``)."""
    index: str
    """The package index its wheels live on ("" for PyPI)."""
    extra: str
    """The vsinfer extra that installs the plugin and the builder."""
    timing_cache: bool
    """Whether builds share a timing cache (TensorRT-RTX made it a no-op)."""
    compute_targets: bool
    """Whether engines are built for chosen compute capabilities rather than the device in hand."""
    builds_without_gpu: bool
    """Whether engines can be built on a machine without a GPU."""


TENSORRT = Runtime(name="TensorRT", module="tensorrt", package="tensorrt", index="https://pypi.nvidia.com", extra="trt",
                   timing_cache=True, compute_targets=False, builds_without_gpu=False)
"""NVIDIA TensorRT."""
TENSORRT_RTX = Runtime(name="TensorRT-RTX", module="tensorrt_rtx", package="tensorrt-rtx", index="", extra="trt-rtx",
                       timing_cache=False, compute_targets=True, builds_without_gpu=True)
"""NVIDIA TensorRT for RTX: JIT-specialized engines, built without a GPU."""


@dataclass(frozen=True, kw_only=True)
class TRTSettings(SeveralDevices):
    """Everything a TensorRT build and run is configured with (``TRT`` and ``TRT_RTX`` are these, plus behaviour)."""

    namespace: ClassVar[str] = "trt"
    """The vs-mlrt plugin namespace (``core.<namespace>``)."""
    runtime: ClassVar[Runtime] = TENSORRT
    """The builder's Python module and what it can do."""

    # -- runtime (do not change the engine) --
    num_streams: int = 1
    """Parallel inference streams."""
    use_cuda_graph: bool = True
    """Capture inference in CUDA graphs."""
    verbosity: SupportsInt | None = None
    """Plugin log level 0 (internal errors only) .. 4 (verbose); None follows the ``vsinfer`` logger."""

    # -- precision --
    fp16: bool | None = None
    """Build in half precision; None means True unless ``bf16`` is set."""
    fp16_blacklist_ops: Collection[str] | None = None
    """Op types or node names (e.g. "/body/conv0/Conv") kept in float32 by the fp16 / bf16 conversion."""
    bf16: bool | None = None
    """Build in bfloat16 (the ONNX model is converted first)."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    tf32: bool = False
    """Allow TF32 in float32 layers."""
    strict_nans: bool = False
    """Disallow tactics that may turn NaNs into numbers."""

    # -- shapes --
    static_shape: bool = True
    """Build for exactly the tile size; False builds one dynamic engine for min..max shapes."""
    min_shapes: Shape = (0, 0)
    """Smallest (w, h) of a dynamic engine; (0, 0) means the model's own minimum (1 x 1 unless dims are static)."""
    opt_shapes: Shape | None = None
    """(w, h) the dynamic engine is tuned for; None means the tile size."""
    max_shapes: Shape | None = None
    """Largest (w, h) of a dynamic engine; None means the tile size."""

    # -- builder --
    edge_mask_convolutions: bool = True
    """Let convolutions use edge masks (TensorRT tactic source EDGE_MASK_CONVOLUTIONS)."""
    jit_convolutions: bool = True
    """Let convolutions be JIT-compiled (tactic source JIT_CONVOLUTIONS)."""
    sparse_weights: bool = False
    """Use structured sparsity where the weights allow it."""
    workspace: int | None = None
    """Workspace memory pool limit in bytes, as in vs-jetpack (e.g. ``8 << 30`` for 8 GiB; 1 MiB .. 1 TiB); None
    leaves TensorRT's default (the device memory)."""
    builder_optimization_level: int = 3
    """0 (fastest build) .. 5 (most tactics tried)."""
    max_aux_streams: int | None = None
    """Auxiliary streams TensorRT may use inside one inference (0 .. 64); None lets TensorRT decide."""
    max_num_tactics: int | None = None
    """Upper bound on tactics timed per layer."""
    tiling_optimization_level: SupportsInt = 0
    """TensorRT tiling optimization level 0 (none) .. 3 (full)."""
    l2_limit_for_tiling: int = -1
    """L2 cache budget (bytes, 0 .. 1 GiB) for tiling optimization; -1 lets TensorRT decide."""
    avg_timing_iterations: int = 1
    """Timing iterations averaged per tactic (1 .. 1000)."""
    tactic_dram: int | None = None
    """TACTIC_DRAM memory pool limit in bytes, like ``workspace`` (1 MiB .. 1 TiB); None leaves the default."""
    weight_streaming: bool = False
    """Build an engine whose weights can be streamed from host memory."""
    force_rebuild: bool = False
    """Build even when a cached engine matches (the new one replaces it)."""
    max_threads: int | None = None
    """Host threads the builder may use; None leaves TensorRT's default."""
