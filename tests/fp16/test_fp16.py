"""The fp16 guard on crafted models that overflow float16 at different depths (tests/fp16/models.py).

Real plugins: ORT_CPU and NCNN (lavapipe) defaults must give the float32 picture; ``fp16_guard=False`` must give
the garbage back (so the guard is what fixes it); ``check`` must name exactly the right nodes; a TRT_RTX build
must keep them in float32 (converted ONNX and sidecar).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import vapoursynth as vs

import vsinfer.backends.guard as guard_module
import vsinfer.backends.ov.backend as ov_backend
import vsinfer.fp16.analysis as fp16
from tests.conftest import clip_from_planes, need_module, need_plugin, planes_of, reference
from tests.fp16.models import EXPECTED, MODELS, constant, unnamed
from vsinfer import Backend
from vsinfer.backends.guard import apply_guard
from vsinfer.conversion import convert_model
from vsinfer.device import cpu
from vsinfer.fp16 import report as fp16_report
from vsinfer.fp16.samples import synthetic_samples
from vsinfer.model import model_info
from vsinfer.store import Store

OVERFLOWING = sorted(name for name in MODELS if EXPECTED[name])
TOLERANCE = 2e-2


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    """Each test starts without the process-wide memo, so the per-test cache dir is what counts."""
    fp16._memo.clear()
    guard_module._decisions.clear()


def bright(h: int = 48, w: int = 64, seed: int = 7) -> np.ndarray:
    """A bright picture (0.6 .. 1): it drives the crafted models past float16's range."""
    return (0.6 + 0.4 * np.random.default_rng(seed).random((3, h, w))).astype(np.float32)


def build(tmp_path: Path, name: str) -> Path:
    return MODELS[name](tmp_path / f"{name}.onnx")


def error(backend: Any, model: Path, fmt: int = vs.RGBS) -> tuple[float, vs.VideoNode]:
    planes = bright()
    clip = clip_from_planes(planes, fmt)
    if fmt == vs.RGBH:
        planes = planes.astype(np.float16).astype(np.float32)
    out = backend.inference(clip, model)
    got = planes_of(out)
    diff = np.abs(got - reference(model, planes[None])[0])
    return (float(diff.max()) if np.all(np.isfinite(got)) else math.inf), out


# -- the analysis ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_check_names_exactly_the_nodes(tmp_path: Path, name: str) -> None:
    report = fp16_report(build(tmp_path, name))
    assert set(report.block_list) == EXPECTED[name]
    assert {n.name for n in report.analysis.overflowing} <= EXPECTED[name]
    data = json.loads(json.dumps(report.to_json()))
    assert data["block_list"] == sorted(EXPECTED[name]) and data["limit"] == fp16.LIMIT
    assert float(data["max_error_after"]) < TOLERANCE
    text = str(report)
    assert all(node in text for node in EXPECTED[name])
    if EXPECTED[name]:
        assert not report.error_before < 0.1, "the plain fp16 conversion must break on this model"
        assert all(n.max_abs > fp16.LIMIT for n in report.analysis.nodes)
    else:
        assert "block list empty" in text and report.error_before == report.error_after


def test_check_reads_frames_of_a_clip(tmp_path: Path) -> None:
    model = build(tmp_path, "single")
    clip = clip_from_planes(bright(300, 400), vs.RGBS, length=10)
    report = fp16_report(model, clip=clip)
    assert "+ 3 frames (128x128) of the clip" in report.analysis.samples  # centre crops
    assert set(report.block_list) == EXPECTED["single"]


def test_unreadable_clip_falls_back_to_synthetic_samples(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "safe"))
    blank = vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=4)

    def fail(n: int) -> vs.VideoNode:
        raise RuntimeError("not now")

    broken = vs.core.std.FrameEval(blank, fail)
    analysis = fp16.analyse(model, [broken])
    assert analysis.samples == "a synthetic 256x256 mosaic" and analysis.block_list == ()


def test_constants_the_converter_clamps_are_kept(tmp_path: Path) -> None:
    model = constant(tmp_path / "constant.onnx")
    analysis = fp16.analyse(model_info(model))
    assert [(n.name, n.reason) for n in analysis.nodes] == [("/scale/Mul", "constant")]
    x = bright()[None]
    store = Store()
    plain = reference(convert_model(model_info(model), "fp16", [], store, io="fp32"), x)
    kept = reference(convert_model(model_info(model), "fp16", analysis.block_list, store, io="fp32"), x)
    truth = reference(model, x)
    assert np.abs(plain - truth).max() > 0.1  # the converter clamped 15000 to 10000
    assert np.abs(kept - truth).max() < TOLERANCE


def test_synthetic_samples_cover_black_to_white() -> None:
    samples = synthetic_samples(3, 64, 96)
    assert len(samples) == 1 and all(s.shape == (3, 64, 96) and s.dtype == np.float32 for s in samples)
    stacked = np.stack(samples)
    assert stacked.min() == 0.0 and stacked.max() == 1.0
    assert len(np.unique(np.round(samples[0], 2))) > 50  # gradients and noise, not only flat areas


def test_analysis_is_cached_in_the_store(tmp_path: Path, isolated_cache: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_info(build(tmp_path, "chain"))
    clips = [clip_from_planes(bright(), vs.RGBS)]
    first = fp16.analyse(model, clips)
    assert not first.cached and first.seconds > 0
    records = list((isolated_cache / "fp16").glob("*.json"))
    assert len(records) == 1 and records[0].name.startswith(f"{model.checksum:08x}-")
    fp16._memo.clear()

    def no_run(*args: Any) -> None:
        raise AssertionError("a cache hit must not analyse again")

    monkeypatch.setattr(fp16, "_run_analysis", no_run)
    second = fp16.analyse(model, clips)
    assert second.cached and second.block_list == first.block_list and second.nodes == first.nodes
    assert "+ 1 frame (64x48) of the clip" in second.samples
    backend, _ = apply_guard(Backend.ORT_CPU(fp16=True), model, clips)
    assert backend.fp16 is False  # guarded from the stored record


def test_a_changed_model_is_analysed_again(tmp_path: Path) -> None:
    path = build(tmp_path, "safe")
    before = fp16.analyse(model_info(path))
    MODELS["chain"](path)  # same path, other content
    after = fp16.analyse(model_info(path))
    assert before.block_list == () and set(after.block_list) == EXPECTED["chain"]


@pytest.mark.parametrize("name", OVERFLOWING)
@pytest.mark.parametrize("io", ["fp32", "fp16"])
def test_converted_model_never_holds_an_overflow_in_float16(tmp_path: Path, name: str, io: str) -> None:
    model = model_info(build(tmp_path, name))
    samples = synthetic_samples(3, 64, 64)
    store = Store()
    plain = fp16.tensor_ranges(convert_model(model, "fp16", [], store, io=io), samples, (10,))
    assert not max(plain.values()) < fp16.LIMIT  # the test can fail: without the list, float16 tensors overflow
    guarded = convert_model(model, "fp16", fp16.analyse(model).block_list, store, io=io)
    half = fp16.tensor_ranges(guarded, samples, (10,))
    assert max(half.values(), default=0.0) < fp16.LIMIT
    types = {o.name: o.type.tensor_type.elem_type for o in onnx.load(guarded).graph.output}
    assert types == {"output": 1 if io == "fp32" else 10}


# -- the guard through inference -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", OVERFLOWING)
@pytest.mark.parametrize("fmt", [vs.RGBS, vs.RGBH])
def test_ort_default_gives_the_float32_picture(tmp_path: Path, name: str, fmt: int) -> None:
    need_plugin("ort")
    model = build(tmp_path, name)
    err, out = error(Backend.ORT_CPU(fp16=True), model, fmt)
    assert err < TOLERANCE
    assert out.format.bits_per_sample == vs.core.get_video_format(fmt).bits_per_sample  # output follows input
    unguarded, _ = error(Backend.ORT_CPU(fp16=True, fp16_guard=False), model, fmt)
    assert not unguarded < 0.2, "without the guard the fp16 run must be garbage"


@pytest.mark.parametrize("name", OVERFLOWING)
def test_ncnn_default_gives_the_float32_picture(tmp_path: Path, name: str) -> None:
    need_plugin("ncnn")
    model = build(tmp_path, name)
    for backend in (Backend.NCNN(), Backend.NCNN(fp16=True)):  # float32 by device on lavapipe; fp16 guarded
        err, _ = error(backend, model)
        assert err < TOLERANCE
    unguarded, _ = error(Backend.NCNN(fp16=True, fp16_guard=False), model)
    assert not unguarded < 0.2, "without the guard the fp16 run must be garbage"


@pytest.mark.parametrize("name", OVERFLOWING)
def test_ov_cpu_default_gives_the_float32_picture(tmp_path: Path, name: str) -> None:
    need_plugin("ov")
    err, _ = error(Backend.OV_CPU(), build(tmp_path, name))
    assert err < TOLERANCE


def test_bf16_needs_the_guard_too(tmp_path: Path) -> None:
    """Why OV_CPU() is guarded where it runs bf16: values beyond float16's lose their precision.

    The expectation comes from the precision report: bf16 here must lose the picture unguarded; float32 (a CPU
    without bf16) must not, and then needs no guard.
    """
    need_plugin("ov")
    computes, why = Backend.OV_CPU().effective_precision()
    model = build(tmp_path, "residual")  # two branches of ~2e4 that cancel
    unguarded, _ = error(Backend.OV_CPU(fp16_guard=False), model)
    guarded, _ = error(Backend.OV_CPU(), model)
    assert guarded < TOLERANCE, (computes, why)
    if computes == "bf16":
        assert unguarded > 1, f"the report says bf16 ({why}), but the unguarded run is exact"
    else:
        assert computes == "fp32" and unguarded < TOLERANCE and not Backend.OV_CPU().guard_on(), (computes, why)


def test_negative_values_only_a_relu_reads_need_no_float32(tmp_path: Path) -> None:
    need_plugin("ort")
    model = build(tmp_path, "negative")
    assert fp16.analyse(model_info(model)).block_list == ()
    err, _ = error(Backend.ORT_CPU(fp16_guard=False), model)  # the plugin's fp16 run really is fine
    assert err < TOLERANCE


def test_the_safe_model_keeps_full_fp16(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "safe"))
    clips = [clip_from_planes(bright(), vs.RGBS)]
    for backend in (Backend.ORT_CPU(fp16=True), Backend.TRT_RTX(), Backend.NCNN(), Backend.OV_GPU(),
                    Backend.MIGX(fp16=True)):
        guarded, same = apply_guard(backend, model, clips)
        assert guarded is backend and same is model
    assert fp16.analyse(model).block_list == ()


@pytest.mark.parametrize(
    "backend",
    [Backend.ORT_CPU(fp16=False), Backend.ORT_CPU(fp16_guard=False), Backend.OV_CPU(fp16=False),
     Backend.TRT_RTX(bf16=True), Backend.NCNN(fp16=False), Backend.MIGX(), Backend.OV(device="CPU")],
    ids=lambda b: repr(b)[:60],
)
def test_no_analysis_when_nothing_runs_in_fp16(tmp_path: Path, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_info(build(tmp_path, "single"))

    def no_run(*args: Any) -> None:
        raise AssertionError("nothing runs in fp16: the guard must not analyse")

    monkeypatch.setattr(fp16, "_run_analysis", no_run)
    assert apply_guard(backend, model, [clip_from_planes(bright(), vs.RGBS)]) == (backend, model)


def test_ort_runs_the_converted_model_without_converting_again(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "chain"))
    backend, guarded = apply_guard(Backend.ORT_CPU(fp16=True, fp16_blacklist_ops=["Relu"]), model,
                                        [clip_from_planes(bright(), vs.RGBS)])
    assert backend == Backend.ORT_CPU(fp16=False)
    assert guarded.path != model.path and guarded.inputs[0].elem_type == 1 and guarded.outputs[0].elem_type == 1
    converted = onnx.load(guarded.path)
    kept = {n.name for n in converted.graph.node if n.op_type == "Relu"} | EXPECTED["chain"]
    half_nodes = fp16.tensor_ranges(guarded.path, synthetic_samples(3, 32, 32), (10,))
    assert kept <= {n.name for n in converted.graph.node}
    assert max(half_nodes.values()) < fp16.LIMIT
    _, half = apply_guard(Backend.ORT_CPU(fp16=True), model, [clip_from_planes(bright(), vs.RGBH)])
    assert half.inputs[0].elem_type == 10  # a half clip gets a half-IO model


def test_ov_gpu_runs_the_converted_model_with_the_f32_hint(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "resize"))
    backend, guarded = apply_guard(Backend.OV_GPU(), model, [clip_from_planes(bright(), vs.RGBS)])
    assert backend == Backend.OV_GPU(fp16=False) and backend.precision_hint() == "f32"
    assert guarded.path != model.path and guarded.inputs[0].elem_type == 1 and guarded.outputs[0].elem_type == 1
    generic, same = apply_guard(Backend.OV(device="GPU"), model, [clip_from_planes(bright(), vs.RGBS)])
    assert generic.custom_config["INFERENCE_PRECISION_HINT"] == "f32" and same == guarded


def test_ov_cpu_switches_to_the_f32_hint(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "single"))
    backend, same = apply_guard(Backend.OV_CPU(), model, [clip_from_planes(bright(), vs.RGBS)])
    reduced = Backend.OV_CPU().effective_precision()[0] != "fp32"  # float32 here: nothing to switch
    assert backend == (Backend.OV_CPU(fp16=False) if reduced else Backend.OV_CPU()) and same is model


@pytest.mark.parametrize(
    ("flags", "analysed"),
    [(set(), False), ({"avx512_bf16"}, True), ({"amx_fp16", "amx_bf16"}, True)],
    ids=["no-fp16-or-bf16", "bf16", "fp16"],
)
def test_ov_cpu_analyses_only_where_the_f16_hint_leaves_float32(
    tmp_path: Path, flags: set[str], analysed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where OpenVINO's CPU runs the f16 hint in float32, the guard's answer (the f32 hint) would change nothing."""
    machine = dataclasses.replace(cpu(), flags=frozenset({"avx2", "avx512f", *flags}))
    monkeypatch.setattr(ov_backend, "cpu", lambda: machine)
    model = model_info(build(tmp_path, "single"))
    calls: list[object] = []
    real = fp16._run_analysis
    monkeypatch.setattr(fp16, "_run_analysis", lambda *a: calls.append(a) or real(*a))
    backend, same = apply_guard(Backend.OV_CPU(), model, [clip_from_planes(bright(), vs.RGBS)])
    assert bool(calls) is analysed and same is model
    assert backend == (Backend.OV_CPU(fp16=False) if analysed else Backend.OV_CPU())
    # a device string with a GPU in it is analysed whatever the CPU does: the GPU computes in fp16
    assert Backend.OV(device="HETERO:GPU,CPU", custom_config={"INFERENCE_PRECISION_HINT": "f16"}).guard_on()


@pytest.mark.parametrize("backend", [Backend.NCNN(fp16=True), Backend.MIGX(fp16=True)], ids=["NCNN", "MIGX"])
def test_no_node_block_list_means_float32_with_a_warning(
    tmp_path: Path, backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    model = model_info(build(tmp_path, "single"))
    with caplog.at_level(logging.INFO, logger="vsinfer.fp16"):
        guarded, same = apply_guard(backend, model, [clip_from_planes(bright(), vs.RGBS)])
    assert guarded.fp16 is False and same is model
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "/big/Conv" in record.getMessage() and "float32" in record.getMessage()


def test_unnamed_nodes_run_in_float32(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    need_plugin("ort")
    model = unnamed(tmp_path / "unnamed.onnx")
    with caplog.at_level(logging.WARNING, logger="vsinfer.fp16"):
        err, _ = error(Backend.ORT_CPU(fp16=True), model)
    assert err < TOLERANCE
    assert any("without names" in r.getMessage() for r in caplog.records)


def test_the_decision_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = model_info(build(tmp_path, "chain"))
    clips = [clip_from_planes(bright(), vs.RGBS)]
    with caplog.at_level(logging.DEBUG, logger="vsinfer.fp16"):
        apply_guard(Backend.ORT_CPU(fp16=True), model, clips)
        apply_guard(Backend.ORT_CPU(fp16=True), model, clips)
    decisions = [r for r in caplog.records if "keeps 4 nodes in float32" in r.getMessage()]
    assert [r.levelno for r in decisions] == [logging.INFO, logging.DEBUG]


def test_guard_inside_inference_uses_the_store(tmp_path: Path, isolated_cache: Path) -> None:
    need_plugin("ort")
    model = build(tmp_path, "resize")
    err, out = error(Backend.ORT_CPU(fp16=True), model)
    assert err < TOLERANCE and (out.width, out.height) == (128, 96)
    assert len(list((isolated_cache / "fp16").glob("*.json"))) == 1
    assert len(list((isolated_cache / "onnx").glob("*.onnx"))) == 1


# -- TensorRT-RTX: the nodes go into the engine's identity ---------------------------------------------------


def test_trt_rtx_build_keeps_the_nodes_in_float32(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_module("tensorrt_rtx")
    import vsinfer.backends.trt.builder as trt_module
    from vsinfer.identity import DeviceInfo

    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: DeviceInfo("Test RTX", "8.9"))
    path = build(tmp_path, "chain")
    model = model_info(path)
    backend, same = apply_guard(Backend.TRT_RTX(fp16_blacklist_ops=["Relu"]), model,
                                     [clip_from_planes(bright(), vs.RGBH)])
    assert same is model and set(backend.fp16_blacklist_ops) == EXPECTED["chain"] | {"Relu"}
    engine = backend.build_engine(path, 3, (64, 48))
    sidecar = json.loads(engine.with_suffix(".json").read_text())
    assert set(sidecar["identity"]["fields"]["fp16_blacklist_ops"]) == EXPECTED["chain"] | {"Relu"}
    (converted,) = (isolated_cache / "onnx").glob("*.onnx")
    graph = onnx.load(converted).graph
    value_types = {v.name: v.type.tensor_type.elem_type for v in graph.value_info}
    for node in graph.node:
        if node.name in EXPECTED["chain"]:
            assert all(value_types.get(o, 1) == 1 for o in node.output), f"{node.name} must write float32"
    assert max(fp16.tensor_ranges(converted, synthetic_samples(3, 48, 64), (10,)).values()) < fp16.LIMIT


def test_a_conversion_that_fails_falls_back_to_float32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    model = model_info(build(tmp_path, "single"))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(guard_module, "convert_model", broken)
    with caplog.at_level(logging.WARNING, logger="vsinfer.fp16"):
        backend, same = apply_guard(Backend.ORT_CPU(fp16=True), model, [clip_from_planes(bright(), vs.RGBS)])
    assert backend == Backend.ORT_CPU(fp16=False) and same is model
    assert any("converter exploded" in r.getMessage() for r in caplog.records)


def test_an_explicit_half_output_gets_a_half_io_model(tmp_path: Path) -> None:
    model = model_info(build(tmp_path, "single"))
    backend, guarded = apply_guard(Backend.ORT_CPU(fp16=True, output_format=1), model,
                                   [clip_from_planes(bright(), vs.RGBS)])
    assert backend.output_format == 1 and guarded.outputs[0].elem_type == 10


def test_the_record_shows_in_the_cache_listing(tmp_path: Path) -> None:
    from vsinfer.store.inventory import scan

    path = build(tmp_path, "chain")
    fp16.analyse(model_info(path))
    (entry,) = scan(Store(), ("fp16",))
    assert entry.model == path.name
