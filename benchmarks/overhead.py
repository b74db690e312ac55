"""vsinfer's overhead over the raw plugin call: fps ratio and graph-construction time.

For ORT_CPU and OV_CPU, the same model and clip are run through ``Backend.X().inference(...)`` and through
``core.<ns>.Model(...)`` with exactly the arguments vsinfer passes, interleaved round by round in one run.

    .venv/bin/python benchmarks/overhead.py [--frames 60] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import vapoursynth as vs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import conv_model
from vsinfer import Backend
from vsinfer.plugins import select_args

core = vs.core


def render(clip: vs.VideoNode) -> float:
    """Frames per second for requesting every frame (prefetching like vspipe)."""
    start = time.perf_counter()
    for _ in clip.frames(close=True):
        pass
    return clip.num_frames / (time.perf_counter() - start)


def raw_call(backend: Backend, clip: vs.VideoNode, model: Path) -> vs.VideoNode:
    args = {"clips": [clip], "network_path": str(model), **backend.get_args([clip])}
    return getattr(core, backend.namespace).Model(**select_args(backend.namespace, args, set()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=6)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = conv_model(Path(tmp) / "conv.onnx", 3, 3, k=3)
        clip = core.std.BlankClip(width=960, height=540, format=vs.RGBS, length=opts.frames, color=[0.2, 0.4, 0.6])
        print(f"model: 3x3 conv 3->3, clip 960x540 RGBS, {opts.frames} frames, {opts.rounds} rounds interleaved")
        for backend in (Backend.ORT_CPU(fp16=False), Backend.OV_CPU(fp16=False)):
            ours, raw, build_ours, build_raw = [], [], [], []
            backend.inference(clip, model)  # warm: model memo, plugin load
            for i in range(opts.rounds):
                t0 = time.perf_counter()
                a = backend.inference(clip, model)
                t1 = time.perf_counter()
                b = raw_call(backend, clip, model)
                t2 = time.perf_counter()
                build_ours.append(t1 - t0)
                build_raw.append(t2 - t1)
                render(a), render(b)  # warm both (sessions are created on the first frame)
                if i % 2:  # alternate who goes first, so drift does not favour one side
                    ours.append(render(a))
                    raw.append(render(b))
                else:
                    raw.append(render(b))
                    ours.append(render(a))
            for _ in range(40):  # graph construction alone, many times: it is sub-millisecond noise otherwise
                t0 = time.perf_counter()
                backend.inference(clip, model)
                t1 = time.perf_counter()
                raw_call(backend, clip, model)
                t2 = time.perf_counter()
                build_ours.append(t1 - t0)
                build_raw.append(t2 - t1)
            name = type(backend).__name__
            ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
            c_ours, c_raw = statistics.median(build_ours) * 1e3, statistics.median(build_raw) * 1e3
            print(f"{name:8s} fps vsinfer {statistics.median(ours):7.2f}  raw {statistics.median(raw):7.2f}  "
                  f"ratio {ratio:.3f}   graph construction {c_ours:.2f} ms vs raw {c_raw:.2f} ms "
                  f"(+{c_ours - c_raw:.2f} ms)")


if __name__ == "__main__":
    main()
