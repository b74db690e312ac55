"""How long the fp16 guard's range analysis takes on a 200-layer model at 256x256, and what a cache hit costs.

Prints, measured side by side in one run:
  - one plain float32 onnxruntime pass over the same samples (the floor: the analysis must run the model),
  - the analysis itself (cold: instrumented model on the synthetic 256x256 mosaic, block list, stored as JSON),
  - a second call in the same process (memo) and a call in a "new process" (memo cleared: the store's JSON),
  - apply_guard cold with a 1080p clip (one frame of it joins the samples; the ORT model is converted), then on a
    cache hit, for ORT_CPU (converted model found in the store) and TRT_RTX (block list only).

Usage: .venv/bin/python benchmarks/fp16_analysis.py [--layers 200] [--channels 16] [--size 256]
       .venv/bin/python benchmarks/fp16_analysis.py --picture docs/images/fp16-before-after.png
(--picture draws the docs' before / after picture with the real ORT_CPU plugin instead of timing.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def deep_model(path: Path, layers: int, channels: int) -> Path:
    """``layers`` 3x3 Convs (+ Relu) with one stretch of activations past float16's range in the middle."""
    rng = np.random.default_rng(0)
    nodes, weights = [], {}
    x, cin = "input", 3
    hot, cool = layers // 2, layers // 2 + 3  # 3 layers whose values reach ~1e5
    for i in range(layers):
        cout = 3 if i == layers - 1 else channels
        w = rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))  # He: values stay O(1) through Relus
        if i == hot:
            w *= 6000.0
        if i == cool:
            w /= 6000.0
        weights[f"W{i}"] = w.astype(np.float32)
        out = "output" if i == layers - 1 else f"c{i}"
        nodes.append(helper.make_node("Conv", [x, f"W{i}"], [out], pads=[1] * 4, name=f"/layer{i}/Conv"))
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"], name=f"/layer{i}/Relu"))
            x = f"r{i}"
        cin = cout
    graph = helper.make_graph(nodes, "deep", [helper.make_tensor_value_info("input", 1, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", 1, [1, 3, "h", "w"])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def picture_model(path: Path, gain: float = 9e4) -> Path:
    """Amplify by ``gain`` (a bright pixel goes past 65504), then divide by it: the output is the input picture."""
    eye = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    nodes = [helper.make_node("Conv", ["input", "W0"], ["big"], name="/amplify/Conv"),
             helper.make_node("Conv", ["big", "W1"], ["output"], name="/restore/Conv")]
    graph = helper.make_graph(nodes, "amplify", [helper.make_tensor_value_info("input", 1, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", 1, [1, 3, "h", "w"])],
                              [numpy_helper.from_array(eye * np.float32(gain), "W0"),
                               numpy_helper.from_array(eye / np.float32(gain), "W1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def scene(width: int = 320, height: int = 240) -> np.ndarray:
    """A small landscape drawn with Pillow, as (3, H, W) float32 in 0..1."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(40 + 120 * t), int(90 + 110 * t), int(200 + 40 * t)))
    draw.ellipse((220, 30, 280, 90), fill=(255, 240, 180))
    draw.polygon([(0, 240), (0, 170), (80, 120), (170, 180), (250, 140), (320, 190), (320, 240)], fill=(40, 110, 50))
    draw.rectangle((40, 180, 110, 230), fill=(200, 60, 40))
    draw.polygon([(35, 180), (75, 150), (115, 180)], fill=(120, 40, 30))
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255


def draw_picture(out: Path) -> None:
    """source | ORT_CPU(fp16_guard=False) | ORT_CPU(): the real plugin's output on an overflowing model."""
    import vapoursynth as vs
    from PIL import Image, ImageDraw

    from vsinfer import Backend

    folder = Path(os.environ["VSINFER_CACHE_DIR"])
    model = picture_model(folder / "amplify.onnx")
    planes = scene()
    c, h, w = planes.shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        frame = f.copy()
        for p in range(c):
            np.asarray(frame[p])[:] = planes[p]
        return frame

    clip = vs.core.std.ModifyFrame(blank, blank, fill)
    panels = [("source = the float32 output", planes)]
    for label, backend in (("ORT_CPU(fp16_guard=False)", Backend.ORT_CPU(fp16_guard=False)),
                           ("ORT_CPU() (guard on)", Backend.ORT_CPU())):
        frame = backend.inference(clip, model).get_frame(0)
        result = np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(c)])
        bad = ~np.isfinite(result)
        error = np.abs(np.where(bad, 0, result) - planes).max()
        print(f"{label}: {bad.mean():.0%} of the values are inf / NaN" + ("" if bad.all() else
                                                                         f"; max error of the rest {error:.2g}"))
        verdict = "every value NaN (shown black)" if bad.all() else f"max error {error:.0e}"
        panels.append((f"{label}: {verdict}", np.nan_to_num(result, nan=0.0)))
    canvas = Image.new("RGB", (w * len(panels) + 8 * (len(panels) - 1), h + 22), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (label, image) in enumerate(panels):
        rgb = (np.clip(image, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        canvas.paste(Image.fromarray(rgb), (i * (w + 8), 22))
        draw.text((i * (w + 8) + 4, 5), label, fill=(0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    print(f"wrote {out}")


def timed(label: str, fn, floor: float | None = None):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    ratio = f"  ({seconds / floor:.2f}x the float32 pass)" if floor else ""
    print(f"{label:<58} {seconds * 1000:10.1f} ms{ratio}")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--picture", type=Path, help="write the docs' before / after picture here and stop")
    args = parser.parse_args()
    os.environ["VSINFER_CACHE_DIR"] = tempfile.mkdtemp(prefix="vsinfer-fp16-bench-")
    if args.picture:
        draw_picture(args.picture)
        return

    import onnxruntime as ort
    import vapoursynth as vs

    import vsinfer.fp16.analysis as fp16
    import vsinfer.fp16.samples as fp16_samples
    from vsinfer import Backend
    from vsinfer.backends.guard import apply_guard
    from vsinfer.model import model_info

    fp16_samples.SAMPLE_SIZE = args.size
    path = deep_model(Path(os.environ["VSINFER_CACHE_DIR"]) / "deep.onnx", args.layers, args.channels)
    model = model_info(path)
    samples = fp16_samples.synthetic_samples(3, args.size, args.size)
    print(f"model: {args.layers} Conv layers (+ Relu), {args.channels} channels; samples: {len(samples)} x "
          f"{args.size}x{args.size}; onnxruntime {ort.__version__}, {os.cpu_count()} CPUs", file=sys.stderr)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, floor = timed("float32 pass over the samples (session + runs)",
                     lambda: [session.run(None, {"input": s[None]}) for s in samples])
    session = None
    analysis, cold = timed("analysis, cold (instrumented run + block list + store)", lambda: fp16.analyse(model),
                           floor)
    timed("analysis, second call (memo)", lambda: fp16.analyse(model), floor)
    fp16._memo.clear()
    hit, _ = timed("analysis, new process (store: one JSON read)", lambda: fp16.analyse(model), floor)
    assert hit.cached and hit.block_list == analysis.block_list
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=1920, height=1080, length=10)
    timed("apply_guard ORT_CPU, cold (mosaic + 1 clip frame, conversion)",
          lambda: apply_guard(Backend.ORT_CPU(), model, [clip]), floor)
    fp16._memo.clear()
    timed("apply_guard ORT_CPU, cache hit (analysis + converted model)",
          lambda: apply_guard(Backend.ORT_CPU(), model, [clip]))
    fp16._memo.clear()
    timed("apply_guard TRT_RTX, cache hit", lambda: apply_guard(Backend.TRT_RTX(), model, [clip]))
    timed("apply_guard ORT_CPU(fp16=False): nothing to do", lambda: apply_guard(Backend.ORT_CPU(fp16=False),
                                                                                    model, [clip]))
    print(f"max |value| {analysis.max_abs:.4g}; {len(analysis.block_list)} nodes kept in float32: "
          f"{', '.join(analysis.block_list)}")
    print(f"cold analysis / float32 pass: {cold / floor:.2f}")


if __name__ == "__main__":
    main()
