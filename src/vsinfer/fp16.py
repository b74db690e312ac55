"""The fp16 guard: find the nodes whose float32 values overflow half precision, keep them in float32.

(Stub: helper H2 fills this module.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import vapoursynth as vs

    from .backends.base import Backend
    from .model import ModelInfo

__all__ = ["apply_guard"]


def apply_guard(backend: Backend, model: ModelInfo, clips: Sequence[vs.VideoNode]) -> tuple[Backend, ModelInfo]:
    """The backend (and model) to run so that no overflowing node runs in fp16; unchanged when nothing overflows."""
    return backend, model
