"""The fp16 guard's analysis and report: which nodes of a float32 model overflow float16, and what fp16 costs."""

from . import analysis
from .analysis import *  # noqa: F403 (its __all__: the analysis' names)
from .reporting import Fp16Report, emulate_fp16, report
from .samples import synthetic_samples

__all__ = [*analysis.__all__, "Fp16Report", "emulate_fp16", "report", "synthetic_samples"]
