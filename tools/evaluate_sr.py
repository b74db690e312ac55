"""Print the demo model's PSNR table: bicubic, the old hand-made filter and the trained net, on held-out pictures.

Run with the project's venv (VapourSynth, vsinfer and the vs-mlrt plugins):

    .venv/bin/python tools/evaluate_sr.py [--backend ORT_CPU] [--model M.onnx] [PNG ...]

Default pictures: the held-out PNGs tools/train_sr.py exported to build/sr/heldout (``.venv-train/bin/python
tools/train_sr.py --export-heldout`` writes them without training). Each picture is downscaled 2x with
``core.resize.Bicubic(filter_param_a=0, filter_param_b=0.5)`` (Catmull-Rom, which is also R81's default),
then upscaled back by: Catmull-Rom, Mitchell-Netravali (b = c = 1/3), the hand-made filter
(scripts/make_demo_model.py) and the trained model, the last two through vsinfer. The score is the PSNR of
BT.709 luma (Y = 0.2126 R + 0.7152 G + 0.0722 B) against the original, all pictures clipped to [0, 1]. The demo
photo (a crop of the held-out chelsea) gets its own row, outside the mean. The table is Markdown, on stdout.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from sr_vs import clip_of, planes_of, read_png

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
DEMO_PHOTO = ROOT / "examples" / "data" / "chelsea.png"


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """Luma PSNR in dB of two (3, H, W) RGB pictures, both clipped to [0, 1]."""
    weights = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)[:, None, None]
    ya = (np.clip(a, 0, 1) * weights).sum(0)
    yb = (np.clip(b, 0, 1) * weights).sum(0)
    return 10 * math.log10(1.0 / float(np.mean((ya - yb) ** 2)))


def scores(path: Path, backend: object, handmade: Path, model: Path) -> tuple[float, float, float, float]:
    """(Catmull-Rom, Mitchell, hand-made, trained) luma PSNR for one picture."""
    import vapoursynth as vs

    hr = read_png(path)
    h, w = hr.shape[1:]
    lr = vs.core.resize.Bicubic(clip_of(hr), w // 2, h // 2, filter_param_a=0, filter_param_b=0.5)
    outs = [
        vs.core.resize.Bicubic(lr, w, h, filter_param_a=0, filter_param_b=0.5),
        vs.core.resize.Bicubic(lr, w, h, filter_param_a=1 / 3, filter_param_b=1 / 3),
        backend.inference(lr, handmade),  # type: ignore[attr-defined]
        backend.inference(lr, model),  # type: ignore[attr-defined]
    ]
    cr, mitchell, hand, ours = (psnr_y(planes_of(o), hr) for o in outs)
    return cr, mitchell, hand, ours


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pictures", nargs="*", type=Path)
    parser.add_argument("--backend", default="ORT_CPU", help="a vsinfer Backend name, default fields (ORT_CPU: fp32)")
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_demo_model
    import onnx

    from vsinfer import Backend

    pictures = args.pictures or sorted((ROOT / "build" / "sr" / "heldout").glob("*.png"))
    if not pictures:
        raise SystemExit("no pictures: run `.venv-train/bin/python tools/train_sr.py --export-heldout` first")
    backend = getattr(Backend, args.backend)()
    with tempfile.TemporaryDirectory() as tmp:
        handmade = Path(tmp) / "demo_2x_handmade.onnx"
        onnx.save(make_demo_model.build(), handmade)
        rows = [(p.stem, scores(p, backend, handmade, args.model)) for p in pictures]
        demo = scores(DEMO_PHOTO, backend, handmade, args.model) if DEMO_PHOTO.is_file() else None

    def line(name: str, s: tuple[float, float, float, float]) -> str:
        cr, mitchell, hand, ours = s
        return (f"| {name} | {cr:.2f} | {mitchell:.2f} | {hand:.2f} ({hand - cr:+.2f}) | "
                f"{ours:.2f} ({ours - cr:+.2f}) |")

    print(f"Luma PSNR (dB), 2x Catmull-Rom downscale then 2x upscale; models through vsinfer {args.backend}; "
          f"model {args.model.name} ({args.model.stat().st_size} bytes)\n")
    print("| picture | bicubic (Catmull-Rom) | Mitchell | hand-made | trained |")
    print("|---|---:|---:|---:|---:|")
    for name, s in rows:
        print(line(name, s))
    mean = tuple(float(np.mean([s[i] for _, s in rows])) for i in range(4))
    print(line(f"**mean of {len(rows)}**", mean))  # type: ignore[arg-type]
    if demo is not None:
        print(line(f"demo photo ({DEMO_PHOTO.name}, crop of chelsea; not in the mean)", demo))
    print(f"\ntrained - bicubic: {mean[3] - mean[0]:+.2f} dB; trained - hand-made: {mean[3] - mean[2]:+.2f} dB")


if __name__ == "__main__":
    main()
