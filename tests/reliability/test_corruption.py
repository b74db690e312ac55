"""Damaged cache files are detected (logged once) and rebuilt; an intact one touched on disk is still a hit."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import zlib
from pathlib import Path

import onnx
import pytest

import vsinfer.model as model_module
from tests.backends.trt import fake_tensorrt
from tests.conftest import ModelFactory, need_module
from tests.reliability.conftest import assert_committed, files
from vsinfer import Backend

pytestmark = [
    pytest.mark.slow,
    # the TRT stand-in takes its timing cache from tensorrt_rtx, where those calls are deprecated no-ops
    pytest.mark.filterwarnings("ignore:Use Deprecated in TensorRT-RTX:DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make())


def zero_100_bytes(path: Path) -> None:
    """Zero 100 bytes in the middle of ``path``, in place: the size stays."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(bytes(100))


def store_says(caplog: pytest.LogCaptureFixture, *words: str) -> int:
    """How many store log lines contain all ``words``."""
    return len([r for r in caplog.records
                if r.name == "vsinfer.store" and all(w in r.getMessage() for w in words)])


def build(model: Path, **fields: object) -> Path:
    return Backend.TRT_RTX(fp16=False, **fields).build_engine(model, 3, (32, 32))  # type: ignore[arg-type]


@pytest.mark.parametrize("damage", ["truncated", "zeroed, mtime restored", "zeroed, mtime changed"])
def test_damaged_engine_is_rebuilt(damage: str, make_model: ModelFactory, builds: list[Path],
                                   caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = build(model)
    good = engine.read_bytes()
    recorded = json.loads(engine.with_suffix(".json").read_text())["mtime_ns"]
    if damage == "truncated":
        with open(engine, "r+b") as f:
            f.truncate(1000)
    else:
        zero_100_bytes(engine)
        if damage == "zeroed, mtime restored":
            os.utime(engine, ns=(recorded, recorded))
            assert engine.stat().st_mtime_ns == recorded and engine.stat().st_size == len(good)
    assert engine.read_bytes() != good
    assert build(model) == engine
    assert len(builds) == 2
    assert_committed(engine)
    assert store_says(caplog, str(engine), "rebuilt") == 1
    assert build(model) == engine and len(builds) == 2  # and then it is a plain hit again


def test_touched_engine_is_verified_once_and_kept(make_model: ModelFactory, builds: list[Path],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = build(model)
    os.utime(engine, ns=(1, 2 * 10**18))  # e.g. a backup tool restored it with other times
    with caplog.at_level(logging.INFO, logger="vsinfer.store"):
        for _ in range(3):
            assert build(model) == engine
    assert len(builds) == 1
    assert store_says(caplog, "content matches its record") == 1
    assert_committed(engine)


def test_foreign_sidecar_is_rebuilt(make_model: ModelFactory, builds: list[Path],
                                    caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = build(model)
    other = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (48, 32))
    shutil.copy(other.with_suffix(".json"), engine.with_suffix(".json"))  # a sidecar of another build
    assert build(model) == engine and len(builds) == 3
    record = assert_committed(engine)
    assert record["identity"]["profile"]["opt"] == [32, 32]
    assert store_says(caplog, "belongs to another build") == 1


def test_sidecar_without_engine_is_rebuilt(make_model: ModelFactory, builds: list[Path],
                                           caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = build(model)
    engine.unlink()
    assert build(model) == engine and len(builds) == 2
    assert_committed(engine)
    assert store_says(caplog, "is missing although its sidecar is there") == 1


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 20])
def test_bad_timing_cache_is_discarded(content: bytes, standin: None, make_model: ModelFactory,
                                       builds: list[Path], isolated_cache: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    timing = isolated_cache / "trt" / "timing-Test_RTX_4090-8.9-11.4.0.cache"
    timing.parent.mkdir(parents=True)
    timing.write_bytes(content)  # empty, or without a commit record
    engine = Backend.TRT(fp16=False).build_engine(make_model(3, 3), 3, (32, 32))
    assert_committed(engine)
    assert len(builds) == 1
    assert store_says(caplog, str(timing), "discarding") == 1
    record = json.loads(timing.with_suffix(".json").read_text())  # saved again, with its record
    assert record["size"] == timing.stat().st_size > 0 and record["crc32"] == zlib.crc32(timing.read_bytes())
    assert record["meta"]["kind"] == "timing cache"
    caplog.clear()
    Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))  # a second build reads it back without a word
    assert "discarding" not in caplog.text
    assert not [f for f in files(isolated_cache) if f.endswith((".lock", ".tmp"))]


def test_corrupt_converted_model_is_converted_again(make_model: ModelFactory, builds: list[Path],
                                                    isolated_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = Backend.TRT_RTX(fp16=True).build_engine(model, 3, (32, 32))
    [converted] = (isolated_cache / "onnx").glob("*.onnx")
    good = converted.read_bytes()
    zero_100_bytes(converted)
    with caplog.at_level(logging.INFO):
        assert Backend.TRT_RTX(fp16=True, force_rebuild=True).build_engine(model, 3, (32, 32)) == engine
    assert len(builds) == 2 and builds[1] == converted
    assert converted.read_bytes() == good  # converted again, identically
    onnx.checker.check_model(onnx.load(converted))
    assert caplog.text.count("converting") == 1
    assert store_says(caplog, str(converted), "other content", "rebuilt") == 1


@pytest.mark.parametrize("damage", ["not JSON", "wrong checksum"])
def test_corrupt_model_memo_is_read_again(damage: str, make_model: ModelFactory, builds: list[Path],
                                          isolated_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    engine = build(model)
    [memo] = (isolated_cache / "models").glob("*.json")
    if damage == "not JSON":
        memo.write_bytes(b"\x00" * 50)
    else:  # valid JSON that lies about the model: trusted, it would name another engine
        record = json.loads(memo.read_text())
        record["info"]["checksum"] ^= 1
        memo.write_text(json.dumps(record))
    monkeypatch.setattr(model_module, "_memo", {})  # a new process: only the on-disk memo is left
    assert build(model) == engine and len(builds) == 1  # the same engine: the model was read again
    assert caplog.text.count("is not usable") == 1
    caplog.clear()
    monkeypatch.setattr(model_module, "_memo", {})
    assert build(model) == engine
    assert "is not usable" not in caplog.text  # the memo was written again, intact
