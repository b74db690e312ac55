from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.conftest import ModelFactory, pattern, reference
from tests.trt_fixtures import builds, known_device  # noqa: F401 (fixtures: the injected device, the build counter)
from vsinfer.conversion import convert_model
from vsinfer.model import model_info
from vsinfer.store import Store


def test_fp16_conversion_is_cached_and_correct(make_model: ModelFactory) -> None:
    store = Store()
    info = model_info(make_model(3, 3))
    path = convert_model(info, "fp16", (), store)
    assert convert_model(info, "fp16", (), store) == path
    converted = onnx.load(path)
    assert converted.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    x = pattern(3, 16, 16)[None]
    np.testing.assert_allclose(reference(path, x.astype(np.float16)).astype(np.float32),
                               reference(info.path, x), atol=2e-2)  # type: ignore[arg-type]


def test_bf16_passes_the_checker_with_half_io(make_model: ModelFactory) -> None:
    info = model_info(make_model(3, 3))
    path = convert_model(info, "bf16", (), Store())
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert {i.data_type for i in model.graph.initializer} == {onnx.TensorProto.BFLOAT16}


def test_block_list_keeps_named_nodes_in_float32(make_model: ModelFactory) -> None:
    info = model_info(make_model(3, 3))
    path = convert_model(info, "fp16", ["/body/conv0/Conv"], Store())
    model = onnx.load(path)
    assert path.name.startswith(f"{info.checksum:08x}-fp16-")
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weights = {i.name: i.data_type for i in model.graph.initializer}
    assert weights[conv.input[1]] == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_different_options_different_files(make_model: ModelFactory, precision: str) -> None:
    info = model_info(make_model(3, 3))
    assert convert_model(info, precision, (), Store()) != convert_model(info, precision, ["Conv"], Store())


def two_convs(path: Path) -> Path:
    """Conv -> Relu -> Conv, node names /conv1, /relu, /conv2 (float32)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((4, 3, 3, 3)) * 0.2).astype(np.float32)
    w2 = (rng.standard_normal((3, 4, 3, 3)) * 0.2).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "W1"], ["h"], pads=[1] * 4, name="/conv1"),
         helper.make_node("Relu", ["h"], ["r"], name="/relu"),
         helper.make_node("Conv", ["r", "W2"], ["output"], pads=[1] * 4, name="/conv2")],
        "two",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def io_types(model: onnx.ModelProto) -> tuple[int, int]:
    return model.graph.input[0].type.tensor_type.elem_type, model.graph.output[0].type.tensor_type.elem_type


@pytest.mark.parametrize("io", ["fp16", "fp32"])
@pytest.mark.parametrize("block", [["/conv1"], ["/conv2"], ["Conv"]])
def test_bf16_with_a_block_list(tmp_path: Path, block: list[str], io: str) -> None:
    info = model_info(two_convs(tmp_path / "two.onnx"))
    path = convert_model(info, "bf16", block, Store(), io=io)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    half = onnx.TensorProto.FLOAT16 if io == "fp16" else onnx.TensorProto.FLOAT
    assert io_types(model) == (half, half)
    weights = {i.name: i.data_type for i in model.graph.initializer}
    kept = {"/conv1": {"W1"}, "/conv2": {"W2"}, "Conv": {"W1", "W2"}}[block[0]]
    assert weights == {w: onnx.TensorProto.FLOAT if w in kept else onnx.TensorProto.BFLOAT16 for w in ("W1", "W2")}
    x = pattern(3, 16, 16)[None]
    out = reference(path, x.astype(np.float16) if io == "fp16" else x).astype(np.float32)
    np.testing.assert_allclose(out, reference(info.path, x), atol=5e-2)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_float32_io_stays_float32_when_the_last_node_is_blocked(tmp_path: Path, precision: str) -> None:
    info = model_info(two_convs(tmp_path / "two.onnx"))
    model = onnx.load(convert_model(info, precision, ["/conv2"], Store(), io="fp32"))
    onnx.checker.check_model(model, full_check=True)
    assert io_types(model) == (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT)


def test_block_list_shared_across_models(make_model: ModelFactory, caplog: pytest.LogCaptureFixture) -> None:
    info = model_info(make_model(3, 3))
    plain = convert_model(info, "fp16", (), Store()).read_bytes()
    # an op type this model does not use: fine, silently
    assert convert_model(info, "fp16", ["Softmax"], Store()).read_bytes() == plain
    assert "fp16_blacklist_ops" not in caplog.text
    # neither an op type nor a node name of this model: a warning that names it; the entry is ignored
    assert convert_model(info, "fp16", ["Softmax", "NoSuchOp"], Store()).read_bytes() == plain
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "fp16_blacklist_ops" in warning.getMessage() and "'NoSuchOp'" in warning.getMessage()
    assert "Softmax" not in warning.getMessage().split(";")[0]


def test_converted_model_is_committed_with_meta(make_model: ModelFactory) -> None:
    import json
    import zlib

    info = model_info(make_model(3, 3))
    path = convert_model(info, "fp16", ["Conv"], Store())
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["crc32"] == zlib.crc32(path.read_bytes()) and record["size"] == path.stat().st_size
    assert record["meta"] == {"model": Path(info.path).name, "precision": "fp16", "io": "fp16",
                              "fp16_blacklist_ops": ["Conv"], "source_crc32": info.checksum,
                              "kind": "converted model"}


def test_tensorrt_rtx_builds_bf16_with_a_shared_block_list(tmp_path: Path, builds: list[Path]) -> None:  # noqa: F811
    from tests.conftest import need_module
    from vsinfer import Backend

    need_module("tensorrt_rtx")
    model = two_convs(tmp_path / "two.onnx")
    engine = Backend.TRT_RTX(bf16=True, fp16_blacklist_ops=["/conv2", "Softmax"]).build_engine(model, 3, (32, 32))
    assert engine.stat().st_size > 1000 and len(builds) == 1
    converted = onnx.load(builds[0])
    assert {i.name: i.data_type for i in converted.graph.initializer} == {
        "W1": onnx.TensorProto.BFLOAT16, "W2": onnx.TensorProto.FLOAT}
