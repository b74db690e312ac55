"""The backend families, attached to ``Backend`` as ``Backend.ORT_CPU``, ``Backend.TRT``, ... and registered.

This is the one place that lists vsinfer's own families (``FAMILIES``): each family folder declares its facts in its
``__init__.py`` (``CLASSES``, the ``OFFERS`` it makes autoselect, the ``PLUGINS`` it runs on, its ``CACHE_KINDS`` and
``DOCS_PAGE``); ``registry.add_family`` hands them to the registry that autoselect, autotune, bench, presets and the
CLI read, to the plugin tables and to the store's inventory.
"""

from ..store import inventory
from . import first_use, migx, ncnn, ort, ov, registry, trt
from .base import Backend
from .migx import MIGX
from .ncnn import NCNN
from .ort import ORT, ORT_COREML, ORT_CPU, ORT_CUDA, ORT_DML
from .ov import OV, OV_CPU, OV_GPU, OV_NPU
from .trt import TRT, TRT_RTX

NCNN_VK = NCNN

FAMILIES = (trt, ort, ov, ncnn, migx)
"""vsinfer's own families, each a folder that declares its facts (``registry.Family``)."""

for _family in FAMILIES:
    registry.add_family(_family, builtin=True)
inventory.declare(first_use.PROBE_KIND)
for _cls in registry.classes():
    setattr(Backend, _cls.__name__, _cls)
setattr(Backend, "NCNN_VK", NCNN)  # noqa: B010 (an alias the metaclass cannot declare)

__all__ = [
    "MIGX",
    "NCNN",
    "NCNN_VK",
    "ORT",
    "ORT_COREML",
    "ORT_CPU",
    "ORT_CUDA",
    "ORT_DML",
    "OV",
    "OV_CPU",
    "OV_GPU",
    "OV_NPU",
    "TRT",
    "TRT_RTX",
    "Backend",
]
