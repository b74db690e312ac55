"""The fields of a MIGraphX compile and run, declared once: ``MIGX`` has them, the program builder reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..devices import SeveralDevices
from ..fields import FrozenMapping

__all__ = ["MIGXSettings"]


@dataclass(frozen=True, kw_only=True)
class MIGXSettings(SeveralDevices):
    """Everything a MIGraphX program is compiled and run with (``MIGX`` is this, plus behaviour)."""

    num_streams: int = 1
    """Parallel inference streams."""
    fp16: bool | None = None
    """Quantize the program to half precision (``--fp16``); None means off."""
    bf16: bool | None = None
    """Quantize the program to bfloat16 (``--bf16``); None means off."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    opt_shapes: tuple[int, int] | None = None
    """(w, h) the program is compiled for; None means the tile size."""
    fast_math: bool = True
    """Allow fast-math approximations (``--disable-fast-math`` when False)."""
    exhaustive_tune: bool = False
    """Try every kernel configuration while compiling (``--exhaustive-tune``)."""
    custom_env: Mapping[str, str] = field(default_factory=FrozenMapping)
    """Extra environment variables for ``migraphx-driver``."""
    custom_args: Sequence[str] = ()
    """Extra ``migraphx-driver compile`` arguments, appended in order."""
    force_rebuild: bool = False
    """Compile even when a cached program matches."""
