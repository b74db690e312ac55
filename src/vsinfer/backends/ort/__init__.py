"""The ONNX Runtime family (``core.ort``): ORT_CPU, ORT_CUDA, ORT_DML, ORT_COREML; its provider checks.

Its facts, read by ``vsinfer.backends`` (``registry.add_family``): the classes, the offers autoselect gets, the plugin
it runs on (namespace, pip extra, wheel, runtime version key), the cache kinds it keeps, and its docs page.
"""

from ...plugins import PluginFacts
from .backend import CACHE_KINDS, CLASSES, OFFERS, ORT, ORT_COREML, ORT_CPU, ORT_CUDA, ORT_DML, QDQ_OPS

PLUGINS = (PluginFacts(namespace="ort", extra="ort", wheel="vapoursynth-mlrt-ort",
                       runtime_keys=("onnxruntime_version",)),)
"""The plugin this family runs on."""
DOCS_PAGE = "backends/ort.md"
"""The page that documents its classes and fields."""

__all__ = ["CACHE_KINDS", "CLASSES", "DOCS_PAGE", "OFFERS", "ORT", "ORT_COREML", "ORT_CPU", "ORT_CUDA", "ORT_DML",
           "PLUGINS", "QDQ_OPS"]
