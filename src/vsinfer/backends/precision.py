"""Precision hooks shared by the families whose fields are ``fp16``, ``bf16`` and ``fp16_guard`` (TRT, MIGX)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Self

from .fields import check_types

__all__ = ["HalfOrBfloat16", "settle_fp16_bf16"]


class HalfOrBfloat16:
    """Mixin: ``precision``, ``float32``, ``half`` and ``guard_on`` read from the ``fp16`` / ``bf16`` fields.

    bf16 has float32's range, so only fp16 is guarded. ``float32`` also drops a ``fp16_blacklist_ops`` field (a block
    list means nothing without a reduced precision).
    """

    if TYPE_CHECKING:
        fp16: bool | None
        bf16: bool | None
        fp16_guard: bool

    def precision(self) -> str:
        """bf16, fp16 or fp32."""
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"

    def float32(self) -> Self:
        """fp16 and bf16 off (and no block list)."""
        changes: dict[str, Any] = {"fp16": False, "bf16": False}
        if any(f.name == "fp16_blacklist_ops" for f in dataclasses.fields(self)):  # type: ignore[arg-type]
            changes["fp16_blacklist_ops"] = None
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def half(self) -> Self | None:
        """fp16 on (bf16 off); None when it already is."""
        return None if self.fp16 else dataclasses.replace(self, fp16=True, bf16=False)  # type: ignore[type-var]

    def guard_on(self) -> bool:
        """fp16 is checked unless ``fp16_guard`` is off."""
        return bool(self.fp16) and not self.bf16 and self.fp16_guard


def settle_fp16_bf16(backend: Any) -> None:
    """Normalize a dataclass's ``fp16`` / ``bf16`` in its ``__post_init__``: ``fp16=None`` is on unless ``bf16`` is.

    The field types are checked first, so that "no" does not become True.
    """
    check_types(backend)
    if backend.fp16 is None:
        backend._set("fp16", not backend.bf16)
    backend._set("bf16", bool(backend.bf16))
