from __future__ import annotations

from pathlib import Path

import pytest
from onnx import TensorProto

from tests.conftest import ModelFactory
from vsinfer import model as model_module
from vsinfer.model import ModelInfo, model_info, read_model


def test_reads_names_channels_types_and_dynamic_dims(make_model: ModelFactory) -> None:
    path = make_model(4, 2, input_name="lq", elem_type=TensorProto.FLOAT16)
    info = model_info(path)
    tensor = info.input()
    assert tensor.name == "lq" and tensor.channels == 4 and tensor.shape == (1, 4, None, None)
    assert info.fp16_io and tensor.type_name == "float16"
    assert info.checksum == read_model(path).checksum and info.checksum.bit_length() > 32  # a content digest
    assert info.outputs[0].channels == 2


def test_static_dims(make_model: ModelFactory) -> None:
    info = model_info(make_model(3, 3, size=(40, 30)))
    assert info.input().spatial == (40, 30)


def test_read_once_per_process_and_remembered_on_disk(
    make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_model(3, 3)
    first = model_info(path)
    calls: list[Path] = []
    real = model_module.read_model
    monkeypatch.setattr(model_module, "read_model", lambda p: calls.append(p) or real(p))
    assert model_info(path) is first
    model_module._memo.clear()  # a new process: the on-disk memo answers
    assert model_info(path) == first and calls == []
    path.write_bytes(path.read_bytes())  # rewritten: new mtime, read again
    model_module._memo.clear()
    model_info(path)
    assert calls == [path]


def test_json_round_trip(make_model: ModelFactory) -> None:
    info = model_info(make_model(3, 3))
    assert ModelInfo.from_json(info.to_json()) == info


def test_wrong_input_name_lists_inputs(make_model: ModelFactory) -> None:
    info = model_info(make_model(3, 3, input_name="x"))
    assert info.input("x").name == "x"
    assert info.input("input").name == "x"  # a single-input model: its only input
