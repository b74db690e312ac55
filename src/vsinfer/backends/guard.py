"""The fp16 guard applied: a backend that would overflow float16 runs with the overflowing nodes in float32.

The analysis (``vsinfer.fp16``) lists the nodes; what a family does with them is its ``keep_in_float32`` hook
(a node block list, a precision hint, a converted model, or float32 throughout). This module only decides
whether to ask, and takes the safe path (float32) whenever the check itself cannot be done (DESIGN principle 15).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..conversion import convert_model
from ..fp16 import analyse
from ..model import ModelInfo, model_info
from ..store import Store

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["Kept", "apply_guard", "converted"]

logger = logging.getLogger("vsinfer.fp16")

class Guardable(Protocol):
    """What the guard asks of a backend (``vsinfer.backends.base.Backend`` has it all)."""

    def guard_on(self) -> bool: ...

    def float32(self) -> Any: ...

    def keep_in_float32(self, nodes: tuple[str, ...], model: ModelInfo, clips: Sequence[vs.VideoNode]) -> Kept: ...


@dataclass(frozen=True)
class Kept:
    """A family's answer to "keep these nodes in float32": what to run, and how it was done."""

    backend: Any
    """The backend to run (the same class as asked, other fields)."""
    model: ModelInfo
    """The model to run (the asked one, or a converted copy)."""
    how: str
    """For the log line: what the family did."""
    level: int = logging.INFO
    """The log level of that line: WARNING when the picture or the speed suffers."""


_decisions: set[tuple[int, str, str]] = set()
_decisions_lock = threading.Lock()


def _announce(level: int, model: ModelInfo, backend: object, message: str, *args: Any) -> None:
    """Log the guard's decision once per model, backend class and decision; later calls log at DEBUG."""
    key = (model.checksum, type(backend).__name__, message % args)
    with _decisions_lock:
        first = key not in _decisions
        _decisions.add(key)
    logger.log(level if first else logging.DEBUG, message, *args)


def apply_guard[B: Guardable](
    backend: B, model: ModelInfo, clips: Sequence[vs.VideoNode], *, channels: int | None = None
) -> tuple[B, ModelInfo]:
    """The backend (and model) to run so that no overflowing node computes in float16; unchanged when none does.

    Nothing is analysed when the backend computes in float32 or bfloat16, when its ``fp16_guard`` is off, or when
    the model has float16 inputs. The analysis runs on synthetic pictures only, so ``inference`` and a prebuild
    (``Backend.prebuild``, ``vsinfer build``) reach the same decision and the same engine. When it cannot be done,
    the backend runs in float32, with a warning: never fp16 unchecked.
    """
    if model.fp16_io or not backend.guard_on():
        return backend, model
    try:
        analysis = analyse(model, clips, frames=0, channels=channels)
    except Exception as exc:  # the guard cannot tell: float32 is always right
        _announce(logging.WARNING, model, backend, "fp16 guard: could not analyse %s (%s); %s runs it in float32 "
                  "(fp16_guard=False runs it in fp16 unchecked)", model.path, exc, type(backend).__name__)
        return backend.float32(), model
    if not analysis.nodes:
        _announce(logging.INFO, model, backend, "fp16 guard: no float16 overflow in %s (max |x| %.4g on %s): "
                  "full fp16", model.path, analysis.max_abs, analysis.samples)
        return backend, model
    found = f"fp16 guard: {model.path} overflows float16 ({analysis.summary()})"
    name = type(backend).__name__
    if analysis.unnamed:
        _announce(logging.WARNING, model, backend, "%s; nodes without names cannot be kept in float32 one by one: "
                  "%s runs it in float32", found, name)
        return backend.float32(), model
    try:
        kept = backend.keep_in_float32(analysis.block_list, model, clips)
    except Exception as exc:  # a conversion that fails: float32 is always right
        _announce(logging.WARNING, model, backend, "%s and could not be converted with those nodes in float32 (%s); "
                  "%s runs it in float32", found, exc, name)
        return backend.float32(), model
    _announce(kept.level, model, backend, "%s; %s", found, kept.how)
    result: B = kept.backend
    return result, kept.model


def converted(model: ModelInfo, block_list: Iterable[str], io: str) -> ModelInfo:
    """The fp16 model with ``block_list`` (node names, op types) kept in float32, its IO ``io`` ("fp16"/"fp32").

    For families whose plugin runs a model as given: they run this one in float32 mode (it is fp16 inside).
    """
    return model_info(convert_model(model, "fp16", sorted(set(block_list)), Store(), io=io))
