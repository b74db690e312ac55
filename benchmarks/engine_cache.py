"""Resolving a cached engine for a 200 MB ONNX file: vsinfer's memo vs re-reading the file for its CRC.

Both paths end in the same store lookup; the second one recomputes the model's CRC32 from its bytes on
every call (what a cache keyed by a fresh checksum does). A third line resolves from a new process, where
only the on-disk memo can help.

    .venv/bin/python benchmarks/engine_cache.py [--mb 200] [--calls 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vsinfer import Backend
from vsinfer.backends.trt.builder import EngineBuilder
from vsinfer.model import model_info


def big_model(path: Path, megabytes: int) -> Path:
    """A 3x3 conv plus ``megabytes`` of initializer data (an unused table, as large models carry)."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    table = rng.standard_normal(megabytes * (1 << 20) // 4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "W"], ["output"], pads=[1, 1, 1, 1])], "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


CHILD = """
import sys, time
import vapoursynth as vs
from vsinfer import Backend
vs.core.std  # a .vpy script has its core (and plugins) loaded before vsinfer resolves the engine
Backend.TRT_RTX().get_args([])
t = time.perf_counter(); Backend.TRT_RTX(fp16=False).build_engine(sys.argv[1], 3, (64, 64))
print((time.perf_counter() - t) * 1e3)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20)
    opts = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VSINFER_CACHE_DIR"] = str(Path(tmp) / "cache")
        path = big_model(Path(tmp) / "big.onnx", opts.mb)
        size = path.stat().st_size / (1 << 20)
        backend = Backend.TRT_RTX(fp16=False)
        t = time.perf_counter()
        engine = backend.build_engine(path, 3, (64, 64))  # the one real build
        print(f"model {size:.0f} MiB; first call (read + build) {time.perf_counter() - t:.2f} s -> {engine.name}")

        memo, reread = [], []
        builder = EngineBuilder(backend)
        for _ in range(opts.calls):  # interleaved
            t0 = time.perf_counter()
            a = backend.build_engine(path, 3, (64, 64))
            t1 = time.perf_counter()
            info = dataclasses.replace(model_info(path), checksum=zlib.crc32(path.read_bytes()))
            b = builder.build_engine(info, 3, (64, 64), "input")
            t2 = time.perf_counter()
            assert a == b == engine
            memo.append(t1 - t0)
            reread.append(t2 - t1)
        m, r = statistics.median(memo) * 1e3, statistics.median(reread) * 1e3
        print(f"warm cache, same process: vsinfer {m:.3f} ms   re-reading CRC {r:.1f} ms   ratio {m / r:.4f}x")
        fresh = [float(subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                      check=True, env=os.environ).stdout.strip().splitlines()[-1]) for _ in range(3)]
        print(f"warm cache, new process (on-disk memo, core already loaded): vsinfer {statistics.median(fresh):.2f} ms")


if __name__ == "__main__":
    main()
