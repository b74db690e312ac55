"""The fp16 guard's analysis and report: which nodes of a float32 model overflow float16, and what fp16 costs."""

from .analysis import CONSTANT_LIMIT, FP16_MAX, HEADROOM, LIMIT, Analysis, OverflowNode, analyse
from .reporting import Fp16Report, emulate_fp16, report
from .samples import synthetic_samples

__all__ = [
    "CONSTANT_LIMIT",
    "FP16_MAX",
    "HEADROOM",
    "LIMIT",
    "Analysis",
    "Fp16Report",
    "OverflowNode",
    "analyse",
    "emulate_fp16",
    "report",
    "synthetic_samples",
]
