"""The pictures a quantization is calibrated and judged on: crops of frames spread over the user's clip.

Calibration and judging never share a frame: the held-out frames are spread evenly among the calibration frames.
Crops (not whole frames) keep the calibration and the sensitivity pass quick while still coming from the user's own
content; a crop is placed differently in each frame, so together they cover the picture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ClipError
from ..fp16.samples import frame_indices
from ..sizes import model_multiple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import vapoursynth as vs

    from ..model import ModelInfo

    Picture = npt.NDArray[np.float32]

__all__ = ["CROP", "PROBE_CROP", "Pictures", "crop_side", "held_out_count", "read_pictures"]

CROP = 256
"""Largest side of a calibration or judging crop (a 4x model's output is then 1024 pixels a side)."""
PROBE_CROP = 64
"""Largest side of the crop the per-node sensitivity pass reads every intermediate tensor of."""


def held_out_count(frames: int) -> int:
    """How many frames are held out for judging when ``frames`` calibrate (half as many, at least 4)."""
    return max(4, frames // 2)


@dataclass(frozen=True)
class Pictures:
    """Crops of the clip, in the model's input layout (channels, height, width), float32."""

    calibration: tuple[Picture, ...]
    """What the quantization ranges are measured on."""
    held_out: tuple[Picture, ...]
    """What the quantized model is judged on against float32 (frames the calibration never saw)."""
    calibration_frames: tuple[int, ...]
    """The frame numbers of the calibration crops."""
    held_out_frames: tuple[int, ...]
    """The frame numbers of the judging crops."""
    probe: Picture
    """A small crop of the first held-out crop: what the sensitivity pass reads every tensor of."""
    digest: str
    """SHA-256 of every crop's values, in order: the cache key's view of the content."""


def crop_side(size: int, static: int | None, multiple: int, largest: int = CROP) -> int | None:
    """The crop side for a clip side ``size``; None when the clip is smaller than the model takes.

    The model's static side, else a multiple of the model's multiple (and of 16) of at most ``largest``.
    """
    if static is not None:
        return static if size >= static else None
    step = max(16, multiple)
    side = min(size, max(largest, step))
    return side - side % step if side >= step else None


def read_pictures(clips: Sequence[vs.VideoNode], model: ModelInfo, frames: int, where: str) -> Pictures:
    """Crops of ``frames`` calibration frames and ``held_out_count(frames)`` others, spread over ``clips``."""
    import numpy as np
    import vapoursynth as vs

    length = min(n.num_frames for n in clips)
    wanted = frames + held_out_count(frames)
    indices = frame_indices(length, wanted)
    if len(indices) < 2:
        raise ClipError("clips", f"{length} frame{'s' if length != 1 else ''}", "at least 2 frames: one to calibrate "
                        "on and one to judge the quantized model on", where=where)
    count = max(1, round(len(indices) * held_out_count(frames) / wanted))  # fewer frames: the same share held out
    held = [indices[int((k + 0.5) * len(indices) / count)] for k in range(count)]  # evenly among the calibration
    calibration = [i for i in indices if i not in held]
    static_w, static_h = model.input().spatial
    multiple = 1 if static_w or static_h else model_multiple(model).multiple or 1
    width, height = clips[0].width, clips[0].height
    cw, ch = crop_side(width, static_w, multiple), crop_side(height, static_h, multiple)
    if cw is None or ch is None:
        need = f"{static_w}x{static_h}" if static_w or static_h else f"a multiple of {max(16, multiple)}"
        raise ClipError("clips", f"{width}x{height}", f"a frame at least {need} pixels", where=where)
    floats = [vs.core.resize.Point(n, format=n.format.replace(sample_type=vs.FLOAT, bits_per_sample=32).id)
              for n in clips]

    def crop(index: int, position: int) -> Picture:
        planes: list[Any] = []
        for node in floats:
            frame = node.get_frame(index)
            planes.extend(np.asarray(frame[p], dtype=np.float32) for p in range(frame.format.num_planes))
        picture = np.stack(planes)
        # a different place in each picture (golden-ratio steps), so that the crops cover the frame between them
        left = int((width - cw) * ((position * 0.618034) % 1.0)) // 2 * 2
        top = int((height - ch) * ((position * 0.381966 + 0.5) % 1.0)) // 2 * 2
        return np.ascontiguousarray(picture[:, top:top + ch, left:left + cw])

    calib = tuple(crop(i, k) for k, i in enumerate(calibration))
    judged = tuple(crop(i, k + len(calibration)) for k, i in enumerate(held))
    digest = hashlib.sha256()
    for picture in (*calib, *judged):
        digest.update(picture.tobytes())
    pw, ph = crop_side(cw, static_w, multiple, PROBE_CROP), crop_side(ch, static_h, multiple, PROBE_CROP)
    probe = judged[0][:, :ph or ch, :pw or cw]
    return Pictures(calib, judged, tuple(calibration), tuple(held), probe, digest.hexdigest())
