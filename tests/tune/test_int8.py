"""``int8=True`` on the CPU backends, and autotune's INT8 variants (real ort / ov runs; no timed assertions)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs

import vsinfer.quantize as quantize_module
import vsinfer.tune.search as search_module
from tests.conftest import need_plugin, planes_of
from vsinfer import Backend
from vsinfer.device import CPU
from vsinfer.errors import ClipError, ConfigError, QualityError
from vsinfer.model import model_info, quantized
from vsinfer.timing import Timing
from vsinfer.tune import tune

DEMO = Path(__file__).parents[2] / "src" / "vsinfer" / "models" / "demo_2x.onnx"
VNNI = CPU("a CPU with VNNI", 2, frozenset({"avx512f", "avx512_vnni"}))
NO_INT8 = CPU("a CPU without INT8 arithmetic", 2, frozenset({"avx2"}))
BOUND = 30.0
"""The bound the demo model passes on every CPU kind: onnxruntime's INT8 kernels saturate without VNNI (the demo
measured 44.5 dB with VNNI, 37.2 dB on an emulated AVX2-only CPU), so the default 40 dB holds only on some."""


def content(w: int = 96, h: int = 64, length: int = 12, seed: int = 0) -> vs.VideoNode:
    """Smooth gradients with sparse bright dots that move from frame to frame (pictures, not noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for n in range(length):
        rng = np.random.default_rng(seed * 1000 + n)
        planes = [np.clip(0.5 + 0.4 * np.sin((x * (p + 1) + n * 7) / 17.0) * np.cos((y + n * 3) / 11.0)
                          + (rng.random((h, w)) > 0.97) * 0.3, 0, 1).astype(np.float32) for p in range(3)]
        frames.append(np.stack(planes))
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=length)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][p])
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every quantization actually made (not read back)."""
    made: list[str] = []
    real = quantize_module.qdq.search

    def spy(source: Path, *args: Any, **kwargs: Any) -> Any:
        made.append(source.name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(quantize_module, "search", spy)
    return made


@pytest.mark.parametrize("family", ["ov", "ort"])
def test_int8_runs_the_quantized_copy_and_reads_it_back(family: str, searches: list[str],
                                                       isolated_cache: Path) -> None:
    need_plugin(family)
    make = Backend.OV_CPU if family == "ov" else Backend.ORT_CPU
    clip = content()
    exact = planes_of(make(fp16=False).inference(clip, DEMO), 5)
    out = make(fp16=False, int8=True, int8_min_psnr=BOUND).inference(clip, DEMO)
    assert searches == ["demo_2x.onnx"]
    got = planes_of(out, 5)
    assert got.shape == exact.shape
    assert not np.array_equal(got, exact)  # another model ran: not the float one
    assert psnr(got, exact) >= BOUND - 5  # judged >= BOUND on held-out crops by onnxruntime; the plugin is close
    stored = list((isolated_cache / "onnx").glob("*-int8-*.onnx"))
    assert len(stored) == 1 and quantized(model_info(stored[0]))
    make(fp16=False, int8=True, int8_min_psnr=BOUND).inference(clip, DEMO).get_frame(0)
    assert searches == ["demo_2x.onnx"]  # the second call read it back


def test_int8_off_never_quantizes(searches: list[str]) -> None:
    need_plugin("ort")
    Backend.ORT_CPU().inference(content(), DEMO).get_frame(0)
    assert searches == []


def test_below_the_bound_is_refused_and_a_fallback_runs(searches: list[str]) -> None:
    need_plugin("ort")
    clip = content()
    with pytest.raises(QualityError) as caught:
        Backend.ORT_CPU(int8=True, int8_min_psnr=100).inference(clip, DEMO)
    assert caught.value.bound == 100 and caught.value.psnr_db < 100
    assert f"{caught.value.psnr_db:.1f} dB" in str(caught.value)
    out = Backend.ORT_CPU(int8=True, int8_min_psnr=100).inference(clip, DEMO, fallback=Backend.ORT_CPU())
    np.testing.assert_allclose(planes_of(out), planes_of(Backend.ORT_CPU().inference(clip, DEMO)), atol=1e-5)
    assert len(searches) == 1  # refused again from the stored verdict, not quantized twice


@pytest.mark.parametrize(("fields", "name"), [
    ({"int8": "yes"}, "int8"),
    ({"int8_min_psnr": 5}, "int8_min_psnr"),
    ({"int8_min_psnr": float("nan")}, "int8_min_psnr"),
    ({"int8_min_psnr": True}, "int8_min_psnr"),
])
def test_int8_fields_are_checked(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Backend.OV_CPU(**fields)
    assert caught.value.parameter == name


def test_int8_needs_a_clip_to_calibrate_on(searches: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Backend.OV_CPU(int8=True).prebuild(DEMO, 3, 64)
    assert caught.value.parameter == "int8" and "vsinfer quantize" in str(caught.value)
    assert searches == []


def test_int8_on_a_yuv_clip_is_a_clip_error(searches: list[str]) -> None:
    need_plugin("ov")
    yuv = vs.core.std.BlankClip(width=96, height=64, format=vs.YUV444PS, length=4)
    with pytest.raises(ClipError) as caught:
        Backend.OV_CPU(int8=True).inference(yuv, DEMO)
    assert "YUV444PS" in str(caught.value) and "RGB or GRAY" in str(caught.value)
    assert searches == []


# -- autotune ---------------------------------------------------------------------------------------------------
def int8_labels(timings: Any) -> list[str]:
    return [str(t.trial) for t in timings if t.trial.backend.quality_bound() is not None]


@pytest.mark.parametrize(("machine", "considered"), [(VNNI, True), (NO_INT8, False)])
def test_autotune_considers_int8_only_where_the_cpu_has_it(machine: CPU, considered: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")
    monkeypatch.setattr(search_module, "cpu", lambda: machine)
    result = tune(DEMO, content(), candidates=[Backend.ORT_CPU()], frames=3, tilesizes=(None,),
                  int8_min_psnr=BOUND)
    assert bool(int8_labels(result.timings)) is considered


def test_autotune_without_a_bound_never_considers_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")
    monkeypatch.setattr(search_module, "cpu", lambda: VNNI)
    result = tune(DEMO, content(), candidates=[Backend.ORT_CPU()], frames=3, tilesizes=(None,))
    assert int8_labels(result.timings) == []


def test_int8_is_judged_by_its_bound_not_by_the_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")
    monkeypatch.setattr(search_module, "cpu", lambda: VNNI)
    result = tune(DEMO, content(), candidates=[Backend.ORT_CPU()], frames=3, tilesizes=(None,), tolerance=1e-6,
                  int8_min_psnr=BOUND)
    int8 = [t for t in result.timings if t.trial.backend.quality_bound() is not None]
    assert int8 and int8[0].error is None
    assert int8[0].max_abs_diff is not None and int8[0].max_abs_diff > 1e-6  # past the tolerance, and admitted


def test_int8_below_its_bound_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ort")
    monkeypatch.setattr(search_module, "cpu", lambda: VNNI)
    result = tune(DEMO, content(), candidates=[Backend.ORT_CPU()], frames=3, tilesizes=(None,), int8_min_psnr=100)
    int8 = [t for t in result.timings if t.trial.backend.quality_bound() is not None]
    assert int8 and all("QualityError" in (t.error or "") for t in int8)
    assert result.backend == Backend.ORT_CPU()


@pytest.mark.parametrize(("int8_fps", "picked"), [(5.0, False), (50.0, True)])
def test_autotune_picks_int8_only_when_it_is_faster(int8_fps: float, picked: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The rates are given (a machine's speed is not a unit test's business): the pick follows them."""
    monkeypatch.setattr(search_module, "cpu", lambda: VNNI)

    def fake(trial: Any, clips: Any, network_path: Any, *, frames: int, **kwargs: Any) -> tuple[Timing, dict[int, Any]]:
        fps = int8_fps if trial.backend.quality_bound() is not None else 10.0
        return Timing(trial, fps, 0.01, frames), {}

    monkeypatch.setattr(search_module, "time_trial", fake)
    base = Backend.ORT_CPU()
    result = tune(DEMO, content(), candidates=[base], frames=3, tilesizes=(None,), int8_min_psnr=40)
    assert result.backend == (dataclasses.replace(base, int8=True, int8_min_psnr=40.0) if picked else base)
