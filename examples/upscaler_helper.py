"""A model upscaler written the way a helper author writes one on top of vsinfer.

    from upscaler_helper import Upscaler
    clip = Upscaler("2x_luma.onnx", tiles=2, overlap=8, multiple=4).scale(clip)

* ``backend=None`` means ``Backend.autoselect()``: whatever suits the machine the script runs on.
* YUV clips: the model sees the luma only; the chroma is resized to the new size with an ordinary resizer.
  RGB and GRAY clips go to the model whole (a 3- or 1-channel model).
* ``tiles``, ``overlap`` and ``multiple`` go straight to ``inference``: vsinfer computes the tile size, pads a
  frame the model cannot take (not a multiple of ``multiple``) and crops the output back.
* The output has the input's format (an 8-bit YUV420 clip comes back as 8-bit YUV420, twice the size).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import vapoursynth as vs

from vsinfer import Backend
from vsinfer.model import model_info
from vsinfer.tiling import plan

__all__ = ["Upscaler"]

logger = logging.getLogger(__name__)
core = vs.core


@dataclass(frozen=True)
class Upscaler:
    """Run an upscaling ONNX model (luma-only on YUV) and give the result back in the input's format."""

    model: str | os.PathLike[str]
    """The ONNX model: 1 channel for YUV / GRAY clips, 3 for RGB clips."""
    backend: Backend | None = None
    """The vsinfer backend; None picks one for this machine (``Backend.autoselect()``)."""
    tiles: int | tuple[int, int] | None = None
    """Split each frame into this many tiles (per row, per column); None runs the whole frame."""
    overlap: int | tuple[int, int] = 0
    """Context pixels shared by neighbouring tiles (in output pixels for a scaled model; see vsinfer.tiling)."""
    multiple: int | None = None
    """The model's size granularity (e.g. 4 or 8 for U-Nets); frames are padded to it and cropped back."""

    def __post_init__(self) -> None:
        """Pick the backend now, so that the choice is logged once and the same for every clip."""
        if self.backend is None:
            object.__setattr__(self, "backend", Backend.autoselect())
        logger.info("Upscaler: %r", self.backend)

    def scale(self, clip: vs.VideoNode) -> vs.VideoNode:
        """``clip`` upscaled by the model, in ``clip``'s own format."""
        assert self.backend is not None
        fmt = clip.format
        yuv = fmt.color_family == vs.YUV
        source = core.std.ShufflePlanes(clip, 0, vs.GRAY) if yuv else clip
        logger.info("Upscaler: %s", plan(source.width, source.height, overlap=self.overlap, tiles=self.tiles,
                                          multiple=self.multiple, model=model_info(self.model)))

        upscaled = self.backend.inference(source, self.model, self.overlap, tiles=self.tiles, multiple=self.multiple)
        if not yuv:
            return upscaled if upscaled.format.id == fmt.id else core.resize.Point(upscaled, format=fmt.id)

        luma = core.resize.Point(upscaled, format=fmt.replace(color_family=vs.GRAY, subsampling_w=0, subsampling_h=0))
        chroma = core.resize.Spline36(clip, upscaled.width, upscaled.height)
        return core.std.ShufflePlanes([luma, chroma], [0, 1, 2], vs.YUV)
