"""VapourSynth side of the demo-model tools (run with the project's Python 3.12 venv): pictures in, planes out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import vapoursynth as vs


def read_png(path: Path) -> np.ndarray:
    """An 8-bit picture as float32 RGB planes (3, H, W) in [0, 1], cropped to even H and W."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2].transpose(2, 0, 1))


def clip_of(planes: np.ndarray) -> vs.VideoNode:
    """A one-frame RGBS clip holding (3, H, W) float planes."""
    import vapoursynth as vs

    _, h, w = planes.shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), planes[p])
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def planes_of(clip: vs.VideoNode) -> np.ndarray:
    """Frame 0 of an RGBS clip as (3, H, W) float32."""
    frame = clip.get_frame(0)
    return np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(3)])
