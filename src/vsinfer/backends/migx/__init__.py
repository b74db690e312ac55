"""The MIGraphX family (``core.migx``): MIGX, its settings and its program builder.

Its facts, read by ``vsinfer.backends`` (``registry.add_family``): the classes, the offers autoselect gets, the plugin
it runs on (namespace, pip extra, wheel, runtime version key), the cache kinds it keeps, and its docs page.
"""

from ...plugins import PluginFacts
from .backend import CACHE_KINDS, CLASSES, MIGX, OFFERS

PLUGINS = (PluginFacts(namespace="migx", extra="migx", wheel="vapoursynth-mlrt-migx",
                       runtime_keys=("migraphx_version",),
                       gpu_vendor="amd"),)
"""The plugin this family runs on."""
DOCS_PAGE = "backends/migx.md"
"""The page that documents its classes and fields."""

__all__ = ["CACHE_KINDS", "CLASSES", "DOCS_PAGE", "MIGX", "OFFERS", "PLUGINS"]
