"""The TensorRT family (``core.trt``, ``core.trt_rtx``): TRT and TRT_RTX, their settings and the engine builder.

Its facts, read by ``vsinfer.backends`` (``registry.add_family``): the classes, the offers autoselect gets, the plugins
it runs on (namespace, pip extra, wheel, runtime version key), the cache kinds it keeps, and its docs page.
"""

from ...plugins import PluginFacts
from .backend import CACHE_KINDS, CLASSES, OFFERS, TRT, TRT_RTX

PLUGINS = (
    PluginFacts(namespace="trt", extra="trt", wheel="vapoursynth-mlrt-trt",
                runtime_keys=("tensorrt_version", "cuda_runtime_version"), gpu_vendor="nvidia"),
    PluginFacts(namespace="trt_rtx", extra="trt-rtx", wheel="vapoursynth-mlrt-trt-rtx",
                runtime_keys=("tensorrt_version", "cuda_runtime_version"), gpu_vendor="nvidia"),
)
"""The plugins this family runs on."""
DOCS_PAGE = "backends/trt.md"
"""The page that documents its classes and fields."""

__all__ = ["CACHE_KINDS", "CLASSES", "DOCS_PAGE", "OFFERS", "PLUGINS", "TRT", "TRT_RTX"]
