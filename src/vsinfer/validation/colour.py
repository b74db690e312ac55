"""Colour: what a YUV or GRAY clip means to a model, and frame properties that agree with the output.

The plugins copy the first clip's frame properties to their output, whatever it is: a YUV clip run through a
3-channel model comes back labelled RGB yet keeps ``_Matrix`` (the next resize then fails with "RGB color family
cannot have YUV matrix coefficients") and its ``_Range`` (limited, for YUV), though RGB is full range.
``label_outputs`` makes the properties say what the output is; ``explain_inputs`` says, once per call, how the
input is read.

Integer clips are converted to float with ``vstools.depth``, which reads the ``_Range`` frame property: limited
(16 .. 235 for 8 bits) when it is unset on YUV and GRAY clips, as VapourSynth's resizers do, full on RGB. So a
full-range GRAY8 mask without ``_Range`` is read as limited (255 -> 1.09): set ``_Range`` (``vs.RANGE_FULL``) on
such clips. Float clips are taken as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["RGB_HINT", "explain_inputs", "label_outputs", "needs_labels"]

logger = logging.getLogger("vsinfer")

RGB_HINT = "clip = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s='709')"
"""The one-line conversion most 3-channel models expect (RGB); use the clip's own matrix if it is not BT.709."""

_NOT_RGB = ("_Matrix", "_ChromaLocation")
"""Properties an RGB clip must not carry (VapourSynth's resizers refuse an RGB clip with a YUV matrix)."""


def explain_inputs(nodes: Sequence[vs.VideoNode], model_channels: int | None, where: str) -> None:
    """Log how YUV and integer clips reach the model.

    One warning for a YUV clip into a 3-channel model, one INFO line for integer YUV / GRAY clips (their range).
    """
    import vapoursynth as vs

    families = [n.format.color_family for n in nodes]
    if model_channels == 3 and len(nodes) == 1 and families[0] == vs.YUV:
        logger.warning(
            "%s: clips[0] is %s: the model gets Y, U and V as its 3 channels, and most 3-channel models expect RGB "
            "(the output is labelled RGB either way). Convert it first: %s", where, nodes[0].format.name, RGB_HINT)
    limited = [f"clips[{i}] ({n.format.name})" for i, n in enumerate(nodes)
               if n.format.sample_type == vs.INTEGER and n.format.color_family in (vs.YUV, vs.GRAY)]
    if limited:
        logger.info(
            "%s: %s: integer YUV / GRAY is converted to float as limited range (8 bits: 16 .. 235 -> 0 .. 1, 255 -> "
            "1.09) unless its _Range frame property says full; for a full-range source set it first: "
            "core.std.SetFrameProps(clip, _Range=vs.RANGE_FULL)", where, ", ".join(limited))


def needs_labels(nodes: Sequence[vs.VideoNode]) -> bool:
    """Whether the plugin's copy of the first clip's properties can be wrong for an RGB output: a clip is YUV or GRAY.

    RGB input gives outputs whose properties are the input's and right: no filter is added.
    """
    import vapoursynth as vs

    return any(n.format.color_family != vs.RGB for n in nodes)


def label_outputs(outputs: list[vs.VideoNode], nodes: Sequence[vs.VideoNode]) -> list[vs.VideoNode]:
    """The outputs with properties that agree with them.

    An RGB output made from YUV or GRAY clips carries no ``_Matrix`` / ``_ChromaLocation`` and is full range
    (``_Range``: RGB is full range, so converting it to RGB24 keeps its levels); ``_Transfer`` and ``_Primaries``
    stay (the model keeps the input's transfer and primaries). A GRAY output keeps the input's properties, range
    included, so that converting it back to the input's integer format gives the input's levels.
    """
    import vapoursynth as vs

    if not needs_labels(nodes):
        return outputs
    full = int(getattr(vs, "RANGE_FULL", 1))
    labelled: list[vs.VideoNode] = []
    for out in outputs:
        if out.format.color_family == vs.RGB:
            out = vs.core.std.RemoveFrameProps(out, props=["_ColorRange", *_NOT_RGB])  # _ColorRange: _Range's
            out = vs.core.std.SetFrameProps(out, _Range=full)                           # deprecated twin
        labelled.append(out)
    return labelled
