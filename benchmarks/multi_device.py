"""One ``inference`` over two devices against one: steady fps, first-frame time and exactness, side by side.

Here the two devices are Mesa's lavapipe listed twice (``VK_ICD_FILENAMES``): both run on the same CPU cores, so
the ratio shows only what dealing the frames out and joining them back costs (target >= 0.95). On a machine with
two real GPUs the same script shows the scaling (target >= 1.8x on two equal GPUs): set ``--no-lavapipe`` there.

Every round builds fresh nodes and renders each once; rounds alternate who goes first. Exactness: max |output -
float32 reference| on the first frame (ORT_CPU in float32 on the same input), for one device and for two.

    .venv/bin/python benchmarks/multi_device.py [--frames 24] [--rounds 3] [--size 640x360]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LAVAPIPE = Path("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")


def two_lavapipes() -> None:
    """Re-run this script with the Vulkan loader seeing lavapipe twice (it reads the variable once per process)."""
    folder = Path(tempfile.mkdtemp(prefix="vsinfer-icd-"))
    names = [folder / "lvp_a.json", folder / "lvp_b.json"]
    for name in names:
        shutil.copy(LAVAPIPE, name)
    files = ":".join(map(str, names))
    env = os.environ | {"VK_ICD_FILENAMES": files, "VK_DRIVER_FILES": files, "VSINFER_BENCH_CHILD": "1"}
    raise SystemExit(subprocess.call([sys.executable, *sys.argv], env=env))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--no-lavapipe", action="store_true", help="use the machine's own Vulkan devices")
    opts = parser.parse_args()
    if not opts.no_lavapipe and not os.environ.get("VSINFER_BENCH_CHILD"):
        two_lavapipes()

    import numpy as np
    import vapoursynth as vs

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from vsinfer import Backend
    from vsinfer.bench import synthetic_clip
    from vsinfer.timing import planes, render

    width, height = (int(v) for v in opts.size.split("x"))
    model = Path(__file__).resolve().parent.parent / "src" / "vsinfer" / "models" / "demo_2x.onnx"
    clip = synthetic_clip(width, height, "RGBS", length=opts.frames)
    devices = Backend.NCNN.devices_present()
    print(f"model {model.name} (2x), {width}x{height} RGBS, {opts.frames} frames, {opts.rounds} rounds, fresh nodes "
          f"rendered once each, {vs.core.num_threads} requests in flight; Vulkan devices: {list(devices)}")
    if len(devices) < 2:
        raise SystemExit("fewer than two Vulkan devices: nothing to compare")
    reference = planes(Backend.ORT_CPU(fp16=False).inference(clip, model).get_frame(0))
    configs = {"one device": Backend.NCNN(device_id=0), "two devices": Backend.NCNN(device_id=(0, 1))}
    fps: dict[str, list[float]] = {k: [] for k in configs}
    first: dict[str, list[float]] = {k: [] for k in configs}
    error = {k: float(np.max(np.abs(planes(b.inference(clip, model).get_frame(0)) - reference)))
             for k, b in configs.items()}
    for i in range(opts.rounds):
        for name in configs if i % 2 == 0 else reversed(list(configs)):
            done = render(lambda b=configs[name]: b.inference(clip, model), opts.frames)
            fps[name].append(done.frames / done.steady_s)
            first[name].append(done.first_frame_s)
            print(f"  round {i + 1} {name:12s} {fps[name][-1]:7.2f} fps, first frame {first[name][-1]:.3f} s",
                  flush=True)
    for name in configs:
        print(f"{name:12s} {statistics.median(fps[name]):7.2f} fps  first frame "
              f"{statistics.median(first[name]):.3f} s  max error vs float32 {error[name]:.3g}")
    ratio = statistics.median(t / o for t, o in zip(fps["two devices"], fps["one device"], strict=True))
    print(f"two devices / one device: {ratio:.3f} (median of the per-round ratios)")


if __name__ == "__main__":
    main()
