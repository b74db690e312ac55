"""Autotune on tiny models with short candidate lists (no timed assertions: timings go to benchmarks/)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs

import vsinfer.tune.search as tune_module
from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.backends.ncnn.backend import CPU_DEVICE_TYPE
from vsinfer.backends.spec import backend_from_spec, backend_spec
from vsinfer.errors import ConfigError
from vsinfer.timing import render
from vsinfer.tune import autotune, default_candidates, tune


@pytest.fixture
def timed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every trial that gets timed."""
    calls: list[str] = []
    real = tune_module.time_trial

    def spy(trial: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(trial))
        return real(trial, *args, **kwargs)

    monkeypatch.setattr(tune_module, "time_trial", spy)
    return calls


def rgb(w: int = 64, h: int = 48, length: int = 8) -> vs.VideoNode:
    return clip_from_planes(pattern(3, h, w), vs.RGBS, length=length)


def cpu_pair() -> list[Backend]:
    need_plugin("ort")
    need_plugin("ov")
    return [Backend.ORT_CPU(fp16=False), Backend.OV_CPU(fp16=False, num_streams=1)]


def test_autotune_returns_a_usable_backend(make_model: ModelFactory, timed: list[str]) -> None:
    model = make_model(3, 3)
    candidates = cpu_pair()
    clip = rgb()
    backend = autotune(model, clip, candidates=candidates, frames=3)
    assert backend in candidates
    assert len(timed) >= len(candidates)
    out = backend.inference(clip, model)
    expected = reference(model, pattern(3, 48, 64)[None])[0]
    np.testing.assert_allclose(planes_of(out), expected, atol=1e-4)


def test_second_call_reuses_the_stored_decision(
    make_model: ModelFactory, timed: list[str], caplog: pytest.LogCaptureFixture, isolated_cache: Path
) -> None:
    model = make_model(3, 3)
    candidates = cpu_pair()
    first = tune(model, rgb(), candidates=candidates, frames=3, tilesizes=(None,))
    assert not first.reused and timed
    assert first.path is not None and first.path.parent == isolated_cache / "tune"
    timed.clear()
    with caplog.at_level(logging.INFO, logger="vsinfer.tune"):
        second = tune(model, rgb(), candidates=candidates, frames=3, tilesizes=(None,))
    assert timed == []  # nothing rendered again
    assert second.reused and second.backend == first.backend and second.tilesize == first.tilesize
    assert "reusing autotune decision" in caplog.text
    assert Backend.autotune(model, rgb(), candidates=candidates, frames=3) == first.backend
    assert timed == []
    tune(model, rgb(), candidates=candidates, frames=3, tilesizes=(None,), retune=True)
    assert timed


def test_decision_key_follows_frame_size_and_format(make_model: ModelFactory, timed: list[str],
                                                    isolated_cache: Path) -> None:
    model = make_model(3, 3)
    candidates = cpu_pair()[:1]
    tune(model, rgb(64, 48), candidates=candidates, frames=2)
    n = len(timed)
    tune(model, rgb(64, 48), candidates=candidates, frames=2)
    assert len(timed) == n
    tune(model, rgb(80, 48), candidates=candidates, frames=2)
    assert len(timed) > n
    n = len(timed)
    half = clip_from_planes(pattern(3, 48, 64), vs.RGBH, length=8)
    tune(model, half, candidates=candidates, frames=2)
    assert len(timed) > n
    assert len(list((isolated_cache / "tune").glob("*.json"))) == 3


def test_output_past_tolerance_is_rejected(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    exact, half = Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16=True)
    result = tune(model, rgb(), candidates=[half, exact], frames=2, tolerance=0.0, tilesizes=(None,))
    assert result.backend == exact
    rejected = [t for t in result.timings if t.trial.backend == half]
    assert rejected and all("tolerance" in (t.error or "") for t in rejected)
    assert rejected[0].max_abs_diff is not None and rejected[0].max_abs_diff > 0


def test_tiles_without_enough_overlap_are_rejected(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3, k=5)
    result = tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False)], frames=2, overlap=0,
                  tilesizes=[None, (32, 24)])
    tiled = [t for t in result.timings if t.trial.tilesize == (32, 24)]
    assert tiled and "tolerance" in (tiled[0].error or "")
    assert result.tilesize is None
    overlapped = tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False)], frames=2, overlap=4,
                      tilesizes=[(40, 32)])
    assert overlapped.tilesize == (40, 32) and overlapped.timings[0].error is None
    assert overlapped.timings[0].max_abs_diff is not None and overlapped.timings[0].max_abs_diff < 1e-4


def test_auto_overlap_is_the_models_context(make_model: ModelFactory) -> None:
    """The default overlap ("auto") is the measured context: a 5x5 conv's tiles match the whole frame exactly."""
    need_plugin("ort")
    model = make_model(3, 3, k=5)
    result = tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False)], frames=2, tilesizes=[(40, 32)])
    assert result.overlap == (2, 2)
    assert result.timings[0].error is None and result.timings[0].max_abs_diff == 0.0


def test_a_backend_that_cannot_run_is_skipped(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    result = tune(model, rgb(), candidates=[Backend.MIGX(), Backend.ORT_CPU(fp16=False)], frames=2,
                  tilesizes=(None,))
    assert result.backend == Backend.ORT_CPU(fp16=False)
    (migx,) = [t for t in result.timings if isinstance(t.trial.backend, Backend.MIGX)]
    assert migx.error and not migx.usable


def test_user_errors_are_raised_not_skipped(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(1, 1)  # one channel: an RGB clip is the caller's mistake
    with pytest.raises(Exception, match="planes"):
        tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False)], frames=2)
    with pytest.raises(ConfigError, match="frames"):
        tune(model, rgb(), frames=1)


def test_render_requests_each_frame_once() -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=6)
    seen: list[int] = []

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        seen.append(n)
        return f

    done = render(lambda: vs.core.std.ModifyFrame(clip, clip, count), 6, keep=[0, 5])
    assert sorted(seen) == list(range(6))
    warm = min(vs.core.num_threads, 4)  # one untimed frame per request in flight, warming each stream up
    timed = 5 - warm
    if timed > vs.core.num_threads:  # whole rounds of requests only; the rest is rendered untimed
        timed -= timed % vs.core.num_threads
    assert done.frames == timed and set(done.outputs) == {0, 5} and not done.stopped_early


def test_render_stops_past_the_deadline_without_leaving_requests() -> None:
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=50)
    seen: list[int] = []

    def slow(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        seen.append(n)
        import time

        time.sleep(0.01)
        return f

    done = render(lambda: vs.core.std.ModifyFrame(clip, clip, slow), 50, deadline_s=0.0)
    assert done.stopped_early and done.frames < 49
    assert len(seen) == done.frames + 1 + vs.core.num_threads  # every request made was awaited (warm-up too)


@pytest.mark.parametrize("backend", [
    Backend.OV_CPU(num_streams=2, custom_config={"PERFORMANCE_HINT": "THROUGHPUT"}, fp16=False),
    Backend.ORT_CPU(fp16=True, fp16_blacklist_ops=["Conv", "Add"]),
    Backend.TRT_RTX(static_shape=False, min_shapes=(32, 32), max_shapes=(256, 256), opt_shapes=(64, 64)),
    Backend.NCNN(num_streams=3),
    Backend.MIGX(custom_args=["--a"], custom_env={"X": "1"}),
])
def test_backend_spec_round_trip(backend: Backend) -> None:
    import json

    spec = json.loads(json.dumps(backend_spec(backend)))
    assert backend_from_spec(spec) == backend
    assert backend_spec(type(backend)()) == {"class": type(backend).__name__, "fields": {}}


def test_backend_from_spec_rejects_unknown() -> None:
    with pytest.raises(ConfigError, match="class"):
        backend_from_spec({"class": "Nope"})
    with pytest.raises(ConfigError, match="fields"):
        backend_from_spec({"class": "ORT_CPU", "fields": {"warp": 9}})


def test_default_candidates_here() -> None:
    need_plugin("ov")
    from vsinfer.plugins import get_plugin, is_loaded

    found = default_candidates()
    ov = [b for b in found if isinstance(b, Backend.OV_CPU)]
    assert {b.num_streams for b in ov} == {None, 1, 2}
    assert ov[0] == Backend.OV_CPU()  # each family's default comes first, at its default precision
    if is_loaded("ort"):
        assert Backend.ORT_CPU() in found and Backend.ORT_CPU(num_streams=2) in found
    if is_loaded("ncnn"):
        try:
            kind = get_plugin("ncnn").DeviceProperties(device_id=0)["type"]
        except vs.Error:
            kind = None
        if kind in (None, CPU_DEVICE_TYPE):  # no Vulkan device, or a CPU one (lavapipe)
            assert not any(isinstance(b, Backend.NCNN) for b in found)


def test_other_precision() -> None:

    assert Backend.OV_CPU().other_precision() == Backend.OV_CPU(fp16=False)
    assert Backend.ORT_CPU(fp16=False).other_precision() == Backend.ORT_CPU(fp16=True)
    assert Backend.TRT_RTX(bf16=True).other_precision() == Backend.TRT_RTX(fp16=False, bf16=False)
    assert Backend.OV_NPU().other_precision() is None
