"""TensorRT (``core.trt``) and TensorRT-RTX (``core.trt_rtx``): engines built from ONNX with the Python API."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ... import device, plugins
from ...errors import ConfigError, DeviceError
from ...model import ModelInfo, model_info
from ...store.inventory import Kind
from ...tiling import as_pair
from ...validation import GraphLimit, TopKLimit, check_device_index
from ..base import Backend
from ..fields import name_set, require, shape_pair
from ..guard import Kept, apply_guard
from ..plugin_io import clip_float_bits, log_level_index
from ..precision import HalfOrBfloat16, settle_fp16_bf16
from ..registry import Environment, Offer, all_of, plugin_loaded
from .builder import EngineBuilder
from .settings import TENSORRT_RTX, Runtime, TRTSettings

if TYPE_CHECKING:
    import vapoursynth as vs


__all__ = ["CACHE_KINDS", "CLASSES", "OFFERS", "TRT", "TRT_RTX"]

MIN_POOL = 1 << 20
"""Smallest ``workspace`` / ``tactic_dram`` (bytes): below 1 MiB the value was almost surely meant in MiB."""
MAX_POOL = 1 << 40
"""Largest ``workspace`` / ``tactic_dram`` (bytes): 1 TiB, above any GPU's memory (TensorRT takes a size_t)."""
MAX_THREADS = 1024
"""Most builder host threads."""
MAX_TACTICS = 100_000
"""Most tactics timed per layer (TensorRT takes an int32; a few hundred exist per layer)."""
MAX_AUX_STREAMS = 64
"""Most auxiliary streams (TensorRT takes an int32; a handful is useful)."""
MAX_TIMING_ITERATIONS = 1000
"""Most timing iterations averaged per tactic (each multiplies the build time)."""
MAX_L2 = 1 << 30
"""Largest ``l2_limit_for_tiling`` (bytes)."""


@dataclass(frozen=True, kw_only=True)
class TRT(HalfOrBfloat16, TRTSettings, Backend):
    """NVIDIA TensorRT: builds (once, cached) an engine for the model and runs it with ``core.trt``."""

    namespace: ClassVar[str] = "trt"
    path_argument: ClassVar[str] = "engine_path"
    graph_limits: ClassVar[tuple[GraphLimit, ...]] = (
        TopKLimit(3840, "TensorRT", "another backend (ORT_CUDA, ORT_CPU, OV_CPU)"),)
    """What TensorRT refuses to build: a TopK keeping more than 3840 values (ATD's, at large tiles)."""
    builds: ClassVar[bool] = True
    on_gpu: ClassVar[bool] = True

    def __post_init__(self) -> None:
        """Normalize precision, shapes and enums; reject invalid values."""
        settle_fp16_bf16(self)
        super().__post_init__()
        where = type(self).__name__
        if self.verbosity is not None:
            self._set("verbosity", int(self.verbosity))
            require(self.verbosity in range(5), where, "verbosity", self.verbosity, "None or 0 .. 4")
        self._set("tiling_optimization_level", int(self.tiling_optimization_level))
        require(self.tiling_optimization_level in range(4), where, "tiling_optimization_level",
              self.tiling_optimization_level, "0 .. 3")
        self._set("fp16_blacklist_ops", name_set(where, "fp16_blacklist_ops", self.fp16_blacklist_ops))
        require(not self.fp16_blacklist_ops or bool(self.fp16 or self.bf16), where, "fp16_blacklist_ops",
              self.fp16_blacklist_ops, "None when fp16 and bf16 are off (the block list applies to their conversion)")
        self._set("min_shapes", shape_pair(where, "min_shapes", self.min_shapes, minimum=0))
        self._set("opt_shapes", shape_pair(where, "opt_shapes", self.opt_shapes))
        self._set("max_shapes", shape_pair(where, "max_shapes", self.max_shapes))
        require(self.builder_optimization_level in range(6), where, "builder_optimization_level",
              self.builder_optimization_level, "0 .. 5")
        for name in ("workspace", "tactic_dram"):
            value = getattr(self, name)
            require(value is None or value >= 1, where, name, value, "None or an int >= 1 (bytes)")
            require(value is None or value >= MIN_POOL, where, name, value,
                    f"None or bytes {MIN_POOL} (1 MiB) .. {MAX_POOL} (1 TiB), e.g. 8 << 30 for 8 GiB; {value} bytes "
                    f"is less than 1 MiB: for {value} MiB write {value} << 20 ({name} is in bytes, as in "
                    "vs-jetpack)")
            require(value is None or value <= MAX_POOL, where, name, value,
                    f"None or bytes {MIN_POOL} (1 MiB) .. {MAX_POOL} (1 TiB), e.g. 8 << 30 for 8 GiB")
        for name, most, what in (("max_threads", MAX_THREADS, "host threads"),
                                 ("max_num_tactics", MAX_TACTICS, "tactics timed per layer")):
            value = getattr(self, name)
            require(value is None or 1 <= value <= most, where, name, value, f"None or an int 1 .. {most} ({what})")
        require(self.max_aux_streams is None or 0 <= self.max_aux_streams <= MAX_AUX_STREAMS, where,
                "max_aux_streams", self.max_aux_streams,
                f"None or an int 0 .. {MAX_AUX_STREAMS} (auxiliary CUDA streams inside one inference)")
        require(1 <= self.avg_timing_iterations <= MAX_TIMING_ITERATIONS, where, "avg_timing_iterations",
                self.avg_timing_iterations, f"an int 1 .. {MAX_TIMING_ITERATIONS} (timing runs averaged per tactic)")
        require(self.l2_limit_for_tiling == -1 or 0 <= self.l2_limit_for_tiling <= MAX_L2, where,
                "l2_limit_for_tiling", self.l2_limit_for_tiling,
                f"-1 (TensorRT decides) or bytes 0 .. {MAX_L2} (1 GiB; L2 caches are tens of MiB)")
        if self.static_shape:
            for name in ("opt_shapes", "max_shapes"):
                require(getattr(self, name) is None, where, name, getattr(self, name),
                      "None with static_shape=True (a static engine is built for the tile size); "
                      "set static_shape=False for a dynamic engine")
            require(self.min_shapes == (0, 0), where, "min_shapes", self.min_shapes,
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
        self, model: ModelInfo, channels: int, tilesize: tuple[int, int], *, bits: int, input_name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Build or find the engine for this model, channel count, tile size and IO precision."""
        return EngineBuilder(self, cache_dir=cache_dir).build_engine(model, channels, tilesize, input_name,
                                                                     io=_io(bits))

    def get_identity(
        self, network_path: str | os.PathLike[str], channels: int, tilesize: int | tuple[int, int],
        input_name: str | None = "input",
        *,
        io: str | None = None,
    ) -> dict[str, Any]:
        """The identity record (what changes the engine's bytes) of the engine ``build_engine`` would return."""
        model = model_info(network_path)
        backend, model = apply_guard(self, model, (), channels=channels)
        io = _check_io(io, type(self).__name__) or _io(backend.input_bits((), model))
        return EngineBuilder(backend).get_identity(model, channels, as_pair("tilesize", tilesize), input_name, io=io)

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

        The same engine ``inference`` uses (``prebuild``: the fp16 guard's block list included). ``input_name`` is
        the model input the shape profile applies to; a model with one input may name it differently.
        ``cache_dir`` overrides ``VSINFER_CACHE_DIR`` and the user cache dir. ``io`` is the engine's IO type, "fp16"
        (for half-float clips) or "fp32" (single-float clips); None means fp16 for fp16 / bf16 builds and fp32
        otherwise.
        """
        io = _check_io(io, type(self).__name__)
        return self.prebuild(network_path, channels, tilesize, input_name, cache_dir=cache_dir,
                             bits=None if io is None else 16 if io == "fp16" else 32)

    # -- the fp16 guard (precision: HalfOrBfloat16) --
    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept:
        """The nodes join ``fp16_blacklist_ops``; the engine's identity (its sidecar) records them."""
        listed = sorted({*(self.fp16_blacklist_ops or ()), *nodes})
        how = f"{type(self).__name__} keeps {len(nodes)} nodes in float32: {', '.join(nodes)}"
        return Kept(dataclasses.replace(self, fp16_blacklist_ops=listed), model, how)

    # -- checks --
    def check_device(self, where: str) -> None:
        """``device_id`` is one of the GPUs the plugin lists; for TRT, which builds on the GPU, the driver works.

        TensorRT-RTX builds engines without a GPU (a build machine runs the script to make them), so its driver
        check comes after the build (``check_before_plugin``).
        """
        if not self.runtime.builds_without_gpu:
            self.check_driver(where)
        for device_id in self.device_ids():
            check_device_index(self.namespace, device_id, where)

    def check_driver(self, where: str) -> None:
        """Where the plugin lists no device, a DeviceError naming the NVIDIA driver its CUDA runtime needs.

        Without it, a plugin whose CUDA runtime finds no usable driver (none, or one older than its CUDA 13 runtime)
        says "CUDA driver version is insufficient" from inside ``Model``.
        """
        if plugins.device_names(self.namespace):
            return
        info = plugins.plugin_info(self.namespace) or {}
        runtime = info.get("cuda_runtime_version", "")
        what = f"core.{self.namespace} {info.get('version', '')}".strip()
        problem = device.cuda_driver_problem(int(runtime) if runtime.isdigit() else None, what)
        if problem is not None:
            raise DeviceError("device_id", self.device_id, f"a CUDA device {where} can run on: {problem}", where=where)

    def check_before_plugin(self, plugin: Any, where: str) -> None:
        """The engine is built (or found) by now; the driver is checked before the plugin is called.

        Only for the loaded plugin itself: a stand-in for it (not a ``vs.Plugin``) says nothing about the driver.
        """
        import vapoursynth as vs

        if self.runtime.builds_without_gpu and isinstance(plugin, vs.Plugin):
            self.check_driver(where)

    @classmethod
    def tuning_skip(cls, device_id: int = 0) -> str | None:
        """Left out when the plugin sees no such GPU."""
        if plugins.device_properties(cls.namespace, device_id) is None:
            return f"core.{cls.namespace} sees no GPU {device_id}"
        return None


def _io(bits: int) -> str:
    return "fp16" if bits == 16 else "fp32"


def _check_io(io: str | None, where: str) -> str | None:
    if io not in (None, "fp16", "fp32"):
        raise ConfigError("io", io, 'None, "fp16" or "fp32"', where=where)
    return io


@dataclass(frozen=True, kw_only=True)
class TRT_RTX(TRT):
    """NVIDIA TensorRT for RTX: JIT-specialized engines for GeForce RTX GPUs, run with ``core.trt_rtx``."""

    namespace: ClassVar[str] = "trt_rtx"
    runtime: ClassVar[Runtime] = TENSORRT_RTX

    compute_capabilities: Collection[str] | None = None
    """Compute capabilities the engine is built for, e.g. ("7.5", "8.9"); None builds for the device the engine
    is for (``device_id``'s), so a Turing card gets a Turing engine (TensorRT-RTX's own default leaves 7.5 out).
    Part of the engine's identity."""

    def __post_init__(self) -> None:
        """TRT's checks, and ``compute_capabilities`` normalized to sorted "major.minor" strings."""
        super().__post_init__()
        value = self.compute_capabilities
        if value is None:
            return
        ok = not isinstance(value, str | bytes) and isinstance(value, Collection) and len(value) > 0
        found = set()
        for item in value if ok else ():
            m = re.fullmatch(r"(?:sm_?)?(\d+)\.?(\d)", str(item).strip().lower()) if isinstance(item, str) else None
            if m is None:
                ok = False
                break
            found.add(f"{int(m.group(1))}.{m.group(2)}")
        require(ok, "TRT_RTX", "compute_capabilities", value,
                'None (the device\'s) or a tuple of "major.minor" strings, e.g. ("7.5", "8.9")')
        self._set("compute_capabilities", tuple(sorted(found, key=lambda v: tuple(map(int, v.split("."))))))


def _module(name: str, extra: str) -> Callable[[Environment], str | None]:
    def check(env: Environment) -> str | None:
        if name in env.modules:
            return None
        return f"the {name} Python module (the engine builder) is missing: pip install 'vsinfer[{extra}]'"

    return check


CLASSES = (TRT, TRT_RTX)
"""The classes of this family."""

CACHE_KINDS = (Kind("trt", "artifacts", (".engine", ".cache")),)
"""What this family keeps in the store: engines, and the timing caches their builds share."""

OFFERS = tuple(
    Offer(cls, frozenset({"nvidia"}), priority,
          all_of(plugin_loaded(cls.namespace), _module(cls.runtime.module, cls.runtime.extra)),
          modules=(cls.runtime.module,))
    for cls, priority in ((TRT, 100), (TRT_RTX, 90))
)
"""What this family offers autoselect."""
