"""TensorRT (``core.trt``) and TensorRT-RTX (``core.trt_rtx``): engines built from ONNX with the Python API."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, SupportsInt

from ..model import ModelInfo, model_info
from ..tiling import Tiling, as_pair
from .base import Backend, clip_float_bits, log_level_index
from .fields import check, check_types, name_set, shape_pair

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["TRT", "TRT_RTX"]

Shape = tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class TRT(Backend):
    """NVIDIA TensorRT: builds (once, cached) an engine for the model and runs it with ``core.trt``."""

    namespace: ClassVar[str] = "trt"
    path_argument: ClassVar[str] = "engine_path"
    module: ClassVar[str] = "tensorrt"
    """The Python module of the runtime's builder."""
    extra: ClassVar[str] = "trt"
    """The vsinfer extra that installs the plugin and the builder."""
    timing_cache: ClassVar[bool] = True
    """Whether builds share a timing cache (TensorRT-RTX made it a no-op)."""

    # -- runtime (do not change the engine) --
    device_id: int = 0
    """CUDA device index."""
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
    """Workspace memory pool limit in MiB; None leaves TensorRT's default (device memory)."""
    builder_optimization_level: int = 3
    """0 (fastest build) .. 5 (most tactics tried)."""
    max_aux_streams: int | None = None
    """Auxiliary streams TensorRT may use inside one inference."""
    max_num_tactics: int | None = None
    """Upper bound on tactics timed per layer."""
    tiling_optimization_level: SupportsInt = 0
    """TensorRT tiling optimization level 0 (none) .. 3 (full)."""
    l2_limit_for_tiling: int = -1
    """L2 cache budget (bytes) for tiling optimization; -1 lets TensorRT decide."""
    avg_timing_iterations: int = 1
    """Timing iterations averaged per tactic."""
    tactic_dram: int | None = None
    """TACTIC_DRAM memory pool limit in MiB; None leaves the default."""
    weight_streaming: bool = False
    """Build an engine whose weights can be streamed from host memory."""
    force_rebuild: bool = False
    """Build even when a cached engine matches (the new one replaces it)."""
    max_threads: int | None = None
    """Host threads the builder may use; None leaves TensorRT's default."""

    def __post_init__(self) -> None:
        """Normalize precision, shapes and enums; reject invalid values."""
        check_types(self)  # before fp16 / bf16 are normalized: "no" must not become True
        if self.fp16 is None:
            self._set("fp16", not self.bf16)
        self._set("bf16", bool(self.bf16))
        super().__post_init__()
        where = type(self).__name__
        if self.verbosity is not None:
            self._set("verbosity", int(self.verbosity))
            check(self.verbosity in range(5), where, "verbosity", self.verbosity, "None or 0 .. 4")
        self._set("tiling_optimization_level", int(self.tiling_optimization_level))
        check(self.tiling_optimization_level in range(4), where, "tiling_optimization_level",
              self.tiling_optimization_level, "0 .. 3")
        self._set("fp16_blacklist_ops", name_set(where, "fp16_blacklist_ops", self.fp16_blacklist_ops))
        check(not self.fp16_blacklist_ops or bool(self.fp16 or self.bf16), where, "fp16_blacklist_ops",
              self.fp16_blacklist_ops, "None when fp16 and bf16 are off (the block list applies to their conversion)")
        self._set("min_shapes", shape_pair(where, "min_shapes", self.min_shapes, minimum=0))
        self._set("opt_shapes", shape_pair(where, "opt_shapes", self.opt_shapes))
        self._set("max_shapes", shape_pair(where, "max_shapes", self.max_shapes))
        check(self.builder_optimization_level in range(6), where, "builder_optimization_level",
              self.builder_optimization_level, "0 .. 5")
        for name in ("workspace", "tactic_dram", "max_threads", "max_num_tactics"):
            value = getattr(self, name)
            check(value is None or value >= 1, where, name, value, "None or an int >= 1")
        check(self.max_aux_streams is None or self.max_aux_streams >= 0, where, "max_aux_streams",
              self.max_aux_streams, "None or an int >= 0")
        check(self.avg_timing_iterations >= 1, where, "avg_timing_iterations", self.avg_timing_iterations,
              "an int >= 1")
        if self.static_shape:
            for name in ("opt_shapes", "max_shapes"):
                check(getattr(self, name) is None, where, name, getattr(self, name),
                      "None with static_shape=True (a static engine is built for the tile size); "
                      "set static_shape=False for a dynamic engine")
            check(self.min_shapes == (0, 0), where, "min_shapes", self.min_shapes,
                  "(0, 0) with static_shape=True; set static_shape=False for a dynamic engine")

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Runtime arguments of ``core.trt.Model`` (the engine path is added by ``inference``)."""
        return {
            "device_id": self.device_id,
            "num_streams": self.num_streams,
            "use_cuda_graph": int(self.use_cuda_graph),
            "verbosity": 4 - log_level_index() if self.verbosity is None else int(self.verbosity),
        }

    def input_bits(self, clips: Sequence[vs.VideoNode], model: ModelInfo) -> int:
        """The engine's IO follows the clips: half floats in, half-float IO; single floats in, float32 IO.

        fp16 / bf16 compute with float32 IO is its own engine (its identity records the IO). Integer clips become
        half floats for fp16 / bf16 engines; fp32 engines always take single floats.
        """
        if model.fp16_io:
            return 16
        if not (self.fp16 or self.bf16):
            return 32
        return clip_float_bits(clips) or 16

    def prepare_network(
        self, network_path: Path, model: ModelInfo, channels: int, tiling: Tiling, *, bits: int
    ) -> Path:
        """Build or find the engine for this model, channel count, tile size and IO precision."""
        from ..engine.trt import EngineBuilder

        return EngineBuilder(self).build_engine(model, channels, tiling.tilesize, None,
                                                io="fp16" if bits == 16 else "fp32")

    def get_identity(
        self, network_path: str | os.PathLike[str], channels: int, tilesize: int | tuple[int, int],
        input_name: str | None = "input",
        *,
        io: str | None = None,
    ) -> dict[str, Any]:
        """The identity record (what changes the engine's bytes) of the engine ``build_engine`` would return."""
        from ..engine.trt import EngineBuilder

        return EngineBuilder(self).get_identity(model_info(network_path), channels, as_pair("tilesize", tilesize),
                                                input_name, io=io)

    def build_engine(
        self,
        network_path: str | os.PathLike[str],
        channels: int,
        tilesize: int | tuple[int, int],
        input_name: str | None = "input",
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        io: str | None = None,
    ) -> Path:
        """The cached engine for ``network_path`` at ``tilesize``, built first if the cache has none.

        ``input_name`` is the model input the shape profile applies to; a model with one input may name it
        differently. ``cache_dir`` overrides ``VSINFER_CACHE_DIR`` and the user cache dir. ``io`` is the engine's
        IO type, "fp16" (for half-float clips) or "fp32" (single-float clips); None means fp16 for fp16 / bf16
        builds and fp32 otherwise.
        """
        from ..engine.trt import EngineBuilder

        info = model_info(network_path)
        builder = EngineBuilder(self, cache_dir=cache_dir)
        return builder.build_engine(info, channels, as_pair("tilesize", tilesize), input_name, io=io)


@dataclass(frozen=True, kw_only=True)
class TRT_RTX(TRT):
    """NVIDIA TensorRT for RTX: JIT-specialized engines for GeForce RTX GPUs, run with ``core.trt_rtx``."""

    namespace: ClassVar[str] = "trt_rtx"
    module: ClassVar[str] = "tensorrt_rtx"
    extra: ClassVar[str] = "trt-rtx"
    timing_cache: ClassVar[bool] = False
