"""vsinfer's overhead over the raw plugin call: steady fps ratio, first-frame time and graph construction.

For ORT_CPU and OV_CPU, the same model and clip run through ``Backend.X().inference(...)`` and through
``core.<ns>.Model(...)`` with exactly the arguments vsinfer passes. Every round builds fresh nodes and renders
each once (VapourSynth caches frames per node: a second pass would time the cache): frame 0 is timed apart
(graph construction and session / compiled-model creation), then the remaining frames with as many requests
in flight as the core has threads, like vspipe. Rounds are interleaved and alternate who goes first.

    .venv/bin/python benchmarks/overhead.py [--frames 60] [--rounds 4]
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
from vsinfer.timing import render

core = vs.core


def raw_call(backend: Backend, clip: vs.VideoNode, model: Path) -> vs.VideoNode:
    args = {"clips": [clip], "network_path": str(model), **backend.get_args([clip])}
    return getattr(core, backend.namespace).Model(**select_args(backend.namespace, args, set()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--graphs", type=int, default=10, help="graph constructions timed without rendering")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = conv_model(Path(tmp) / "conv.onnx", 3, 3, k=3)
        clip = core.std.BlankClip(width=960, height=540, format=vs.RGBS, length=opts.frames, color=[0.2, 0.4, 0.6])
        print(f"model: 3x3 conv 3->3, clip 960x540 RGBS, {opts.frames} frames, {opts.rounds} rounds interleaved, "
              f"fresh nodes rendered once each, {core.num_threads} requests in flight")
        for backend in (Backend.ORT_CPU(fp16=False), Backend.OV_CPU(fp16=False)):
            name = type(backend).__name__
            render(lambda b=backend: b.inference(clip, model), 2)  # warm: plugin load, model memo, fp16 analysis
            fps: dict[str, list[float]] = {"vsinfer": [], "raw": []}
            first: dict[str, list[float]] = {"vsinfer": [], "raw": []}
            makers = {"vsinfer": lambda b=backend: b.inference(clip, model),
                      "raw": lambda b=backend: raw_call(b, clip, model)}
            for i in range(opts.rounds):
                for side in ("vsinfer", "raw") if i % 2 == 0 else ("raw", "vsinfer"):
                    done = render(makers[side], opts.frames)
                    fps[side].append(done.frames / done.steady_s)
                    first[side].append(done.first_frame_s)
                    print(f"  round {i + 1} {name:8s} {side:7s} {fps[side][-1]:7.2f} fps, first frame "
                          f"{first[side][-1] * 1e3:7.1f} ms", flush=True)
            build: dict[str, list[float]] = {"vsinfer": [], "raw": []}
            for _ in range(opts.graphs):  # construction alone (nodes never rendered): sub-millisecond noise otherwise
                for side in ("vsinfer", "raw"):
                    t0 = time.perf_counter()
                    makers[side]()
                    build[side].append(time.perf_counter() - t0)
            ratio = statistics.median(o / r for o, r in zip(fps["vsinfer"], fps["raw"], strict=True))
            c_ours, c_raw = (statistics.median(build[s]) * 1e3 for s in ("vsinfer", "raw"))
            f_ours, f_raw = (statistics.median(first[s]) * 1e3 for s in ("vsinfer", "raw"))
            print(f"{name:8s} steady fps vsinfer {statistics.median(fps['vsinfer']):7.2f}  raw "
                  f"{statistics.median(fps['raw']):7.2f}  ratio {ratio:.3f}   first frame {f_ours:.1f} ms vs raw "
                  f"{f_raw:.1f} ms   graph construction {c_ours:.2f} ms vs raw {c_raw:.2f} ms "
                  f"(+{c_ours - c_raw:.2f} ms)")


if __name__ == "__main__":
    main()
