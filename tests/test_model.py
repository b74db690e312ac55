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


def test_op_types_and_opset_are_facts_of_the_model(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read with the model (no second parse); a memo written before they existed stays valid and reads them lazily."""
    import json
    import zlib

    from vsinfer.store.records import canonical_json

    path = make_model(3, 3)
    info = model_info(path)
    assert info.graph == model_module.GraphOps(("Conv",), 17)
    assert model_module.graph_ops(info) is info.graph
    memo = next((Path(model_module.model_memo().store.folder("models"))).glob("*.json"))
    record = json.loads(memo.read_text())
    for key in ("op_types", "opset"):  # as an older vsinfer wrote it
        del record["info"][key]
    record["crc32"] = zlib.crc32(canonical_json(record["info"]).encode())
    memo.write_text(json.dumps(record))
    model_module._memo.clear()
    monkeypatch.setattr(model_module, "read_model", lambda p: pytest.fail("the older memo was not used"))
    older = model_info(path)
    assert older.graph is None and older.inputs == info.inputs
    assert model_module.graph_ops(older) == info.graph  # read from the file, once
