"""The OpenVINO family (``core.ov``): OV on a device string, OV_CPU, OV_GPU, OV_NPU; its device and property checks.

Its facts, read by ``vsinfer.backends`` (``registry.add_family``): the classes, the offers autoselect gets, the plugin
it runs on (namespace, pip extra, wheel, runtime version key), the cache kinds it keeps, and its docs page.
"""

from ...plugins import PluginFacts
from .backend import CACHE_KINDS, CLASSES, OFFERS, OV, OV_CPU, OV_GPU, OV_NPU, OVConfig
from .checks import OV_CONFIG_RULES, device_list

PLUGINS = (PluginFacts(namespace="ov", extra="ov", wheel="vapoursynth-mlrt-ov",
                       runtime_keys=("openvino_version",)),)
"""The plugin this family runs on."""
DOCS_PAGE = "backends/ov.md"
"""The page that documents its classes and fields."""

__all__ = [
    "CACHE_KINDS",
    "CLASSES",
    "DOCS_PAGE",
    "OFFERS",
    "OV",
    "OV_CONFIG_RULES",
    "OV_CPU",
    "OV_GPU",
    "OV_NPU",
    "PLUGINS",
    "OVConfig",
    "device_list",
]
