"""TensorRT / TensorRT-RTX engine builder on the Python API, with the store's cache and locks.

The runtime's module (``tensorrt`` or ``tensorrt_rtx``) is imported only when an engine has to be built.
Resolving a cached engine reads the model memo, the plugin's device and version, and one sidecar: it does
not read the model and does not import TensorRT.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import sys
import threading
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ...conversion import convert_model
from ...device import use_cuda_device
from ...errors import (
    BuildError,
    ConfigError,
    DeviceError,
    MissingDependencyError,
    ModelError,
    TilingError,
    UnsupportedOptionError,
)
from ...identity import IDENTITY_VERSION, DeviceInfo, ShapeProfile, build_fields, plugin_device
from ...store import Store
from ..devices import first_device
from .settings import Runtime, Shape, TRTSettings

if TYPE_CHECKING:
    from ...model import ModelInfo, TensorInfo

__all__ = ["EngineBuilder", "engine_identity"]

logger = logging.getLogger(__name__)


def _short_version(version: str) -> str:
    return ".".join(version.split(".")[:3])


def _pip_line(runtime: Runtime, namespace: str, version: str) -> str:
    """The pip command that installs the builder module matching the plugin's TensorRT ``version``.

    The plugin's wheel pins the runtime libraries (``tensorrt-cu13-libs==11.4.0.106``); the builder of the same
    build number is ``tensorrt-cu13==11.4.0.106`` (``tensorrt-rtx-cu13`` for TensorRT-RTX).
    """
    from importlib import metadata

    from ...plugins import plugin_info

    meta = runtime.package
    index = f"--extra-index-url {runtime.index} " if runtime.index else ""
    cuda = (plugin_info(namespace) or {}).get("cuda_runtime_version", "")
    majors = [int(cuda) // 1000] if cuda.isdigit() else [13, 12]
    for major in majors:
        try:
            pinned = metadata.version(f"{meta}-cu{major}-libs")
        except metadata.PackageNotFoundError:
            continue
        if _short_version(pinned) == version:
            return f"pip install {index}'{meta}-cu{major}=={pinned}'"
    package = f"{meta}-cu{majors[0]}" if len(majors) == 1 else meta
    return f"pip install {index}'{package}=={version}.*'"


def engine_identity(
    backend: TRTSettings,
    *,
    runtime_version: str,
    device: DeviceInfo,
    model: ModelInfo,
    input_name: str,
    channels: int,
    profile: ShapeProfile,
    io_precision: str,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    """The identity record of an engine build (``targets``: TensorRT-RTX's compute capabilities, [] = its default)."""
    record = {
        "version": IDENTITY_VERSION,
        "backend": type(backend).__name__,
        "runtime_version": runtime_version,
        "device": {"name": device.name, "compute_capability": device.compute_capability},
        "model_crc32": model.checksum,
        "input": input_name,
        "channels": channels,
        "profile": {"min": list(profile.min), "opt": list(profile.opt), "max": list(profile.max)},
        "io": io_precision,
        "fields": build_fields(backend),
    }
    if targets is not None:
        record["targets"] = targets
    return record


class EngineBuilder:
    """Builds and caches engines for one TRT / TRT_RTX description."""

    def __init__(
        self, backend: TRTSettings, *, cache_dir: str | os.PathLike[str] | None = None, device: DeviceInfo | None = None
    ) -> None:
        """Build for ``backend``; ``device`` overrides what the plugin reports (tests, cross-builds)."""
        self.backend = backend
        """The description whose fields configure the build."""
        self.store = Store(cache_dir)
        """Where engines, converted models and the timing cache live."""
        self._device = device
        self._recorders: list[Any] = []

    # -- what the identity needs (cheap: no TensorRT import) --------------------------------------------
    @functools.cached_property
    def trt(self) -> ModuleType:
        """The runtime's Python module, imported on first use."""
        name = self.backend.runtime.module
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            where = f"building a {type(self.backend).__name__} engine"
            raise MissingDependencyError(name, self.backend.runtime.extra, where) from exc

    @property
    def runtime_name(self) -> str:
        """"TensorRT" or "TensorRT-RTX"."""
        return self.backend.runtime.name

    @functools.cached_property
    def runtime_version(self) -> str:
        """major.minor.patch of the runtime the engine is for: the plugin's, else the builder module's."""
        return plugin_runtime_version(self.backend.namespace) or _short_version(str(self.trt.__version__))

    @property
    def device(self) -> DeviceInfo:
        """The device the engine is built for."""
        return self._device or plugin_device(self.backend.namespace, first_device(self.backend.device_id))

    def shape_profile(self, tensor: TensorInfo, tilesize: Shape) -> ShapeProfile:
        """The optimization profile for ``tilesize``: exactly the tile, or the dynamic min / opt / max."""
        b = self.backend
        where = type(b).__name__
        static_w, static_h = tensor.spatial
        if b.static_shape:
            if (static_w or tilesize[0], static_h or tilesize[1]) != tilesize:
                raise ModelError("tilesize", tilesize, f"({static_w}, {static_h}), the model's static input size",
                                 where=where)
            return ShapeProfile(tilesize, tilesize, tilesize)
        lo = (b.min_shapes[0] or static_w or 1, b.min_shapes[1] or static_h or 1)
        hi = b.max_shapes or tilesize
        opt = b.opt_shapes or (b.max_shapes or tilesize)
        profile = ShapeProfile(lo, opt, hi)
        if not (profile.covers(opt) and profile.covers(lo)):
            raise ConfigError("opt_shapes", opt, f"between min_shapes {lo} and max_shapes {hi}", where=where)
        if not profile.covers(tilesize):
            raise TilingError("tilesize", tilesize, f"within the dynamic engine's min_shapes {lo} and max_shapes {hi}",
                              where=where)
        return profile

    def io_precision(self, model: ModelInfo, io: str | None = None) -> str:
        """The engine's IO type: "fp16" (half-float clips) or "fp32".

        An fp16-IO model is always "fp16"; an fp32 build always "fp32"; an fp16 / bf16 build takes ``io`` (the
        clips' precision), by default "fp16".
        """
        b = self.backend
        if io not in (None, "fp16", "fp32"):
            raise ConfigError("io", io, 'None, "fp16" or "fp32"', where=type(b).__name__)
        if model.fp16_io:
            if io == "fp32":
                raise ConfigError("io", io, f'None or "fp16": the inputs of {Path(model.path).name} are float16, so '
                                  "its engine takes half floats", where=type(b).__name__)
            return "fp16"
        if not (b.fp16 or b.bf16):
            if io == "fp16":
                raise ConfigError("io", io, 'None or "fp32" for a float32 build (fp16=False, bf16=False): its engine '
                                  "takes single floats; set fp16=True for a half-float IO engine",
                                  where=type(b).__name__)
            return "fp32"
        return io or "fp16"

    def get_identity(
        self, model: ModelInfo, channels: int, tilesize: Shape, input_name: str | None, *, io: str | None = None
    ) -> dict[str, Any]:
        """The identity record of the engine for these inputs."""
        tensor = model.input(input_name)
        return engine_identity(
            self.backend,
            runtime_version=self.runtime_version,
            device=self.device,
            model=model,
            input_name=tensor.name,
            channels=channels,
            profile=self.shape_profile(tensor, tilesize),
            io_precision=self.io_precision(model, io),
            targets=self.targets(),
        )

    def targets(self) -> list[str] | None:
        """TensorRT-RTX's compute-capability targets: those asked for, else the device the engine is for.

        None for TensorRT (it builds for the device in hand); [] where no device is known (a build on a machine
        without the GPU): TensorRT-RTX's default targets, which leave out Turing (7.5).
        """
        if not self.backend.runtime.compute_targets:
            return None
        asked = getattr(self.backend, "compute_capabilities", None)
        if asked:
            return list(asked)
        known = self.device.compute_capability
        return [known] if known else []

    # -- build -----------------------------------------------------------------------------------------
    def build_engine(
        self, model: ModelInfo, channels: int, tilesize: Shape, input_name: str | None, *, io: str | None = None
    ) -> Path:
        """The engine for these inputs from the store, built under its lock when missing."""
        tensor = model.input_for(channels, input_name)
        identity = self.get_identity(model, channels, tilesize, tensor.name, io=io)
        io = str(identity["io"])
        profile = self.shape_profile(tensor, tilesize)

        def create(tmp: Path) -> None:
            self.build(self._source(model, io), channels, profile, tensor.name, tmp)

        meta = {"model": Path(model.path).name, "precision": self.compute_precision(), "io": io,
                "shapes": {"min": list(profile.min), "opt": list(profile.opt), "max": list(profile.max)},
                "runtime": f"{self.runtime_name} {identity['runtime_version']}", "device": identity["device"]["name"],
                "fp16_blacklist_ops": list(self.backend.fp16_blacklist_ops or ())}
        return self.store.get_or_create("trt", ".engine", identity, create, force=self.backend.force_rebuild,
                                        meta=meta)

    def _source(self, model: ModelInfo, io: str) -> Path:
        b = self.backend
        if b.bf16:
            return convert_model(model, "bf16", b.fp16_blacklist_ops or (), self.store, io=io)
        if b.fp16 and not model.fp16_io:
            return convert_model(model, "fp16", b.fp16_blacklist_ops or (), self.store, io=io)
        return Path(model.path)

    def build(self, onnx_path: Path, channels: int, profile: ShapeProfile, input_name: str, output: Path) -> None:
        """Parse ``onnx_path``, configure, build on the engine's device, and write the serialized engine to ``output``.

        Refused before anything is built when the builder module's version is not the plugin's (an engine built by
        one TensorRT does not load in another). The build runs with the device the engine is for current
        (``device_id``), so GPU 1's engine is compiled on GPU 1.
        """
        trt = self.trt
        module_version = _short_version(str(trt.__version__))
        self.check_versions(module_version)
        device_id = first_device(self.backend.device_id)
        with use_cuda_device(device_id) as selected:
            logger.debug("%s build for device_id=%d: %s", self.runtime_name, device_id, selected)
            self._build(trt, module_version, onnx_path, channels, profile, input_name, output)

    def check_versions(self, module_version: str) -> None:
        """The builder module is the TensorRT the plugin links, or a BuildError naming both and the pip line."""
        if module_version == self.runtime_version:
            return
        module = self.backend.runtime.module
        raise BuildError(
            f"{type(self.backend).__name__}: the builder module {module} {module_version} is not the "
            f"{self.runtime_name} {self.runtime_version} that core.{self.backend.namespace} links, and an engine built "
            f"by one does not load in the other; nothing was built. Install the matching builder: "
            f"{_pip_line(self.backend.runtime, self.backend.namespace, self.runtime_version)}"
        )

    def _build(self, trt: ModuleType, module_version: str, onnx_path: Path, channels: int, profile: ShapeProfile,
               input_name: str, output: Path) -> None:
        trt_logger = _process_logger(trt)
        trt_logger.take_errors()  # what an earlier build in this thread left
        builder = trt.Builder(trt_logger)
        self.configure_builder(builder)
        flags = 0
        if hasattr(trt, "NetworkDefinitionCreationFlag") and hasattr(trt.NetworkDefinitionCreationFlag,
                                                                     "STRONGLY_TYPED"):
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)  # types come from the ONNX
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, trt_logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BuildError(f"{self.runtime_name} could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        self.configure_builder_config(config, network)
        self.setup_optimization_profile(builder, config, input_name, channels, profile)
        timing_path = self.store.folder("trt") / f"timing-{self.device.slug()}-{module_version}.cache"
        if self.backend.runtime.timing_cache:  # TensorRT-RTX made the timing cache a no-op
            self._load_timing_cache(config, timing_path)
        logger.info("building %s engine for %s (%s, %d channels, %s)", self.runtime_name, onnx_path,
                    self.compute_precision(), channels, profile)
        monitor = _make_progress_monitor(trt)
        if monitor is not None:
            config.progress_monitor = monitor
        # TensorRT keeps one logger per process (core.trt may have registered its own first), so the build's own
        # errors are kept by a recorder. It is set for the build call only: a network created while the builder
        # had a Python recorder crashes when it is freed (measured with tensorrt_rtx 1.7).
        recorder = _make_error_recorder(trt)
        self._recorders.append(recorder)  # TensorRT holds it without a reference: it must outlive the call
        try:
            if recorder is not None:
                builder.error_recorder = recorder
            serialized = builder.build_serialized_network(network, config)
        finally:
            if recorder is not None:
                builder.error_recorder = None
            if monitor is not None:
                monitor.close()  # a raising build must not leave a progress bar running
        if serialized is None:
            said = [*(recorder.messages if recorder is not None else []), *trt_logger.take_errors()]
            raise BuildError(f"{self.runtime_name} failed to build an engine for {onnx_path}: "
                             + ("; ".join(said) or "no error message; set the vsinfer logger to DEBUG"))
        output.write_bytes(memoryview(serialized))
        if self.backend.runtime.timing_cache:
            self._save_timing_cache(config, timing_path)

    def compute_precision(self) -> str:
        """Readable precision for log lines."""
        return "bf16" if self.backend.bf16 else "fp16" if self.backend.fp16 else "fp32"

    # -- configuration (each applied option is readable back from the config) ----------------------------
    def _available(self, option: str, available: bool) -> bool:
        """True to apply ``option``; a default the runtime lacks is skipped, a user-set one is an error."""
        if available:
            return True
        value = getattr(self.backend, option)
        if value != _defaults()[option]:
            raise UnsupportedOptionError(option, value, self.runtime_name, str(self.trt.__version__))
        logger.debug("%s %s has no %s; leaving its default", self.runtime_name, self.trt.__version__, option)
        return False

    def configure_builder(self, builder: Any) -> None:
        """Builder-level settings: the host threads it may use."""
        if self.backend.max_threads is not None and self._available("max_threads", hasattr(builder, "max_threads")):
            builder.max_threads = self.backend.max_threads

    def configure_builder_config(self, config: Any, network: Any) -> None:
        """Apply every builder field: memory pools, flags, tactic sources and optimization settings."""
        trt, b = self.trt, self.backend
        pools = getattr(trt, "MemoryPoolType", None)
        for option, pool in (("workspace", "WORKSPACE"), ("tactic_dram", "TACTIC_DRAM")):
            value = getattr(b, option)
            if value is not None and self._available(option, hasattr(pools, pool)):
                config.set_memory_pool_limit(getattr(pools, pool), value)  # bytes, as TensorRT and vs-jetpack
        for option, flag in (("tf32", "TF32"), ("strict_nans", "STRICT_NANS"), ("sparse_weights", "SPARSE_WEIGHTS"),
                             ("weight_streaming", "WEIGHT_STREAMING")):
            if self._available(option, hasattr(trt.BuilderFlag, flag)):
                if getattr(b, option):
                    config.set_flag(getattr(trt.BuilderFlag, flag))
                else:
                    config.clear_flag(getattr(trt.BuilderFlag, flag))
        self.configure_tactic_sources(config)
        self.configure_optimization_settings(config)
        self.configure_targets(config)

    def configure_targets(self, config: Any) -> None:
        """TensorRT-RTX: the compute capabilities the engine is built for (``targets``)."""
        targets = self.targets()
        if targets is None:
            return
        trt = self.trt
        if not targets:
            logger.warning("%s: no device known to build for; the engine gets %s's default targets (no Turing)",
                           type(self.backend).__name__, self.runtime_name)
            return
        kinds = getattr(trt, "ComputeCapability", None)
        if kinds is None or not hasattr(config, "num_compute_capabilities"):
            raise UnsupportedOptionError("compute_capabilities", targets, self.runtime_name, str(trt.__version__))
        supported = sorted((n for n in dir(kinds) if re.fullmatch(r"SM\d+", n)), key=lambda n: int(n[2:]))
        shown = ", ".join(f"{n[2:-1]}.{n[-1]}" for n in supported)
        chosen = []
        for target in targets:
            name = "SM" + target.replace(".", "")
            if name not in supported:
                asked = getattr(self.backend, "compute_capabilities", None)
                if asked:
                    raise ConfigError("compute_capabilities", tuple(asked),
                                      f"compute capabilities {self.runtime_name} {trt.__version__} builds for: {shown}",
                                      where=type(self.backend).__name__)
                raise DeviceError("device_id", first_device(self.backend.device_id),
                                  f"a GPU {self.runtime_name} {trt.__version__} builds for (compute capability "
                                  f"{shown}); {self.device.name} is {target}", where=type(self.backend).__name__)
            chosen.append(getattr(kinds, name))
        config.num_compute_capabilities = len(chosen)
        for index, kind in enumerate(chosen):
            if not config.set_compute_capability(kind, index):
                raise BuildError(f"{self.runtime_name} refused compute capability target {targets[index]}")

    def configure_tactic_sources(self, config: Any) -> None:
        """Turn the edge-mask and JIT convolution tactic sources on or off."""
        trt, b = self.trt, self.backend
        sources = int(config.get_tactic_sources())
        for option, name in (("edge_mask_convolutions", "EDGE_MASK_CONVOLUTIONS"),
                             ("jit_convolutions", "JIT_CONVOLUTIONS")):
            if self._available(option, hasattr(trt.TacticSource, name)):
                bit = 1 << int(getattr(trt.TacticSource, name))
                sources = sources | bit if getattr(b, option) else sources & ~bit
        config.set_tactic_sources(sources)

    def configure_optimization_settings(self, config: Any) -> None:
        """Optimization level, aux streams, tactics, tiling and timing iterations."""
        trt, b = self.trt, self.backend
        settings: list[tuple[str, Any, bool]] = [
            ("builder_optimization_level", b.builder_optimization_level, True),
            ("avg_timing_iterations", b.avg_timing_iterations, True),
            ("max_aux_streams", b.max_aux_streams, b.max_aux_streams is not None),
            ("max_num_tactics", b.max_num_tactics, b.max_num_tactics is not None),
            ("l2_limit_for_tiling", b.l2_limit_for_tiling, b.l2_limit_for_tiling != -1),
        ]
        for option, value, wanted in settings:
            if wanted and self._available(option, hasattr(config, option)):
                setattr(config, option, value)
        level = b.tiling_optimization_level
        if self._available("tiling_optimization_level",
                           hasattr(config, "tiling_optimization_level") and hasattr(trt, "TilingOptimizationLevel")):
            config.tiling_optimization_level = trt.TilingOptimizationLevel(int(level))

    def setup_optimization_profile(
        self, builder: Any, config: Any, input_name: str, channels: int, profile: ShapeProfile
    ) -> None:
        """Add the min / opt / max profile of ``input_name`` to ``config``."""
        trt_profile = builder.create_optimization_profile()
        trt_profile.set_shape(input_name, *profile.nchw(channels))
        config.add_optimization_profile(trt_profile)

    # -- timing cache: shared per device and runtime version, merged under its own lock -----------------
    def _load_timing_cache(self, config: Any, path: Path) -> None:
        with self.store.lock(path):
            data = self.store.read_checked(path)  # b"" when absent, empty or corrupt (logged once, removed)
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, True)

    def _save_timing_cache(self, config: Any, path: Path) -> None:
        fresh = config.get_timing_cache()
        with self.store.lock(path):
            data = self.store.read_checked(path)
            if data:
                merged = config.create_timing_cache(data)
                if merged.combine(fresh, True):
                    fresh = merged
            self.store.write_checked(path, memoryview(fresh.serialize()), meta={
                "kind": "timing cache", "runtime": f"{self.runtime_name} {self.runtime_version}",
                "device": self.device.name})


@functools.cache
def _defaults() -> dict[str, Any]:
    return {f.name: f.default for f in fields(TRTSettings)}


_SEVERITY = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}


@functools.cache
def _process_logger(trt: ModuleType) -> Any:
    """The one ``trt.ILogger`` of this process for ``trt``, forwarding into ``logging``.

    TensorRT keeps the first logger a process registers, so every build shares this one; the errors it saw since
    the last ``take_errors`` are kept for a failed build's message (per thread: builds in threads stay apart).
    """
    build_logger = logging.getLogger(f"vsinfer.{trt.__name__}")
    local = threading.local()

    class Logger(trt.ILogger):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = _SEVERITY.get(int(severity), logging.INFO)
            if level >= logging.ERROR:
                local.__dict__.setdefault("errors", []).append(msg)
            build_logger.log(level, "%s", msg)

        def take_errors(self) -> list[str]:
            errors: list[str] = local.__dict__.pop("errors", [])
            return errors

    return Logger()


def _make_error_recorder(trt: ModuleType) -> Any:
    """A ``trt.IErrorRecorder`` keeping one build's errors (None where the module has none)."""
    if not hasattr(trt, "IErrorRecorder"):
        return None

    class Recorder(trt.IErrorRecorder):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.IErrorRecorder.__init__(self)
            self.errors: list[tuple[Any, str]] = []

        @property
        def messages(self) -> list[str]:
            return [desc for _, desc in self.errors]

        def has_overflowed(self) -> bool:
            return False

        def clear(self) -> None:
            self.errors.clear()

        def get_error_code(self, index: int) -> Any:
            return self.errors[index][0]

        def get_error_desc(self, index: int) -> str:
            return self.errors[index][1]

        def num_errors(self) -> int:
            return len(self.errors)

        def report_error(self, code: Any, desc: str) -> bool:
            self.errors.append((code, desc))
            logger.debug("%s error: %s", trt.__name__, desc)
            return False  # not fatal by itself: the builder returns None and says so

    return Recorder()


def _make_progress_monitor(trt: ModuleType) -> Any:
    """An ``IProgressMonitor`` showing a rich bar on a terminal stderr, log lines otherwise; None if absent."""
    if not hasattr(trt, "IProgressMonitor"):
        return None
    progress = None
    if sys.stderr is not None and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress

        progress = Progress(console=Console(stderr=True), transient=True)
        progress.start()

    class Monitor(trt.IProgressMonitor):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.tasks: dict[str, Any] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if progress is not None:
                self.tasks[phase_name] = progress.add_task(phase_name, total=num_steps)
            else:
                logger.info("build phase %s started (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            if progress is not None and phase_name in self.tasks:
                progress.update(self.tasks[phase_name], completed=step + 1)
            return True

        def phase_finish(self, phase_name: str) -> None:
            if progress is not None and phase_name in self.tasks:
                progress.remove_task(self.tasks.pop(phase_name))
            else:
                logger.debug("build phase %s finished", phase_name)

        def close(self) -> None:
            if progress is not None:
                progress.stop()

    return Monitor()


def plugin_runtime_version(namespace: str) -> str | None:
    """"major.minor.patch" of the TensorRT the plugin links (its ``tensorrt_version``), or None."""
    from ...plugins import plugin_info

    raw = (plugin_info(namespace) or {}).get("tensorrt_version")
    if raw is None:  # a missing plugin: the builder module's version is used instead
        return None
    number = int(raw)
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
