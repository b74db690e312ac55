"""A stand-in for the ``tensorrt`` module of TensorRT 11.4, which cannot be installed here.

What the PyPI ``core.trt`` 17.1 loads is ``libnvinfer.so.11`` from ``tensorrt-cu13-libs==11.4.0.106``; its Python
builder is ``tensorrt`` 11.4.0.106. The stand-in models that module's API as vsinfer's builder uses it, on top of
``tensorrt_rtx`` (the same Python API family, which builds real engines here without a GPU):

- TensorRT 11 builds strongly typed networks only: the weak-typing builder flags (``BuilderFlag.FP16``, ``BF16``,
  ``INT8``, ``FP8``, ``INT4``, ``FP4``, ``OBEY_PRECISION_CONSTRAINTS``, ``PREFER_PRECISION_CONSTRAINTS``,
  ``DIRECT_IO``) are gone and raise AttributeError as the real module does; the ``STRONGLY_TYPED`` creation flag
  is accepted (and ignored);
- the TensorRT-RTX-only compute-capability targets (``ComputeCapability``, ``num_compute_capabilities``) are not
  there: TensorRT builds for the device in hand;
- ``__version__`` is "11.4.0.106".

``loggers`` lists the logger each ``Builder`` was given; ``make(cuda=...)`` records, in ``cuda.builds``, which
CUDA device was current when each engine was built; ``fail_build`` makes ``build_serialized_network`` raise (a
driver error mid-build); ``without`` drops names, to stand for an older TensorRT that lacks an option.
"""

from __future__ import annotations

import types
from typing import Any

VERSION = "11.4.0.106"

USED = (
    "Logger", "ILogger", "OnnxParser", "TacticSource", "MemoryPoolType", "TilingOptimizationLevel",
    "NetworkDefinitionCreationFlag", "IProgressMonitor", "ITimingCache", "IErrorRecorder",
)
REMOVED_FLAGS = ("FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS",
                 "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO")
"""BuilderFlag members TensorRT 11 removed with weak typing."""
RTX_ONLY_FLAGS = ("GPU_FALLBACK",)


class _Flags:
    """``trt.BuilderFlag`` of TensorRT 11: tensorrt_rtx's members less the removed ones."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        if name in REMOVED_FLAGS or name in RTX_ONLY_FLAGS:
            raise AttributeError(f"type object 'tensorrt.BuilderFlag' has no attribute '{name}'")
        return getattr(self._source, name)

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._source) if n not in REMOVED_FLAGS and n not in RTX_ONLY_FLAGS]


_RTX_CONFIG_ONLY = ("num_compute_capabilities", "set_compute_capability", "get_compute_capability")


class _Config:
    """``IBuilderConfig`` without TensorRT-RTX's compute-capability targets."""

    def __init__(self, config: Any) -> None:
        object.__setattr__(self, "_config", config)

    def __getattr__(self, name: str) -> Any:
        if name in _RTX_CONFIG_ONLY:
            raise AttributeError(f"'tensorrt.IBuilderConfig' object has no attribute '{name}'")
        return getattr(self._config, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RTX_CONFIG_ONLY:
            raise AttributeError(f"'tensorrt.IBuilderConfig' object has no attribute '{name}'")
        setattr(self._config, name, value)


def make(version: str = VERSION, without: tuple[str, ...] = (), cuda: Any = None,
         fail_build: bool = False) -> types.ModuleType:
    """A ``tensorrt`` module of ``version`` (see the module docstring)."""
    import tensorrt_rtx

    loggers: list[Any] = []

    class Builder(tensorrt_rtx.Builder):  # type: ignore[misc]
        def __init__(self, logger: Any) -> None:
            loggers.append(logger)
            super().__init__(logger)

        def __del__(self) -> None:
            """Nothing: tensorrt_rtx's own ``__del__`` is a deprecated method that warns when a subclass calls it."""

        def create_network(self, flags: int = 0) -> Any:
            allowed = 1 << int(tensorrt_rtx.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
            if flags & ~allowed:
                raise TypeError(f"create_network(): unknown NetworkDefinitionCreationFlag bits {flags & ~allowed}")
            return super().create_network(flags)

        def create_builder_config(self) -> Any:
            return _Config(super().create_builder_config())

        def build_serialized_network(self, network: Any, config: Any) -> Any:
            if cuda is not None:
                cuda.builds.append(cuda.current())
            if fail_build:
                raise RuntimeError("CUDA error 700: an illegal memory access was encountered")
            return super().build_serialized_network(network, config._config)

    module = types.ModuleType("tensorrt")
    for name in USED:
        if name not in without:
            setattr(module, name, getattr(tensorrt_rtx, name))
    module.Builder = Builder  # type: ignore[attr-defined]
    module.loggers = loggers  # type: ignore[attr-defined]  (not TensorRT's: the loggers builders were given)
    if "BuilderFlag" not in without:
        module.BuilderFlag = _Flags(tensorrt_rtx.BuilderFlag)  # type: ignore[attr-defined]
    module.__version__ = version  # type: ignore[attr-defined]
    return module
