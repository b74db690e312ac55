"""OpenVINO's compiled-model cache (CACHE_DIR) on the CPU: first-frame time with and without it, side by side.

Each measurement is a fresh Python process (a new VapourSynth core, nothing compiled yet) that builds the node and
renders frame 0. "cached" runs after a warm-up process has filled the cache. Rounds are interleaved.

    .venv/bin/python benchmarks/ov_cache.py [--layers 40] [--size 1280x720] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import vapoursynth as vs
from vsinfer import Backend
model, w, h, cache = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
clip = vs.core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=1)
t1 = time.perf_counter()
out = Backend.OV_CPU(model_cache=cache).inference(clip, model)
t2 = time.perf_counter()
out.get_frame(0)
t3 = time.perf_counter()
print(json.dumps({"graph": t2 - t1, "first_frame": t3 - t1}))
"""


def deep_model(path: Path, layers: int, channels: int = 32) -> Path:
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev, cin = "input", 3
    for i in range(layers):
        cout = 3 if i == layers - 1 else channels
        w = (rng.standard_normal((cout, cin, 3, 3)) * (1 / (3 * cin) ** 0.5)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = "output" if i == layers - 1 else f"t{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [out if i == layers - 1 else f"c{i}"], pads=[1] * 4))
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [f"c{i}"], [out]))
        prev, cin = out, cout
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, "h", "w"]) for n in ("input", "output")]
    graph = helper.make_graph(nodes, "deep", io[:1], io[1:], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def run(model: Path, w: int, h: int, cache: bool, root: str) -> dict[str, float]:
    env = {"VSINFER_CACHE_DIR": root, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(model), str(w), str(h), "1" if cache else "0"],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        model = deep_model(Path(tmp) / "deep.onnx", args.layers)
        root = str(Path(tmp) / "cache")
        run(model, w, h, True, root)  # warm-up: fills the cache
        results: dict[str, list[float]] = {"off": [], "cached": []}
        for _ in range(args.rounds):
            results["off"].append(run(model, w, h, False, root)["first_frame"])
            results["cached"].append(run(model, w, h, True, root)["first_frame"])
        cache_bytes = sum(p.stat().st_size for p in Path(root, "ov").rglob("*") if p.is_file())
    off, on = statistics.median(results["off"]), statistics.median(results["cached"])
    print(f"OV_CPU, {args.layers}-layer conv model, {w}x{h}, {args.rounds} interleaved rounds, fresh process each")
    print(f"first frame without cache: {off:.3f} s  (rounds {[round(v, 3) for v in results['off']]})")
    print(f"first frame with cache:    {on:.3f} s  (rounds {[round(v, 3) for v in results['cached']]})")
    print(f"ratio cached/uncached: {on / off:.3f}   cache size {cache_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
