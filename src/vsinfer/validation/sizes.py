"""The sizes a call asks of a model, checked before any plugin sees it: planes, static sizes, size multiples.

Also what ``overlap="auto"`` and ``multiple="auto"`` become for a model (measured once by ``vsinfer.sizes``).
"""

from __future__ import annotations

import logging
from typing import Any

from .. import sizes
from ..errors import ClipError, ModelError
from ..model import ModelInfo, TensorInfo
from ..tiling import Tiling

__all__ = ["auto_overlap", "check_channels", "check_size_multiple", "check_static_size", "multiple_for"]

logger = logging.getLogger("vsinfer")


def check_channels(model: ModelInfo, tensor: TensorInfo, channels: int, where: str) -> None:
    """The clips' planes are the model input's channels."""
    if tensor.channels is not None and tensor.channels != channels:
        raise ClipError(
            "clips",
            f"{channels} planes in total",
            f"{tensor.channels} planes, the channels of input {tensor.name!r} of {model.path}",
            where=where,
        )


def multiple_for(model: ModelInfo, tensor: TensorInfo, multiple: object, where: str) -> Any:
    """``multiple`` as ``tiling.plan`` takes it: "auto" becomes the model's multiple (None when none is found)."""
    if multiple != "auto":
        return multiple  # None, an int, or a wrong value that tiling.plan names
    if tensor.spatial != (None, None):
        return None  # a static size: checked against the tiles below
    found = sizes.model_multiple(model)
    if found.multiple is None:
        logger.warning("%s: multiple='auto' found no size multiple for %s (%s); padding nothing", where,
                       model.path, found.reason)
    else:
        logger.debug("%s: multiple='auto' is %d for %s", where, found.multiple, model.path)
    return found.multiple


def auto_overlap(model: ModelInfo, whole_frame: bool, where: str) -> tuple[int, int]:
    """``overlap="auto"``: the overlap that makes tiles give the whole frame's picture (none for the whole frame)."""
    if whole_frame:
        return (0, 0)
    context = sizes.model_context(model)
    if context.overlap is None:
        raise ModelError("overlap", "auto", f"a model whose context can be measured; for {model.path}: "
                         f"{context.reason}; run the whole frame (tilesize=None) or give overlap= in pixels "
                         "(tiles then differ from the whole frame near their edges)", where=where)
    logger.debug("%s: overlap='auto' is %d for %s (context %d pixels at %dx)", where, context.overlap, model.path,
                 context.radius, context.scale)
    return (context.overlap, context.overlap)


def check_size_multiple(model: ModelInfo, tensor: TensorInfo, tiles: Tiling, where: str) -> None:
    """Refuse a tile size the model cannot take (found once per model by ``vsinfer.sizes``), naming the multiple."""
    tw, th = tiles.tilesize
    if tensor.spatial != (None, None) or (tw % sizes.MULTIPLES[-1] == 0 and th % sizes.MULTIPLES[-1] == 0):
        return  # a static size is checked on its own; every multiple tried divides 64
    found = sizes.model_multiple(model)
    m = found.multiple
    if m is None or (tw % m == 0 and th % m == 0):
        return
    name = "frame size (tilesize=None)" if tiles.whole_frame else "tilesize"
    also = "" if tiles.whole_frame else f", or a tilesize that is a multiple of {m}"
    raise ModelError(
        name, (tw, th),
        f"sizes that are multiples of {m}: {model.path} takes no other (onnxruntime float32 refuses "
        f"{found.reason}); pass multiple={m} or multiple='auto' to pad the frame and crop the output back{also}",
        where=where,
    )


def check_static_size(model: ModelInfo, tensor: TensorInfo, tiling: Tiling, where: str) -> None:
    """A model with a static input size takes only that size."""
    width, height = tensor.spatial
    tw, th = tiling.tilesize
    if (width is not None and width != tw) or (height is not None and height != th):
        name = "frame size (tilesize=None)" if tiling.whole_frame else "tilesize"
        raise ModelError(
            name,
            (tw, th),
            f"({width}, {height}), the static size of input {tensor.name!r} of {model.path}; "
            f"pass tilesize=({width}, {height})",
            where=where,
        )
