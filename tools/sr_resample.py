"""Bicubic resampling in numpy that reproduces VapourSynth's ``core.resize.Bicubic`` (zimg) on float clips.

Training runs on Python 3.11, where VapourSynth R81 does not install, so the degradation (a 2x Catmull-Rom
downscale, ``core.resize.Bicubic(clip, w // 2, h // 2, filter_param_a=0, filter_param_b=0.5)``) is computed here.
``tools/check_resample.py`` proves the match on real pictures (run it with the project's 3.12 venv).

The weights follow zimg's filter construction: the kernel is stretched by the scale factor when downscaling
(so a downscale is low-passed), each output pixel's taps are normalized to sum to one, and taps that fall
outside the picture are mirrored back in (``-x`` before the start, ``2 * size - x`` past the end).
"""

from __future__ import annotations

import math

import numpy as np


def bicubic_kernel(x: np.ndarray, b: float, c: float) -> np.ndarray:
    """The Mitchell-Netravali family: b=0, c=0.5 is Catmull-Rom; b=c=1/3 is zimg's default."""
    x = np.abs(x)
    p0, p2, p3 = (6 - 2 * b) / 6, (-18 + 12 * b + 6 * c) / 6, (12 - 9 * b - 6 * c) / 6
    q0, q1, q2, q3 = (8 * b + 24 * c) / 6, (-12 * b - 48 * c) / 6, (6 * b + 30 * c) / 6, (-b - 6 * c) / 6
    near = p0 + x * x * (p2 + x * p3)
    far = q0 + x * (q1 + x * (q2 + x * q3))
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _round_half_up(x: float) -> float:
    return math.floor(x + 0.5)


def weights(src: int, dst: int, b: float, c: float) -> np.ndarray:
    """The (dst, src) matrix that maps one row or column of ``src`` samples to ``dst`` samples."""
    scale = dst / src
    step = min(scale, 1.0)
    support = 2.0 / step
    taps = max(math.ceil(support) * 2, 1)
    m = np.zeros((dst, src), dtype=np.float64)
    for i in range(dst):
        pos = (i + 0.5) / scale
        begin = _round_half_up(pos - taps / 2.0) + 0.5
        xs = begin + np.arange(taps)
        w = bicubic_kernel((xs - pos) * step, b, c)
        w = w / w.sum()
        for x, wt in zip(xs, w, strict=True):
            if x < 0.0:
                real = -x
            elif x >= src:
                real = min(2.0 * src - x, src - 0.5)
            else:
                real = x
            m[i, math.floor(real)] += wt
    return m


def resize(planes: np.ndarray, width: int, height: int, b: float = 0.0, c: float = 0.5) -> np.ndarray:
    """Resize float (..., H, W) planes to (..., height, width) with the bicubic (b, c) filter; float32 out."""
    h, w = planes.shape[-2:]
    out = planes.astype(np.float32)
    if (h, w) == (height, width):
        return out
    wv = weights(h, height, b, c).astype(np.float32)
    wh = weights(w, width, b, c).astype(np.float32)
    out = np.matmul(wv, out)  # (height, h) @ (..., h, w): every column
    return np.asarray(np.matmul(out, wh.T), dtype=np.float32)  # (..., height, w) @ (w, width): every row


def catmull_rom_down2(planes: np.ndarray) -> np.ndarray:
    """The training degradation: halve (..., H, W) planes (H and W even) with Catmull-Rom."""
    h, w = planes.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"planes: expected even height and width, got {h}x{w}")
    return resize(planes, w // 2, h // 2, 0.0, 0.5)
