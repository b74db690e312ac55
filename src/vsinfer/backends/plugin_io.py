"""What a plugin is given and gives back: arguments without unset values, its verbosity, float bits, plane clips."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..model import ModelInfo

__all__ = [
    "as_float", "as_nodes", "auto_float_bits", "clip_float_bits", "compact", "log_level_index", "output_bits",
    "split_planes", "to_float",
]

logger = logging.getLogger("vsinfer")


def compact(args: dict[str, Any]) -> dict[str, Any]:
    """``args`` without the None values: an unset option is left to the plugin's own default."""
    return {k: v for k, v in args.items() if v is not None}


def log_level_index() -> int:
    """The ``vsinfer`` logger's effective level as 0 (DEBUG or lower) .. 4 (CRITICAL or higher)."""
    level = logger.getEffectiveLevel()
    thresholds = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
    return next((i for i, t in enumerate(thresholds) if level <= t), 4)


def as_nodes(clips: vs.VideoNode | Sequence[vs.VideoNode]) -> list[vs.VideoNode]:
    """``clips`` as a list (a lone clip becomes a one-element list)."""
    import vapoursynth as vs

    return [clips] if isinstance(clips, vs.VideoNode) else list(clips)


def auto_float_bits(nodes: Sequence[vs.VideoNode], model: ModelInfo | None, fp16: bool) -> int:
    """Float bits for plugins that convert the model themselves (ort, ncnn).

    An fp16-IO model needs half floats; float32 clips stay as they are; integer clips become half floats
    when the plugin runs the model in fp16 (it then takes fp16 input), else single floats.
    """
    if model is not None and model.fp16_io:
        return 16
    float_bits = clip_float_bits(nodes)
    if float_bits is not None:
        return float_bits if fp16 or float_bits == 32 else 32  # fp32 runs take single floats
    return 16 if fp16 else 32


def clip_float_bits(nodes: Sequence[vs.VideoNode]) -> int | None:
    """16 when every clip is half float, 32 when every clip is float and one is single; None with integer clips."""
    import vapoursynth as vs

    if not all(n.format.sample_type == vs.FLOAT for n in nodes):
        return None
    return 16 if all(n.format.bits_per_sample == 16 for n in nodes) else 32


def output_bits(clips: Sequence[vs.VideoNode], converted_bits: int) -> int:
    """The float bits of the output: those of the clips given, or, for integer clips, those they were converted to.

    DESIGN principle 11: float32 in, float32 out; half in, half out; on every backend.
    """
    return clip_float_bits(clips) or converted_bits


def to_float(nodes: list[vs.VideoNode], bits: int) -> list[vs.VideoNode]:
    """``nodes`` as float clips of ``bits`` (unchanged when they are already)."""
    import vapoursynth as vs

    if all(n.format.sample_type == vs.FLOAT and n.format.bits_per_sample == bits for n in nodes):
        return nodes
    return [as_float(n, bits) for n in nodes]


def as_float(node: vs.VideoNode, bits: int) -> vs.VideoNode:
    """``node`` converted to float samples of ``bits`` (same colour family and planes).

    ``core.resize`` reads each frame's ``_ColorRange`` (integer YUV and GRAY without it: limited range; RGB: full),
    so integer clips map to 0..1 as vs-jetpack's ``depth`` maps them, without rendering a frame now.
    """
    import vapoursynth as vs

    fmt = node.format.replace(sample_type=vs.FLOAT, bits_per_sample=bits)
    return node if fmt.id == node.format.id else vs.core.resize.Point(node, format=fmt.id)


def split_planes(result: Any, prop: str) -> list[vs.VideoNode]:
    """The planes of a ``flexible`` plugin result as GRAY clips (read from the frame properties ``<prop><i>``)."""
    import vapoursynth as vs

    clip, count = result["clip"], int(result["num_planes"])
    return [vs.core.std.PropToClip(clip, prop=f"{prop}{i}") for i in range(count)]
