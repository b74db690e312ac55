"""Prove that tools/sr_resample.py computes what VapourSynth's ``core.resize.Bicubic`` computes.

Run with the project's venv (it has VapourSynth): ``.venv/bin/python tools/check_resample.py [PNG ...]``.
Default pictures: the demo photo and the held-out PNGs tools/train_sr.py exported. For each picture it
compares the 2x Catmull-Rom downscale (the training degradation) and 2x Catmull-Rom / Mitchell upscales,
prints the largest absolute difference, and exits 1 if any is 1e-4 or more.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sr_resample import resize
from sr_vs import clip_of, planes_of, read_png

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4


def main() -> int:
    """Command line; the exit status says whether every difference is below TOLERANCE."""
    import vapoursynth as vs

    paths = [Path(a) for a in sys.argv[1:]] or [
        ROOT / "examples" / "data" / "chelsea.png",
        *sorted((ROOT / "build" / "sr" / "heldout").glob("*.png")),
    ]
    worst = 0.0
    for path in paths:
        hr = read_png(path)
        clip = clip_of(hr)
        h, w = hr.shape[1:]
        cases = [("down 2x catmull-rom", w // 2, h // 2, 0.0, 0.5), ("up 2x catmull-rom", w * 2, h * 2, 0.0, 0.5),
                 ("up 2x mitchell", w * 2, h * 2, 1 / 3, 1 / 3)]
        for name, width, height, b, c in cases:
            theirs = planes_of(vs.core.resize.Bicubic(clip, width, height, filter_param_a=b, filter_param_b=c))
            diff = float(np.abs(resize(hr, width, height, b, c) - theirs).max())
            worst = max(worst, diff)
            print(f"{path.name:14} {name:20} {w}x{h} -> {width}x{height}  max |numpy - core.resize| = {diff:.2e}")
    print(f"worst {worst:.2e} ({'OK' if worst < TOLERANCE else 'FAIL'}: tolerance {TOLERANCE:g})")
    return 0 if worst < TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
