"""The backend classes, attached to ``Backend`` as ``Backend.ORT_CPU``, ``Backend.TRT``, ..."""

from .base import Backend
from .migx import MIGX
from .ncnn import NCNN
from .ort import ORT, ORT_COREML, ORT_CPU, ORT_CUDA, ORT_DML
from .ov import OV, OV_CPU, OV_GPU, OV_NPU
from .trt import TRT, TRT_RTX

NCNN_VK = NCNN

for _cls in (TRT, TRT_RTX, ORT, ORT_CPU, ORT_CUDA, ORT_DML, ORT_COREML, OV, OV_CPU, OV_GPU, OV_NPU, NCNN, MIGX):
    setattr(Backend, _cls.__name__, _cls)
Backend.NCNN_VK = NCNN

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
