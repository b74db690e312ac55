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


# -- the models' own casts, Q/DQ scales, quantized biases (the zoo: tests/data/zoo, tools/make_zoo.py) -----------
ZOO = Path(__file__).resolve().parent / "data" / "zoo"


def strictly_typed(model: onnx.ModelProto) -> None:
    """Every node's input and output types agree, as a strongly typed parser (TensorRT) requires."""
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def own_cast(path: Path) -> Path:
    """x -> Mul(x, x) -> Cast(to=float) -> Add(x, .) -> output: the shape of LayerNorm / attention-mask code."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "input"], ["sq"], name="/mul"),
         helper.make_node("Cast", ["sq"], ["sq_f"], to=TensorProto.FLOAT, name="/cast"),
         helper.make_node("Add", ["input", "sq_f"], ["output"], name="/add")],
        "cast",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("io", ["fp16", "fp32"])
def test_the_models_own_cast_to_float_follows_the_conversion(tmp_path: Path, io: str) -> None:
    info = model_info(own_cast(tmp_path / "cast.onnx"))
    model = onnx.load(convert_model(info, "fp16", (), Store(), io=io))
    strictly_typed(model)  # a Cast(to=float) left as it was meets a half tensor in the Add
    cast = next(n for n in model.graph.node if n.name == "/cast")
    assert cast.attribute[0].i == onnx.TensorProto.FLOAT16
    x = pattern(3, 8, 8)[None]
    out = reference(convert_model(info, "fp16", (), Store(), io=io), x.astype(np.float16) if io == "fp16" else x)
    np.testing.assert_allclose(out.astype(np.float32), x + x * x, atol=1e-2)


def test_a_cast_feeding_a_kept_node_reaches_it_in_float32(tmp_path: Path) -> None:
    info = model_info(own_cast(tmp_path / "cast.onnx"))
    path = convert_model(info, "fp16", ["/add"], Store())
    model = onnx.load(path)
    strictly_typed(model)
    add = next(n for n in model.graph.node if n.name == "/add")
    types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    assert all(types.get(i, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT for i in add.input)
    x = pattern(3, 8, 8)[None]
    np.testing.assert_allclose(reference(path, x.astype(np.float16)).astype(np.float32), x + x * x, atol=1e-2)


@pytest.mark.parametrize("name", ["swinir", "hat", "dat", "omnisr", "restormer", "scunet", "compact_int8", "fbcnn"])
def test_zoo_models_convert_to_strictly_typed_graphs(name: str) -> None:
    info = model_info(ZOO / f"{name}.onnx")
    for io in ("fp16", "fp32"):
        strictly_typed(onnx.load(convert_model(info, "fp16", (), Store(), io=io)))


@pytest.mark.parametrize("opset", [13, 19, 21])
def test_qdq_scales_stay_float32_at_every_opset(opset: int, tmp_path: Path) -> None:
    """Opset 13 DequantizeLinear takes float32 scales only; from 19 on float16 scales are allowed but inexact
    (0.12 from float32 on this model), so they stay float32 too. The int32 biases become float32 constants."""
    from onnx import version_converter

    path = ZOO / "compact_int8.onnx"
    if opset != 13:
        path = tmp_path / f"compact_int8_{opset}.onnx"
        onnx.save(version_converter.convert_version(onnx.load(ZOO / "compact_int8.onnx"), opset), path)
    info = model_info(path)
    model = onnx.load(convert_model(info, "fp16", (), Store()))
    onnx.checker.check_model(model, full_check=True)
    inits = {i.name: i for i in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert dq and all(inits[n.input[1]].data_type == onnx.TensorProto.FLOAT for n in dq if n.input[1] in inits)
    assert all(inits[n.input[0]].data_type != onnx.TensorProto.INT32 for n in dq if n.input[0] in inits)
    import onnxruntime as ort

    x = pattern(3, 16, 16)[None]
    want = ort.InferenceSession(str(info.path)).run(None, {"input": x})[0]
    got = ort.InferenceSession(str(convert_model(info, "fp16", (), Store(), io="fp32"))).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, atol=3e-2)


def test_without_identity_rewires_readers_and_keeps_an_output_identity(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    from vsinfer.conversion import without_identity

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["a"], name="/id1"),
         helper.make_node("Identity", ["a"], ["b"], name="/id2"),  # a chain
         helper.make_node("Add", ["b", "input"], ["s"], name="/add"),
         helper.make_node("Identity", ["s"], ["output"], name="/out")],  # produces the graph output: stays
        "ids",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "ids.onnx")
    info = model_info(tmp_path / "ids.onnx")
    path = without_identity(info, Store())
    assert without_identity(info, Store()) == path  # kept in the store
    nodes = onnx.load(path).graph.node
    assert [n.name for n in nodes] == ["/add", "/out"] and list(nodes[0].input) == ["input", "input"]
    x = pattern(3, 8, 8)[None]
    np.testing.assert_allclose(reference(path, x), 2 * x)


def test_a_constant_shared_by_a_kept_node_and_an_fp16_node_gets_a_copy(tmp_path: Path) -> None:
    """``k`` read by /mul_a (kept in float32) and /mul_b (fp16): each gets its own type, and the model loads."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k = numpy_helper.from_array(np.array(2.0, np.float32), "k")
    nodes = [helper.make_node("Mul", ["x", "k"], ["a"], name="/mul_a"),
             helper.make_node("Mul", ["a", "k"], ["b"], name="/mul_b"),
             helper.make_node("Relu", ["b"], ["y"], name="/relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], [k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "shared.onnx")
    path = convert_model(model_info(tmp_path / "shared.onnx"), "fp16", ["/mul_a"], Store(), io="fp32")
    converted = onnx.load(path)
    onnx.checker.check_model(converted, full_check=True)
    types = {i.name: i.data_type for i in converted.graph.initializer}
    assert types["k_float32"] == TensorProto.FLOAT and TensorProto.FLOAT16 in types.values()
    x = pattern(3, 4, 4)[None]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, np.maximum(4 * x, 0), rtol=1e-3)
