"""ORT with fp16 on quantized (Q/DQ) models: vsinfer converts what core.ort's own conversion would make invalid.

core.ort's fp16 conversion writes float16 QuantizeLinear / DequantizeLinear scales, which ONNX allows from opset 19
on: an opset-13 Q/DQ model (the zoo's ``compact_int8``) then fails in the plugin. ``ORT`` converts such a model
with ``vsinfer.conversion`` (Q/DQ scales kept in float32) and gives the plugin that copy with ``fp16=False``; every
other model is still converted by the plugin. All through the real core.ort, against onnxruntime float32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import vsinfer.backends.call as call_module
from tests.conftest import clip_from_planes, need_plugin, pattern, planes_of
from vsinfer import Backend
from vsinfer.backends.ort import QDQ_OPS
from vsinfer.model import graph_ops, model_info

ZOO_QDQ = Path(__file__).resolve().parents[1] / "data" / "zoo" / "compact_int8.onnx"
TOLERANCE = 3e-2
"""Largest difference from float32, relative to the output's range, for an fp16 run (the zoo's fp16 tolerance)."""


class Spy:
    """core.ort seen by ``inference``: records the arguments of every ``Model`` call, then makes the real call."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def Model(self, **args: Any) -> Any:  # noqa: N802 (the plugin's function name)
        self.calls.append({k: v for k, v in args.items() if k != "clips"})
        return self.real.Model(**args)


@pytest.fixture
def ort_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The arguments each ``core.ort.Model`` call of the test got (the real plugin runs)."""
    need_plugin("ort")
    import vapoursynth as vs

    spy = Spy(vs.core.ort)
    real_get = call_module.get_plugin
    monkeypatch.setattr(call_module, "get_plugin", lambda ns: spy if ns == "ort" else real_get(ns))
    yield spy.calls


@pytest.fixture(autouse=True)
def log_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-process log lines again."""
    import vsinfer.store.files as files_module

    monkeypatch.setattr(files_module, "_logged", set())


def onnxruntime_fp32(model: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime's float32 output of ``model`` for the (C, H, W) input ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x[None]})[0])[0]


def scale_types(path: str) -> set[int]:
    """The element types of the scales of the Q/DQ nodes of the model at ``path`` (initializers or Constants)."""
    proto = onnx.load(path)
    types = {i.name: i.data_type for i in proto.graph.initializer}
    types |= {n.output[0]: a.t.data_type for n in proto.graph.node if n.op_type == "Constant"
              for a in n.attribute if a.name == "value"}
    return {types[n.input[1]] for n in proto.graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[1] in types}


def has_half_weights(path: str) -> bool:
    """Whether the model at ``path`` holds float16 initializers (it was converted to fp16)."""
    return any(i.data_type == TensorProto.FLOAT16 for i in onnx.load(path).graph.initializer)


def qdq_model(path: Path, *, opset: int = 13, amplify: float = 1.0) -> Path:
    """A small Q/DQ model: quantized input, int8 Conv weights, float bias; ``amplify`` > 1e4 makes it overflow float16.

    The Conv's output is multiplied by ``amplify`` twice (``/amp/Mul``, ``/amp2/Mul``) and divided back, so the
    values between are ``amplify`` ** 2 times the picture's: beyond float16's range for the guard to find.
    """
    rng = np.random.default_rng(3)
    weight = rng.integers(-127, 128, (3, 3, 3, 3), dtype=np.int8)
    inits = [
        numpy_helper.from_array(np.float32(1 / 127), "x_scale"),
        numpy_helper.from_array(np.int8(0), "x_zero"),
        numpy_helper.from_array(weight, "w_q"),
        numpy_helper.from_array(np.float32(0.002), "w_scale"),
        numpy_helper.from_array(np.int8(0), "w_zero"),
        numpy_helper.from_array((rng.standard_normal(3) * 0.1).astype(np.float32), "bias"),
    ]
    # one constant per node: onnxconverter-common mistypes an initializer shared by a float32-kept and an fp16 node
    inits += [numpy_helper.from_array(np.float32(np.sqrt(amplify)), f"k{i}") for i in range(4)]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zero"], ["x_q"], name="/q/QuantizeLinear"),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"], name="/q/DequantizeLinear"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="/w/DequantizeLinear"),
        helper.make_node("Conv", ["x_dq", "w", "bias"], ["y"], pads=[1, 1, 1, 1], name="/conv/Conv"),
        helper.make_node("Mul", ["y", "k0"], ["y1"], name="/amp/Mul"),
        helper.make_node("Mul", ["y1", "k1"], ["y2"], name="/amp2/Mul"),
        helper.make_node("Div", ["y2", "k2"], ["y3"], name="/back/Div"),
        helper.make_node("Div", ["y3", "k3"], ["output"], name="/back2/Div"),
    ]
    graph = helper.make_graph(
        nodes, "qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def zoo_input() -> np.ndarray:
    """A (3, 32, 32) picture for the zoo model (its smallest size)."""
    return pattern(3, 32, 32, seed=7)


def assert_fp16_picture(got: np.ndarray, ref: np.ndarray) -> None:
    """Within the fp16 tolerance of float32, and not float32 itself (the run really computed in fp16)."""
    error = float(np.abs(got.astype(np.float64) - ref).max())
    assert error <= TOLERANCE * max(1.0, float(np.abs(ref).max())), error
    assert error > 0, "bit-identical to float32: the model did not run in fp16"


@pytest.mark.parametrize("guard", [True, False], ids=["guard-on", "guard-off"])
def test_qdq_zoo_model_runs_in_fp16(guard: bool, ort_calls: list[dict[str, Any]],
                                    caplog: pytest.LogCaptureFixture) -> None:
    """The opset-13 Q/DQ zoo model in fp16: the right picture, core.ort given vsinfer's fp16 copy and fp16=False."""
    import vapoursynth as vs

    x = zoo_input()
    with caplog.at_level(logging.DEBUG, logger="vsinfer.backends.ort"):  # INFO once per process, then DEBUG
        out = Backend.ORT_CPU(fp16=True, fp16_guard=guard).inference(clip_from_planes(x, vs.RGBS), ZOO_QDQ)
        assert_fp16_picture(planes_of(out), onnxruntime_fp32(ZOO_QDQ, x))
    assert out.format.id == vs.RGBS  # float32 in, float32 out
    [call] = ort_calls
    assert call["fp16"] == 0
    network = call["network_path"]
    assert Path(network) != ZOO_QDQ
    assert has_half_weights(network), "the plugin got a model that is not fp16 inside"
    assert scale_types(network) == {TensorProto.FLOAT}, "Q/DQ scales must stay float32 in opset 13"
    assert "is a quantized (Q/DQ) model of opset 13" in caplog.text


@pytest.mark.parametrize("opset", [19, 21])
def test_qdq_models_of_later_opsets_run_vsinfers_copy_too(opset: int, tmp_path: Path,
                                                        ort_calls: list[dict[str, Any]]) -> None:
    """From opset 19 on core.ort's float16 scales are valid but wrong (0.12 from float32): vsinfer's copy instead."""
    import vapoursynth as vs
    from onnx import version_converter

    path = tmp_path / f"compact_int8_{opset}.onnx"
    onnx.save(version_converter.convert_version(onnx.load(ZOO_QDQ), opset), path)
    x = zoo_input()
    out = Backend.ORT_CPU(fp16=True).inference(clip_from_planes(x, vs.RGBS), path)
    assert_fp16_picture(planes_of(out), onnxruntime_fp32(path, x))
    [call] = ort_calls
    assert call["fp16"] == 0 and has_half_weights(call["network_path"])
    assert scale_types(call["network_path"]) == {TensorProto.FLOAT}


def test_half_clips_get_a_half_io_copy(ort_calls: list[dict[str, Any]]) -> None:
    """Half-float clips: the copy takes and gives float16 (half in, half out), still exact within fp16."""
    import vapoursynth as vs

    x = zoo_input()
    half = vs.core.resize.Point(clip_from_planes(x, vs.RGBS), format=vs.RGBH)
    out = Backend.ORT_CPU(fp16=True).inference(half, ZOO_QDQ)
    assert out.format.id == vs.RGBH
    ref = onnxruntime_fp32(ZOO_QDQ, planes_of(half))
    assert_fp16_picture(planes_of(out), ref)
    [call] = ort_calls
    assert call["fp16"] == 0 and model_info(call["network_path"]).fp16_io


def test_the_copy_is_cached_and_prebuilt(ort_calls: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    """``prebuild`` leaves the copy ``inference`` runs in the store; the next call converts nothing."""
    import vapoursynth as vs

    backend = Backend.ORT_CPU(fp16=True)
    built = backend.prebuild(ZOO_QDQ, 3, (32, 32), bits=32)
    assert built != ZOO_QDQ and has_half_weights(str(built))
    with caplog.at_level(logging.INFO, logger="vsinfer.conversion"):
        backend.inference(clip_from_planes(zoo_input(), vs.RGBS), ZOO_QDQ).get_frame(0)
    assert [Path(c["network_path"]) for c in ort_calls] == [built]
    assert "converting" not in caplog.text


def test_the_guard_still_keeps_nodes_of_a_qdq_model(tmp_path: Path, ort_calls: list[dict[str, Any]],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A Q/DQ model that overflows float16: the guard's block list is applied, with Q/DQ still in float32."""
    import vapoursynth as vs

    path = qdq_model(tmp_path / "qdq_overflow.onnx", amplify=1e6)
    x = pattern(3, 24, 24, seed=2)
    with caplog.at_level(logging.INFO, logger="vsinfer"):
        out = Backend.ORT_CPU(fp16=True).inference(clip_from_planes(x, vs.RGBS), path)
        got = planes_of(out)
    assert np.isfinite(got).all()
    assert_fp16_picture(got, onnxruntime_fp32(path, x))
    assert "keeps" in caplog.text and "/amp2/Mul" in caplog.text  # the guard's own path decided
    [call] = ort_calls
    assert call["fp16"] == 0
    assert has_half_weights(call["network_path"])
    assert scale_types(call["network_path"]) == {TensorProto.FLOAT}
    constants = {i.name: i.data_type for i in onnx.load(call["network_path"]).graph.initializer}
    assert constants["k1"] == TensorProto.FLOAT, "the overflowing /amp2/Mul was not kept in float32"
    assert constants["k0"] == TensorProto.FLOAT16, "/amp/Mul (no overflow) should compute in fp16"


def test_a_plain_model_is_still_converted_by_the_plugin(make_model: Any, ort_calls: list[dict[str, Any]]) -> None:
    """A model without Q/DQ nodes: core.ort gets the file itself with fp16=1, as before."""
    import vapoursynth as vs

    path = make_model(3, 3)
    assert not QDQ_OPS & set(graph_ops(model_info(path)).op_types)
    x = pattern(3, 16, 16)
    out = Backend.ORT_CPU(fp16=True).inference(clip_from_planes(x, vs.RGBS), path)
    assert_fp16_picture(planes_of(out), onnxruntime_fp32(path, x))
    [call] = ort_calls
    assert call["fp16"] == 1 and Path(call["network_path"]) == path


def test_fp32_runs_of_a_qdq_model_are_untouched(ort_calls: list[dict[str, Any]]) -> None:
    """fp16=False: the Q/DQ model goes to core.ort as it is, and is exact."""
    import vapoursynth as vs

    x = zoo_input()
    out = Backend.ORT_CPU().inference(clip_from_planes(x, vs.RGBS), ZOO_QDQ)
    np.testing.assert_allclose(planes_of(out), onnxruntime_fp32(ZOO_QDQ, x), atol=1e-5)
    [call] = ort_calls
    assert call["fp16"] == 0 and Path(call["network_path"]) == ZOO_QDQ


def test_graph_ops_reads_the_q_dq_ops_and_the_opset(tmp_path: Path) -> None:
    """The op types decide; the opset is read with them."""
    for path, opset in ((ZOO_QDQ, 13), (qdq_model(tmp_path / "q19.onnx", opset=19), 19)):
        ops = graph_ops(model_info(path))
        assert set(ops.op_types) >= QDQ_OPS and ops.opset == opset


def test_a_failed_conversion_runs_in_float32(monkeypatch: pytest.MonkeyPatch, ort_calls: list[dict[str, Any]],
                                             caplog: pytest.LogCaptureFixture) -> None:
    """If vsinfer's conversion fails, the safe path: the model as it is in float32 (half clips too), with a warning."""
    import vapoursynth as vs

    import vsinfer.backends.ort.backend as ort_module

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise RuntimeError("conversion broke")

    monkeypatch.setattr(ort_module, "converted", broken)
    x = zoo_input()
    half = vs.core.resize.Point(clip_from_planes(x, vs.RGBS), format=vs.RGBH)
    with caplog.at_level(logging.DEBUG, logger="vsinfer.backends.ort"):
        out = Backend.ORT_CPU(fp16=True).inference(half, ZOO_QDQ)
        got = planes_of(out)
    assert out.format.id == vs.RGBH  # half in, half out
    ref = onnxruntime_fp32(ZOO_QDQ, planes_of(half))
    np.testing.assert_allclose(got, ref, atol=2e-3)  # float32 computed, rounded to half on output
    assert "conversion broke" in caplog.text and "runs in float32" in caplog.text
    [call] = ort_calls
    assert call["fp16"] == 0 and Path(call["network_path"]) == ZOO_QDQ
