"""The ``int8`` field group: run an INT8 copy of the model, quantized on the call's own clip (``vsinfer.quantize``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..model import ModelInfo, model_info
from ..quantize import MIN_PSNR, check_min_psnr, quantize
from ..store.files import log_once

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["Int8"]

logger = logging.getLogger("vsinfer")


@dataclass(frozen=True, kw_only=True)
class Int8:
    """Mixin fields of the families that run quantized (Q/DQ) models fast where the CPU has INT8 arithmetic."""

    int8: bool = False
    """Run an INT8 copy of the model, quantized on frames of the clip ``inference`` gets and judged against
    float32 on others (``vsinfer.quantize``; cached, so the next run reads it back). Faster only where the CPU has
    INT8 arithmetic (VNNI, AMX) and the model gains from it: measure (``vsinfer quantize`` says)."""
    int8_min_psnr: float = MIN_PSNR
    """With ``int8``: the quality bound, dB of PSNR against float32 on held-out frames; below it the call is
    refused (``QualityError``, which a ``fallback`` backend answers)."""

    def __post_init__(self) -> None:
        """Check the bound (a number of dB from 20 to 100)."""
        object.__setattr__(self, "int8_min_psnr", check_min_psnr(self.int8_min_psnr, type(self).__name__,
                                                                 "int8_min_psnr"))
        super().__post_init__()  # type: ignore[misc]  # the backend dataclass this is mixed into

    def quality_bound(self) -> float | None:
        """``int8_min_psnr`` with ``int8``: the quantization was judged by it on held-out frames of the clip."""
        return self.int8_min_psnr if self.int8 else None

    def call_model(self, model: ModelInfo, clips: Sequence[vs.VideoNode], where: str) -> ModelInfo:
        """With ``int8``: the quantized copy of ``model`` for these clips (quantized now, or read back)."""
        if not self.int8:
            return model
        if not clips:
            raise ConfigError("int8", True, "a clip to calibrate on: prebuild and build have none (inference "
                              "quantizes on its clip; `vsinfer quantize MODEL --clip SCRIPT` does it ahead)",
                              where=where)
        done = quantize(model.path, clips, min_psnr=self.int8_min_psnr)
        log_once(logging.INFO, ("int8", str(done.path)), "%s runs the INT8 copy of %s: %.1f dB PSNR, max error %.3g "
                 "against float32 on held-out frames%s", where, Path(model.path).name, done.psnr_db, done.max_error,
                 f", {len(done.excluded)} node{'s' if len(done.excluded) > 1 else ''} kept in float"
                 if done.excluded else "", to=logger)
        return model_info(done.path)
