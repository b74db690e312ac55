"""The NCNN / Vulkan family (``core.ncnn``): NCNN; its converter's op table and Vulkan device checks.

Its facts, read by ``vsinfer.backends`` (``registry.add_family``): the classes, the offers autoselect gets, the plugin
it runs on (namespace, pip extra, wheel, runtime version key), the cache kinds it keeps, and its docs page.
"""

from ...plugins import PluginFacts
from .backend import CACHE_KINDS, CLASSES, NCNN, OFFERS, VULKAN_HINT, VulkanDevice, vulkan_device

PLUGINS = (PluginFacts(namespace="ncnn", extra="ncnn", wheel="vapoursynth-mlrt-ncnn",
                       runtime_keys=("ncnn_version",)),)
"""The plugin this family runs on."""
DOCS_PAGE = "backends/ncnn.md"
"""The page that documents its classes and fields."""

__all__ = ["CACHE_KINDS", "CLASSES", "DOCS_PAGE", "NCNN", "OFFERS", "PLUGINS", "VULKAN_HINT", "VulkanDevice",
           "vulkan_device"]
