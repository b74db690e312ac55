"""examples/upscaler_helper.py: the reference helper, in-process and under vspipe."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import helper, numpy_helper

from tests.conftest import clip_from_planes, need_plugin
from vsinfer import Backend

EXAMPLE = Path(__file__).parent.parent / "examples" / "upscaler_helper.py"
W, H = 50, 30  # not a multiple of 4: the helper's multiple pads and crops


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upscaler_helper", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def nearest_2x(path: Path, channels: int = 1) -> Path:
    """An exact 2x upscaler: each channel copied 4 times (a 1x1 Conv), then DepthToSpace: nearest neighbour."""
    weight = np.zeros((4 * channels, channels, 1, 1), np.float32)
    for c in range(channels):
        weight[4 * c : 4 * c + 4, c] = 1.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "W"], ["c"]),
         helper.make_node("DepthToSpace", ["c"], ["output"], blocksize=2, mode="CRD")],
        "nearest2x",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, channels, "h", "w"])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, channels, "H", "W"])],
        [numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _source() -> vs.VideoNode:
    planes = np.random.default_rng(5).random((3, H, W), dtype=np.float32)
    rgb = clip_from_planes(planes, vs.RGBS, length=3)
    return vs.core.resize.Bicubic(rgb, format=vs.YUV420P8, matrix_s="709")


def test_yuv_luma_through_the_model_chroma_resized_format_kept(tmp_path: Path) -> None:
    need_plugin("ort")
    up = _example().Upscaler(nearest_2x(tmp_path / "n2x.onnx"), Backend.ORT_CPU(fp16=False), tiles=2, overlap=2,
                             multiple=4)
    src = _source()
    out = up.scale(src)
    assert (out.format.id, out.width, out.height, out.num_frames) == (vs.YUV420P8, 2 * W, 2 * H, 3)
    a, b = src.get_frame(1), out.get_frame(1)
    luma = np.asarray(a[0])
    np.testing.assert_array_equal(np.asarray(b[0]), luma.repeat(2, 0).repeat(2, 1))  # nearest 2x, 8-bit exact
    chroma = vs.core.resize.Spline36(src, 2 * W, 2 * H).get_frame(1)
    for p in (1, 2):
        np.testing.assert_array_equal(np.asarray(b[p]), np.asarray(chroma[p]))


def test_rgb_goes_to_the_model_whole(tmp_path: Path) -> None:
    need_plugin("ort")
    up = _example().Upscaler(nearest_2x(tmp_path / "n2x3.onnx", 3), Backend.ORT_CPU(fp16=False), multiple=8)
    planes = np.random.default_rng(2).random((3, H, W), dtype=np.float32)
    out = up.scale(clip_from_planes(planes, vs.RGBS))
    assert (out.format.id, out.width, out.height) == (vs.RGBS, 2 * W, 2 * H)
    frame = out.get_frame(0)
    for p in range(3):
        np.testing.assert_array_equal(np.asarray(frame[p]), planes[p].repeat(2, 0).repeat(2, 1))


SCRIPT = """
import logging
import sys
sys.path.insert(0, {examples!r})
import vapoursynth as vs
from upscaler_helper import Upscaler

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
core = vs.core
src = core.std.BlankClip(width={w}, height={h}, format=vs.YUV420P8, length=2, color=[0, 128, 128])
src = core.akarin.Expr(src, ["X Y + N + 7 * 255 %", "", ""])
Upscaler({model!r}, tiles=2, overlap=2, multiple=4).scale(src).set_output()
"""


@pytest.mark.slow
def test_runs_under_vspipe_with_the_autoselected_backend(tmp_path: Path) -> None:
    chosen = Backend.autoselect()
    need_plugin(chosen.namespace)
    model = nearest_2x(tmp_path / "n2x.onnx")
    script = tmp_path / "upscale.vpy"
    script.write_text(SCRIPT.format(examples=str(EXAMPLE.parent), w=W, h=H, model=str(model)))
    vspipe = Path(sys.executable).parent / "vspipe"
    env = os.environ | {"PATH": f"{vspipe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(vspipe), "-c", "y4m", str(script), "-"], capture_output=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    header, _, body = result.stdout.partition(b"\n")
    assert {f"W{2 * W}".encode(), f"H{2 * H}".encode(), b"C420"} <= set(header.split())
    frame_size = 2 * W * 2 * H * 3 // 2
    frames = body.split(b"FRAME\n")[1:]
    assert [len(f) for f in frames] == [frame_size, frame_size]
    luma = np.frombuffer(frames[1][: 4 * W * H], np.uint8).reshape(2 * H, 2 * W)
    expected = (np.add.outer(np.arange(H), np.arange(W)) + 1) * 7 % 255
    np.testing.assert_array_equal(luma, expected.repeat(2, 0).repeat(2, 1))
    log = result.stderr.decode(errors="replace")
    assert f"Upscaler: {chosen!r}" in log
    shown = "50x30 frame padded to 52x32 (multiple of 4); 2x2 tiles of 28x20, overlap 2x2; model scale 2x"
    assert f"Upscaler: {shown}" in log
