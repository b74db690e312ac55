"""The OpenVINO family: OV on a device string, OV_CPU, OV_GPU, OV_NPU; its device and property checks."""

from .backend import CACHE_KINDS, CLASSES, OFFERS, OV, OV_CPU, OV_GPU, OV_NPU, OVConfig
from .checks import OV_CONFIG_RULES, device_list

__all__ = [
    "CACHE_KINDS", "CLASSES", "OFFERS", "OV", "OV_CONFIG_RULES", "OV_CPU", "OV_GPU", "OV_NPU", "OVConfig",
    "device_list",
]
