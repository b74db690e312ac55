"""Autotune that cannot lose to the default: NaN rejection, argument checks, the float32 fallback after a
precision rejection, one search per decision across processes, stored decisions treated as data.

Real plugins (ort, ov) on tiny models; no timed assertions (speed lives in benchmarks/).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import TensorProto, helper, numpy_helper

import vsinfer.tune.search as search_module
from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern
from vsinfer import Backend
from vsinfer.errors import ClipError, ConfigError, NoBackendError, TilingError
from vsinfer.store import Store
from vsinfer.timing import Timing, Trial
from vsinfer.tune import tune
from vsinfer.tune.search import _max_abs_diff, beats, noise, rank

ROOT = Path(__file__).resolve().parents[2]


def rgb(w: int = 64, h: int = 48, length: int = 8) -> vs.VideoNode:
    return clip_from_planes(pattern(3, h, w), vs.RGBS, length=length)


def nan_model(path: Path) -> Path:
    """y = sqrt(x - 2): NaN for every input in 0..1, on every backend and at every precision."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    graph = helper.make_graph(
        [helper.make_node("Sub", ["input", "two"], ["shifted"], name="sub"),
         helper.make_node("Sqrt", ["shifted"], ["output"], name="sqrt")],
        "nan",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


# -- non-finite output -------------------------------------------------------------------------------------------
def test_nan_never_scores_as_exact() -> None:
    a = {0: np.array([0.0, np.nan], dtype=np.float32)}
    b = {0: np.array([0.0, 1.0], dtype=np.float32)}
    assert _max_abs_diff(a, b) == math.inf  # max(0.0, nan) would have kept 0.0
    assert _max_abs_diff({0: np.array([np.inf])}, {0: np.array([1.0])}) == math.inf
    assert _max_abs_diff({0: np.array([0.5])}, {0: np.array([0.25])}) == 0.25


def test_nan_output_is_rejected_even_in_float32_at_the_loosest_tolerance(tmp_path: Path) -> None:
    """The first float32 run used to become the reference and score 0.0 against itself, NaN and all."""
    need_plugin("ort")
    need_plugin("ov")
    model = nan_model(tmp_path / "nan.onnx")
    candidates = [Backend.ORT_CPU(fp16=False), Backend.OV_CPU(fp16=False, num_streams=1)]
    with pytest.raises(NoBackendError, match="NaN or infinity") as info:
        tune(model, rgb(), candidates=candidates, frames=2, tolerance=1.0, tilesizes=(None,))
    assert str(info.value).count("NaN or infinity") == 2


def test_a_nan_output_against_a_finite_reference_is_rejected() -> None:
    trial = Trial(Backend.OV_CPU())
    search = search_module._Search([], "m.onnx", 2, (0, 0), 1.0, None)
    search.reference = {0: np.zeros((3, 4, 4), dtype=np.float32), 1: np.zeros((3, 4, 4), dtype=np.float32)}
    out = {n: a.copy() for n, a in search.reference.items()}
    out[1][0, 0, 0] = np.nan
    checked = search._check(Timing(trial, 5.0, 0.1, 1), out, exact=False)
    assert not checked.usable and checked.status == "rejected" and "NaN" in (checked.error or "")
    fine = search._check(Timing(trial, 5.0, 0.1, 1), search.reference, exact=False)
    assert fine.usable and fine.max_abs_diff == 0.0


def test_a_rate_that_is_not_finite_is_not_usable() -> None:
    trial = Trial(Backend.ORT_CPU())
    assert not Timing(trial, math.inf, 0.1, 5).usable
    assert not Timing(trial, math.nan, 0.1, 5).usable
    assert Timing(trial, 3.0, 0.1, 5).usable


# -- argument checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"tolerance": math.nan}, ConfigError, "tolerance"),
    ({"tolerance": math.inf}, ConfigError, "tolerance"),
    ({"tolerance": -0.1}, ConfigError, "tolerance"),
    ({"tolerance": "0.01"}, ConfigError, "tolerance"),
    ({"frames": 10**7}, ConfigError, "frames"),
    ({"frames": 1}, ConfigError, "frames"),
    ({"frames": True}, ConfigError, "frames"),
    ({"frames": 6.0}, ConfigError, "frames"),
    ({"confirm": -1}, ConfigError, "confirm"),
    ({"confirm": 10**6}, ConfigError, "confirm"),
    ({"device_id": "0"}, ConfigError, "device_id"),
    ({"device_id": -1}, ConfigError, "device_id"),
    ({"budget_s": math.nan}, ConfigError, "budget_s"),
    ({"budget_s": 0}, ConfigError, "budget_s"),
    ({"retune": "yes"}, ConfigError, "retune"),
    ({"progress": 3}, ConfigError, "progress"),
    ({"candidates": []}, ConfigError, "candidates"),
    ({"candidates": "OV_CPU"}, ConfigError, "candidates"),
    ({"candidates": ["OV_CPU"]}, ConfigError, "candidates"),
    ({"candidates": [[1]]}, ConfigError, "candidates"),
    ({"candidates": Backend.OV_CPU()}, ConfigError, "candidates"),
    ({"tilesizes": []}, TilingError, "tilesizes"),
    ({"tilesizes": [(0, 16)]}, TilingError, "tilesizes"),
    ({"tilesizes": [(10**6, 16)]}, TilingError, "tilesizes"),
    ({"tilesizes": "64"}, TilingError, "tilesizes"),
    ({"tilesizes": [None] + [(16 + i, 16) for i in range(20)]}, TilingError, "tilesizes"),
    ({"overlap": -2}, TilingError, "overlap"),
    ({"overlap": "2"}, TilingError, "overlap"),
])
def test_bad_arguments_are_refused_before_any_work(
    make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], error: type[Exception],
    name: str,
) -> None:
    monkeypatch.setattr(search_module, "time_trial", _no_render)
    monkeypatch.setattr(search_module, "usable_classes", _no_render)
    with pytest.raises(error) as info:
        tune(make_model(3, 3), rgb(), **kwargs)
    assert getattr(info.value, "parameter", None) == name, info.value


@pytest.mark.parametrize("clips", [None, "clip.vpy", Path("clip.vpy"), [], [None], 3])
def test_bad_clips_are_refused(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch, clips: Any) -> None:
    monkeypatch.setattr(search_module, "time_trial", _no_render)
    with pytest.raises(ClipError, match="clips"):
        tune(make_model(3, 3), clips)


def test_an_audio_node_is_refused(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "time_trial", _no_render)
    audio = vs.core.std.BlankAudio(length=4800)
    with pytest.raises(ClipError, match="clips"):
        tune(make_model(3, 3), audio)
    with pytest.raises(ClipError, match="clips"):
        tune(make_model(3, 3), [rgb(), audio])


def _no_render(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a bad argument reached the search")


# -- statistics ---------------------------------------------------------------------------------------------------
def test_the_baseline_is_kept_unless_beaten_by_more_than_the_noise() -> None:
    default, other = Backend.OV_CPU(), Backend.OV_CPU(num_streams=2)

    def runs(backend: Backend, *fps: float) -> list[Timing]:
        return [Timing(Trial(backend), f, 0.1, 5) for f in fps]

    search = search_module._Search([], "m.onnx", 6, (0, 0), 0.01, None)
    search.timings = runs(default, 10.0, 10.3, 9.7) + runs(other, 10.4, 10.5, 10.3)  # within the noise
    assert search_module._decide(search, Trial(default)).ranked.trial.backend == default
    search.timings = runs(default, 10.0, 10.1, 9.9) + runs(other, 12.0, 12.1, 11.9)  # clearly faster
    pick = search_module._decide(search, Trial(default))
    assert pick.ranked.trial.backend == other and "beats the baseline" in pick.reason
    search.timings = runs(default, 10.0, 14.0, 6.0) + runs(other, 12.0, 12.1, 11.9)  # the default is too noisy
    assert search_module._decide(search, Trial(default)).ranked.trial.backend == default


def test_the_confirmation_rounds_decide_when_they_timed_the_baseline() -> None:
    """A screening run of the baseline measured low (timed first in the process) does not crown another."""
    default, other = Backend.OV_CPU(), Backend.OV_CPU(num_streams=2)
    confirm = search_module.CONFIRMATION

    def run(backend: Backend, fps: float, note: str = "") -> Timing:
        return Timing(Trial(backend), fps, 0.1, 5, note=note)

    search = search_module._Search([], "m.onnx", 6, (0, 0), 0.01, None)
    search.timings = [run(default, 4.0), run(other, 5.0),  # screening: the baseline 20 % low
                      run(other, 4.95, f"{confirm} 1"), run(default, 5.05, f"{confirm} 1"),
                      run(default, 5.0, f"{confirm} 2"), run(other, 5.0, f"{confirm} 2")]
    pick = search_module._decide(search, Trial(default))
    assert pick.ranked.trial.backend == default and "it is the baseline" in pick.reason
    assert pick.ranked.runs == 2 and [r.trial.backend for r in pick.ranking] == [default, other]
    assert search_module._decide(search, Trial(default)).ranked.median_fps == pytest.approx(5.025)
    search.timings = search.timings[:2]  # no confirmation: every run counts, and 25 % is more than the noise
    assert search_module._decide(search, Trial(default)).ranked.trial.backend == other


def test_noise_and_ranking() -> None:
    assert noise([10.0]) == pytest.approx(1.0)  # one run cannot measure its noise: the 10 % floor
    assert noise([10.0, 10.0]) == pytest.approx(0.5)
    assert noise([10.0, 10.0, 10.0]) == pytest.approx(0.2)
    assert noise([8.0, 10.0, 12.0]) > 2.0
    b = Backend.ORT_CPU()
    ranked = rank([Timing(Trial(b), 3.0, 0.1, 5), Timing(Trial(b), 5.0, 0.2, 5), Timing(Trial(b), 4.0, 0.3, 5),
                   Timing(Trial(b), 0.0, 0.0, 0, error="skipped: budget", skipped=True)])
    assert len(ranked) == 1 and ranked[0].median_fps == 4.0 and ranked[0].runs == 3
    assert not beats(ranked[0], ranked[0])


# -- the float32 fallback after a precision rejection -------------------------------------------------------------
@pytest.mark.parametrize("family", ["ov", "ort"])
def test_a_precision_rejection_tries_float32_of_the_same_family_first(family: str, make_model: ModelFactory) -> None:
    """OV_CPU() computes what its report says (bf16 on a bf16 CPU, float32 without); ORT_CPU(fp16=True) always fp16.

    A run that contradicts the report fails: an exact run where the report says bf16, an inexact one where it says
    float32. The rejection path itself runs on every CPU through ORT's fp16.
    """
    need_plugin("ov")
    need_plugin("ort")
    model = make_model(3, 3)
    reduced_candidate = Backend.OV_CPU() if family == "ov" else Backend.ORT_CPU(fp16=True)
    other_family = Backend.ORT_CPU(fp16=False) if family == "ov" else Backend.OV_CPU(fp16=False)
    result = tune(model, rgb(), candidates=[reduced_candidate, other_family], frames=2, tolerance=0.0,
                  tilesizes=(None,), confirm=0)
    first = result.timings[0]
    assert first.trial.backend == reduced_candidate
    computes, why = reduced_candidate.effective_precision()
    if computes == "fp32":  # this CPU's fp16=True is float32 (its report says so): exact, nothing to reject
        assert first.error is None and first.max_abs_diff == 0.0, (computes, why, first)
        assert result.backend == reduced_candidate
        return
    assert first.error is not None and "tolerance" in first.error and first.status == "rejected", (computes, first)
    # the float32 variant of the rejected candidate comes next, before the other family
    assert result.timings[1].trial.backend == reduced_candidate.float32()
    assert "rejected for its error" in result.timings[1].note
    assert result.timings[1].usable and result.timings[1].max_abs_diff == 0.0
    assert result.timings[2].trial.backend == other_family


def test_with_a_tolerance_below_openvinos_error_the_pick_is_openvino_in_float32(make_model: ModelFactory) -> None:
    need_plugin("ov")
    model = make_model(3, 3)
    result = tune(model, rgb(), candidates=[Backend.OV_CPU(), Backend.OV_CPU(num_streams=1)], frames=2,
                  tolerance=0.0, tilesizes=(None,), confirm=0)
    assert result.backend.precision() == "fp32" and isinstance(result.backend, Backend.OV_CPU)
    if Backend.OV_CPU().effective_precision()[0] == "fp32":  # the report: float32 here, so nothing is rejected
        assert result.timings[0].error is None and result.timings[0].max_abs_diff == 0.0
        return
    assert result.timings[0].error is not None and "tolerance" in result.timings[0].error
    # the second candidate's reduced precision is known to fail: it is timed in float32 straight away
    labels = [str(t.trial) for t in result.timings]
    assert str(Trial(Backend.OV_CPU(num_streams=1))) not in labels
    assert str(Trial(Backend.OV_CPU(num_streams=1).float32())) in labels


def test_the_default_tolerance_admits_the_reduced_precision_the_defaults_run(make_model: ModelFactory) -> None:
    """With the default tolerance, OV_CPU()'s own precision (bf16 on a bf16 CPU) is not rejected."""
    need_plugin("ov")
    model = make_model(3, 3)
    result = tune(model, rgb(), candidates=[Backend.OV_CPU()], frames=2, tilesizes=(None,), confirm=0)
    assert result.timings[0].error is None and result.backend == Backend.OV_CPU()


def test_the_rows_say_why(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    result = tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16=False, num_streams=2)],
                  frames=2, tilesizes=(None,), confirm=1)
    assert all(t.note for t in result.timings)
    assert result.reason and result.ranking and result.ranking[0].median_fps > 0
    assert result.fps == next(r.median_fps for r in result.ranking if r.trial.backend == result.backend)


# -- one search per decision across processes ---------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import json, logging, sys
    import vapoursynth as vs
    sys.path.insert(0, {root!r})
    from tests.conftest import clip_from_planes, pattern
    from vsinfer import Backend
    from vsinfer.tune import tune
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    clip = clip_from_planes(pattern(3, 48, 64), vs.RGBS, length=8)
    result = tune({model!r}, clip, candidates=[Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16=False,
                  num_streams=2)], frames=2, tilesizes=(None,))
    print(json.dumps({{"reused": result.reused, "pick": str(result.backend), "path": str(result.path)}}))
""")


def test_two_processes_tuning_the_same_decision_search_once(make_model: ModelFactory, isolated_cache: Path,
                                                             tmp_path: Path) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), model=str(model)))
    # learn the decision's path with one run here, then forget the decision
    first = tune(model, rgb(), candidates=[Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16=False, num_streams=2)],
                 frames=2, tilesizes=(None,))
    assert first.path is not None
    first.path.unlink()
    paths = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]  # an emulated CPU stays emulated
    env = {**os.environ, "VSINFER_CACHE_DIR": str(isolated_cache), "PYTHONPATH": os.pathsep.join(paths)}
    logs = [tmp_path / f"child{i}.log" for i in range(2)]
    children: list[subprocess.Popen[str]] = []
    try:
        with Store(isolated_cache).lock(first.path):  # both children find the decision being made, and wait
            children += [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                          stderr=log.open("w"), env=env, text=True) for log in logs]
            give_up = time.monotonic() + 120
            while not all("waiting to reuse it" in log.read_text() for log in logs):
                assert all(c.poll() is None for c in children), [log.read_text()[-2000:] for log in logs]
                assert time.monotonic() < give_up, "the children never waited for the lock"
                time.sleep(0.1)
        outputs = []
        for child, log in zip(children, logs, strict=True):
            stdout, _ = child.communicate(timeout=300)
            assert child.returncode == 0, log.read_text()[-3000:]
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:  # a failed wait or a failed child: the others are killed, not left running
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert sorted(o["reused"] for o in outputs) == [False, True]  # one searched, the other reused its decision
    assert outputs[0]["pick"] == outputs[1]["pick"]
    assert outputs[0]["path"] == outputs[1]["path"] == str(first.path)


# -- stored decisions are data ----------------------------------------------------------------------------------
def _edit_choice(path: Path, spec: dict[str, Any]) -> None:
    data = json.loads(path.read_text())
    data["choice"]["backend"] = spec
    for t in data["timings"]:
        t["backend"] = spec
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("spec", [
    {"class": "MIGX", "fields": {"custom_env": {"LD_PRELOAD": "/tmp/evil.so"}}},
    {"class": "MIGX", "fields": {"custom_args": ["--exhaustive-tune"]}},
    {"class": "OV_CPU", "fields": {"custom_config": {"CACHE_DIR": "/tmp/elsewhere"}}},
    {"class": "OV_CPU", "fields": {"model_cache": True}},
    {"class": "NotRegistered", "fields": {}},
    {"class": "ORT_CPU", "fields": {"num_streams": -4}},
    {"class": "ORT_CPU", "fields": {"num_streams": 7}},  # valid, but not a candidate of this call
])
def test_an_edited_decision_is_ignored_and_timed_again(make_model: ModelFactory, spec: dict[str, Any],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    candidates = [Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16=False, num_streams=2)]
    first = tune(model, rgb(), candidates=candidates, frames=2, tilesizes=(None,), confirm=0)
    assert first.path is not None
    again = tune(model, rgb(), candidates=candidates, frames=2, tilesizes=(None,), confirm=0)
    assert again.reused  # untouched: reused
    _edit_choice(first.path, spec)
    caplog.clear()
    with caplog.at_level("INFO", logger="vsinfer"):
        edited = tune(model, rgb(), candidates=candidates, frames=2, tilesizes=(None,), confirm=0)
    assert not edited.reused and edited.backend in candidates
    assert "is not used" in caplog.text  # said, not silent
    assert edited.timings and all(t.trial.backend in candidates for t in edited.timings)


def test_a_stored_tile_size_must_be_one_compared(make_model: ModelFactory) -> None:
    need_plugin("ort")
    model = make_model(3, 3)
    candidates = [Backend.ORT_CPU(fp16=False)]
    first = tune(model, rgb(), candidates=candidates, frames=2, tilesizes=(None,), confirm=0)
    assert first.path is not None
    data = json.loads(first.path.read_text())
    data["choice"]["tilesize"] = [16, 16]
    first.path.write_text(json.dumps(data))
    again = tune(model, rgb(), candidates=candidates, frames=2, tilesizes=(None,), confirm=0)
    assert not again.reused and again.tilesize is None


def test_the_stored_pick_is_the_callers_object(make_model: ModelFactory) -> None:
    need_plugin("ov")
    model = make_model(3, 3)
    mine = Backend.OV_CPU(fp16=False, custom_config={"PERFORMANCE_HINT": "THROUGHPUT"})
    tune(model, rgb(), candidates=[mine], frames=2, tilesizes=(None,), confirm=0)
    again = tune(model, rgb(), candidates=[mine], frames=2, tilesizes=(None,), confirm=0)
    assert again.reused and again.backend is mine


# -- the time budget is a limit ---------------------------------------------------------------------------------
def test_the_budget_counts_from_the_tune_call_and_plans_with_the_slowest_run() -> None:
    trial = Trial(Backend.ORT_CPU(), None)
    runs = [Timing(trial, fps, 0.5, 9) for fps in (9.0, 3.0, 9.0)]  # one slow run: 0.5 + 9 / 3 = 3.5 s
    started_long_ago = search_module._Search([], "m.onnx", 10, (0, 0), 0.0, None, budget_s=10.0,
                                             start=time.perf_counter() - 7.0)
    started_long_ago.timings.extend(runs)
    assert started_long_ago.cost(trial) == pytest.approx(3.5)  # the median run would say 1.5 s
    assert not started_long_ago.affordable([trial])  # 7 s spent before the search + 3.5 > 10
    fresh = search_module._Search([], "m.onnx", 10, (0, 0), 0.0, None, budget_s=10.0)
    fresh.timings.extend(runs)
    assert fresh.affordable([trial])
