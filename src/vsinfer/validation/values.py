"""Short descriptions of values for error messages: never a numpy array's or a node's full repr."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Shown

__all__ = ["Shown", "describe"]


def _node_text(node: Any) -> str:
    import vapoursynth as vs

    if isinstance(node, vs.AudioNode):
        return f"<AudioNode {node.sample_rate} Hz, {node.num_channels} channels, {node.num_samples} samples>"
    fmt = node.format
    name = "variable format" if fmt is None or fmt.color_family == vs.UNDEFINED else fmt.name
    size = "variable size" if node.width == 0 or node.height == 0 else f"{node.width}x{node.height}"
    return f"<VideoNode {name} {size}, {node.num_frames} frames>"


def describe(value: Any) -> Any:
    """``value`` itself when its repr is short, else a ``Shown`` description (nodes, arrays, long bytes / text)."""
    import vapoursynth as vs

    if isinstance(value, vs.VideoNode | vs.AudioNode):
        return Shown(_node_text(value))
    cls = type(value)
    if cls.__module__ == "numpy" and getattr(value, "shape", None) == () and len(repr(value)) <= 40:
        return value  # a numpy scalar: its repr (np.int64(5), np.True_) is short and says what it is
    if cls.__module__ == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        return Shown(f"<numpy.{cls.__name__} shape={tuple(value.shape)} dtype={value.dtype}>")
    if isinstance(value, bytes | bytearray) and len(value) > 64:
        return Shown(f"<{cls.__name__} of length {len(value)}>")
    if isinstance(value, str) and len(value) > 200:
        return Shown(repr(value[:80]) + f"... ({len(value)} characters)")
    if isinstance(value, list | tuple) and any(describe(v) is not v for v in value[:8]):
        if len(value) > 8:
            return Shown(f"<{cls.__name__} of {len(value)} items>")
        items = ", ".join(repr(describe(v)) for v in value)
        return Shown(f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})")
    if isinstance(value, Mapping) and any(describe(v) is not v for v in list(value.values())[:8]):
        return Shown(f"<{cls.__name__} with keys {list(value)[:8]!r}>")
    try:
        text = repr(value)
    except Exception:  # a repr that fails is still a value to name
        text = ""
    if not text or len(text) > 120 or "\n" in text:
        if isinstance(value, list | tuple | set | frozenset | Mapping):
            return Shown(f"<{cls.__name__} of {len(value)} items>")
        return Shown(f"<{cls.__module__}.{cls.__qualname__} object>")
    return value
