"""The backend families, attached to ``Backend`` as ``Backend.ORT_CPU``, ``Backend.TRT``, ... and registered.

This is the one place that lists vsinfer's own families: each family module declares its ``CLASSES`` and the
``OFFERS`` it makes autoselect; they go into the registry (``vsinfer.backends.registry``) that autoselect,
autotune, bench, presets and the CLI read.
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

_FAMILIES = (trt, ort, ov, ncnn, migx)
registry.add_builtins((c for f in _FAMILIES for c in f.CLASSES), (o for f in _FAMILIES for o in f.OFFERS))
inventory.declare(first_use.PROBE_KIND, *(k for f in _FAMILIES for k in f.CACHE_KINDS))
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
