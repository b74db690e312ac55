"""A stand-in for the ``tensorrt`` module, which cannot be installed here.

It exposes only what vsinfer's builder uses, taken from ``tensorrt_rtx`` (the same Python API family), and
reports a TensorRT version. The build itself is real: the engine bytes come from tensorrt_rtx's builder.
``without`` drops names, to stand for an older TensorRT that lacks an option.
"""

from __future__ import annotations

import types

USED = (
    "Builder", "Logger", "ILogger", "OnnxParser", "BuilderFlag", "TacticSource", "MemoryPoolType",
    "TilingOptimizationLevel", "NetworkDefinitionCreationFlag", "IProgressMonitor", "ITimingCache",
)


def make(version: str = "10.13.0.35", without: tuple[str, ...] = ()) -> types.ModuleType:
    import tensorrt_rtx

    module = types.ModuleType("tensorrt")
    for name in USED:
        if name not in without:
            setattr(module, name, getattr(tensorrt_rtx, name))
    module.__version__ = version  # type: ignore[attr-defined]
    return module
