"""NCNN fp16 against float32 on this machine's Vulkan device, side by side in one run, with the error of each.

What ``Backend.NCNN()``'s default precision rests on: on a CPU Vulkan device (Mesa's lavapipe / llvmpipe,
SwiftShader) fp16 is emulated, so the default there is float32; on a GPU it stays fp16. Three configurations run
on the shipped demo model (``src/vsinfer/models/demo_2x.onnx``): ``NCNN(fp16=True)``, ``NCNN(fp16=False)`` and
``NCNN()`` (the default: by device). Each run builds a fresh node (the plugin loads the network again) and renders
frames 0..N-1 once; frame 0 (graph construction, network load, first inference) is timed apart from the steady
frames. Rounds alternate the order. Printed beside every speed: the largest difference of frame 0 from
onnxruntime's float32 output (``ORT_CPU(fp16=False)``) on the same clip. The ratio fp16 / float32 is taken per
round (both measured in that round) and its median printed.

    .venv/bin/python benchmarks/ncnn_precision.py [--size 320x180] [--frames 6] [--rounds 2] [--model PATH]

Small frames and few frames by default: lavapipe runs on the CPU cores, and a shared machine has few of them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180", help="frame size WxH (default 320x180)")
    parser.add_argument("--frames", type=int, default=6, help="frames per run, frame 0 included (default 6)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--model", type=Path, default=DEMO, help="ONNX model (default: the shipped demo model)")
    opts = parser.parse_args()
    if opts.frames < 2 or opts.rounds < 1:
        parser.error("--frames must be >= 2 (frame 0 is timed apart) and --rounds >= 1")

    import numpy as np
    import vapoursynth as vs

    sys.path.insert(0, str(ROOT / "src"))
    from vsinfer import Backend
    from vsinfer.backends.ncnn import vulkan_device
    from vsinfer.bench import synthetic_clip
    from vsinfer.device import cpu
    from vsinfer.plugins import plugin_version
    from vsinfer.timing import planes, render

    width, height = (int(v) for v in opts.size.lower().split("x"))
    device = vulkan_device(0)
    if device is None:
        raise SystemExit("core.ncnn sees no Vulkan device 0 (install a Vulkan driver, e.g. mesa-vulkan-drivers)")
    machine = cpu()
    half_flags = sorted(machine.flags & {"avx512_fp16", "amx_fp16", "avx512_bf16", "amx_bf16", "f16c"})
    print(f"CPU: {machine.model}, {machine.cores} cores available, {', '.join(half_flags) or 'no half-float flags'}")
    print(f"Vulkan device 0: {device.name} ({'a CPU Vulkan device' if device.on_cpu else 'a GPU'}); core.ncnn "
          f"{plugin_version('ncnn')}; {vs.core.num_threads} VapourSynth threads")
    print(f"model {opts.model.name}, {width}x{height} RGBS, {opts.frames} frames per run, {opts.rounds} rounds, "
          "a fresh node per run")

    clip = synthetic_clip(width, height, "RGBS", length=opts.frames)
    reference = planes(Backend.ORT_CPU(fp16=False).inference(clip, opts.model).get_frame(0))
    configs = {"fp16": Backend.NCNN(fp16=True), "float32": Backend.NCNN(fp16=False), "default": Backend.NCNN()}
    error: dict[str, float] = {}
    for name, backend in configs.items():  # also runs the first-use probe, so no timed run pays for it
        out = planes(backend.inference(clip, opts.model).get_frame(0))
        error[name] = float(np.max(np.abs(out - reference))) if np.all(np.isfinite(out)) else float("nan")
    fps: dict[str, list[float]] = {k: [] for k in configs}
    first: dict[str, list[float]] = {k: [] for k in configs}
    for i in range(opts.rounds):
        order = list(configs) if i % 2 == 0 else list(reversed(configs))
        for name in order:
            done = render(lambda b=configs[name]: b.inference(clip, opts.model), opts.frames)
            fps[name].append(done.frames / done.steady_s)
            first[name].append(done.first_frame_s)
            print(f"  round {i + 1} {name:8s} {fps[name][-1]:7.3f} fps  first frame {first[name][-1]:6.3f} s",
                  flush=True)

    print(f"\n{'configuration':28s} {'steady fps':>10s} {'first frame':>12s} {'max |out - ORT float32|':>24s}")
    for name, backend in configs.items():
        computes, why = backend.effective_precision()
        label = f"NCNN({'' if backend.fp16 is None else f'fp16={backend.fp16}'})"
        print(f"{label:28s} {statistics.median(fps[name]):10.3f} {statistics.median(first[name]):11.3f}s "
              f"{error[name]:24.3g}   computes {computes}")
        if why:
            print(f"{'':28s} why: {why}")
    speed = [h / f for h, f in zip(fps["fp16"], fps["float32"], strict=True)]
    first_ratio = [h / f for h, f in zip(first["fp16"], first["float32"], strict=True)]
    same = [d / f for d, f in zip(fps["default"], fps["float32"], strict=True)]
    print(f"default / float32, per round: steady fps {', '.join(f'{r:.3f}' for r in same)} (on a device where both "
          "make the same plugin call, this spread is the run's noise)")
    exact = error["float32"]
    worse = error["fp16"] / exact if exact > 0 else float("inf")
    print(f"\nfp16 / float32, per round: steady fps {', '.join(f'{r:.3f}' for r in speed)} (median "
          f"{statistics.median(speed):.3f}); first frame time {', '.join(f'{r:.3f}' for r in first_ratio)} "
          f"(median {statistics.median(first_ratio):.3f})")
    print(f"fp16 error / float32 error vs ORT float32: {worse:.3g}x ({error['fp16']:.3g} vs {exact:.3g})")
    default = configs["default"]
    print(f"NCNN() here runs fp16={default.fp16_on()} ({default.precision()})")


if __name__ == "__main__":
    main()
