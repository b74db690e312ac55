from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.conftest import ModelFactory, pattern, reference
from vsinfer.engine.convert import convert_model
from vsinfer.engine.store import Store
from vsinfer.model import model_info


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
