"""Write out/compare.png: the same crop of a plain bicubic upscale and of the model's output, side by side.

Runs examples/upscale.vpy (the script vspipe runs in `make demo`) in this process, takes its source photo,
its upscaled clip and its backend, renders frame 0 and labels the two halves with Pillow:

    python scripts/compare.py [--out out/compare.png] [--box X Y W H]

The crop box is in output pixels; each half is shown at 2x with square pixels (nearest neighbour) so the
difference is visible on screen. Logging (the backend, the file written) goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import vapoursynth as vs
    from PIL.Image import Image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "upscale.vpy"
log = logging.getLogger("compare")


def rgb_frame(clip: vs.VideoNode, n: int = 0) -> np.ndarray:
    """Frame ``n`` of an RGBS clip as (H, W, 3) uint8."""
    frame = clip.get_frame(n)
    planes = np.stack([np.asarray(frame[p]) for p in range(3)], axis=-1)
    return np.asarray(np.clip(np.round(planes * 255.0), 0, 255), dtype=np.uint8)


def panel(rgb: np.ndarray, box: tuple[int, int, int, int], zoom: int, label: str) -> Image:
    """The crop ``box`` (x, y, w, h) of ``rgb``, enlarged ``zoom`` times, with ``label`` in a bar above it."""
    from PIL import Image, ImageDraw, ImageFont

    x, y, w, h = box
    crop = Image.fromarray(rgb[y : y + h, x : x + w]).resize((w * zoom, h * zoom), Image.Resampling.NEAREST)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=18)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        font = ImageFont.load_default()
    bar = 30
    out = Image.new("RGB", (crop.width, crop.height + bar), "white")
    out.paste(crop, (0, bar))
    ImageDraw.Draw(out).text((8, 5), label, fill="black", font=font)
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "compare.png")
    parser.add_argument("--box", type=int, nargs=4, default=(180, 120, 240, 180), metavar=("X", "Y", "W", "H"),
                        help="crop of the upscaled frame, in output pixels")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")

    import vapoursynth as vs
    from PIL import Image

    script = runpy.run_path(str(SCRIPT), run_name="__vapoursynth__")
    src: vs.VideoNode = script["src"]
    up: vs.VideoNode = script["up"]
    backend = type(script["backend"]).__name__
    model = Path(str(script["model"])).name
    x, y, w, h = args.box
    if x < 0 or y < 0 or x + w > up.width or y + h > up.height:
        raise SystemExit(f"--box: {args.box} does not fit in the {up.width}x{up.height} output")
    # Plain bicubic: Catmull-Rom (b=0, c=0.5), the sharper of the two usual bicubics.
    bicubic = vs.core.resize.Bicubic(src, up.width, up.height, filter_param_a=0, filter_param_b=0.5)
    left = panel(rgb_frame(bicubic), (x, y, w, h), args.zoom, "bicubic (Catmull-Rom)")
    right = panel(rgb_frame(up), (x, y, w, h), args.zoom, f"vsinfer {backend} {model}")
    gap = 8
    out = Image.new("RGB", (left.width + gap + right.width, left.height), "white")
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.save(args.out, optimize=True)
    log.info("wrote %s: %dx%d crop at (%d, %d) of the %dx%d output, %dx zoom, backend %s",
             args.out, w, h, x, y, up.width, up.height, args.zoom, backend)


if __name__ == "__main__":
    main()
