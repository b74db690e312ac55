"""The pictures the fp16 analysis runs the model on: a synthetic mosaic covering 0..1, and crops of the user's clip."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..sizes import model_multiple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import vapoursynth as vs

    from ..model import ModelInfo

    Picture = npt.NDArray[np.float32]

__all__ = ["CLIP_CROP", "SAMPLE_SIZE", "SAMPLING_VERSION", "Picture", "frame_indices", "synthetic_samples"]

logger = logging.getLogger("vsinfer.fp16")

SAMPLE_SIZE = 256
"""Side of the synthetic sample for models with dynamic spatial dims: a multiple of every size multiple a model
may need (``vsinfer.sizes.MULTIPLES``)."""
CLIP_CROP = 128
"""Largest side of the crops of the user's clip: a frame costs a quarter of the synthetic sample's run."""
SAMPLING_VERSION = 2
"""Bumped whenever the synthetic pictures change."""


def synthetic_samples(channels: int, height: int, width: int) -> list[Picture]:
    """One mosaic covering 0..1: colour gradients, hard edges, flat white around a black square, binary noise.

    Returned as a list of (channels, height, width) float32 pictures. Four quadrants: gradients (every level),
    a 4-pixel checkerboard whose channels alternate (saturated colour edges), a flat white area (the largest
    response of positive weights) with a black square (large steps), and 0/1 noise (random sign patterns, close
    to the worst case of a convolution). One picture keeps the analysis of a deep model to one run.
    """
    import numpy as np

    rng = np.random.default_rng(20261122)
    c = np.arange(channels, dtype=np.float32)[:, None, None]
    y = np.arange(height, dtype=np.float32)[None, :, None] / max(height - 1, 1)
    x = np.arange(width, dtype=np.float32)[None, None, :] / max(width - 1, 1)
    mosaic = np.broadcast_to(np.mod(x * 2 + y + c / max(channels, 1), 1.0), (channels, height, width)).copy()
    h2, w2 = height // 2, width // 2
    blocks = (np.arange(height)[:, None] // 4 + np.arange(width)[None, :] // 4) % 2
    edges = np.where(c % 2 == 0, blocks[None], 1 - blocks[None]).astype(np.float32)
    mosaic[:, :h2, w2:] = edges[:, :h2, w2:]
    mosaic[:, h2:, :w2] = 1.0
    mosaic[:, h2 + (height - h2) // 3: height - (height - h2) // 3, w2 // 3: w2 - w2 // 3] = 0.0
    mosaic[:, h2:, w2:] = rng.random((channels, height - h2, width - w2)) > 0.5
    return [mosaic]


def _sample_shape(
    model: ModelInfo, clips: Sequence[vs.VideoNode], channels: int | None = None
) -> tuple[int, int | None, int | None]:
    """(channels, static height, static width) of the samples.

    The channels are the model's, else ``channels``, else the clips' planes, else 3.
    """
    tensor = model.input()
    channels = tensor.channels or channels or sum(n.format.num_planes for n in clips) or 3
    static_w, static_h = tensor.spatial
    return channels, static_h, static_w


def _crop_side(size: int, static: int | None, multiple: int = 1) -> int | None:
    """The crop side for a clip side ``size``; None when the clip is smaller than the model takes.

    The model's static side, else a multiple of ``max(16, multiple)`` of at most ``max(CLIP_CROP, multiple)``.
    """
    if static is not None:
        return static if size >= static else None
    step = max(16, multiple)
    side = min(size, max(CLIP_CROP, step))
    if side >= step:
        return side - side % step
    return side if multiple == 1 else None


def _sampling_key(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, channels: int | None = None
) -> dict[str, Any]:
    """What the cache key says about the samples; the clip enters by format and size (no frame is read)."""
    channels, height, width = _sample_shape(model, clips, channels)
    synthetic = [channels, height or SAMPLE_SIZE, width or SAMPLE_SIZE]
    key: dict[str, Any] = {"sampling": SAMPLING_VERSION, "synthetic": synthetic}
    if frames and clips:
        key |= {"clip": [[n.format.name, n.width, n.height] for n in clips], "frames": frames}
    return key


def frame_indices(length: int, frames: int) -> list[int]:
    """The middle frames of ``frames`` equal parts of the clip (the middle one for 1: first frames are often black)."""
    return sorted({min(length - 1, (2 * i + 1) * length // (2 * frames)) for i in range(frames)}) if length > 0 else []


def _clip_samples(clips: Sequence[vs.VideoNode], model: ModelInfo, frames: int) -> list[Picture]:
    """Up to ``frames`` frames of the clips, centre-cropped, in the float format the model reads.

    Empty when the clips do not fit the model's input or cannot be rendered now.
    """
    import numpy as np
    import vapoursynth as vs

    channels, static_h, static_w = _sample_shape(model, clips)
    if not clips or sum(n.format.num_planes for n in clips) != channels:
        return []
    width, height = clips[0].width, clips[0].height
    multiple = 1 if static_w or static_h else model_multiple(model).multiple or 1  # the sizes the model takes
    cw, ch = _crop_side(width, static_w, multiple), _crop_side(height, static_h, multiple)
    if cw is None or ch is None:
        return []
    try:
        left, top = (width - cw) // 4 * 2, (height - ch) // 4 * 2  # even offsets suit subsampled formats
        floats = [vs.core.resize.Point(vs.core.std.CropAbs(n, cw, ch, left, top),
                                       format=n.format.replace(sample_type=vs.FLOAT, bits_per_sample=32).id)
                  for n in clips]
        pictures: list[Picture] = []
        for i in frame_indices(min(n.num_frames for n in clips), frames):
            planes: list[Any] = []
            for node in floats:
                frame = node.get_frame(i)
                planes.extend(np.array(frame[p], dtype=np.float32) for p in range(frame.format.num_planes))
            if any(p.shape != (ch, cw) for p in planes):  # subsampled chroma cannot be stacked
                return []
            pictures.append(np.stack(planes))
        return pictures
    except Exception as exc:  # a clip that cannot be rendered now: the synthetic samples still stand
        logger.debug("fp16 guard: frames of the clip could not be read (%s); using synthetic samples only", exc)
        return []


def _samples(
    model: ModelInfo, clips: Sequence[vs.VideoNode], frames: int, channels: int | None = None
) -> tuple[list[Picture], str]:
    """The sample pictures and a description of them."""
    channels, height, width = _sample_shape(model, clips, channels)
    pictures = synthetic_samples(channels, height or SAMPLE_SIZE, width or SAMPLE_SIZE)
    description = f"a synthetic {width or SAMPLE_SIZE}x{height or SAMPLE_SIZE} mosaic"
    real = _clip_samples(clips, model, frames) if frames else []
    if real:
        plural = "s" if len(real) > 1 else ""
        description += f" + {len(real)} frame{plural} ({real[0].shape[2]}x{real[0].shape[1]}) of the clip"
    return pictures + real, description
