"""The records layer: every JSON fact the cache holds round-trips; anything else is a logged miss, never an error."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import vsinfer.fp16.analysis as analysis_module
import vsinfer.model as model_module
from tests.conftest import ModelFactory
from vsinfer.store import Store
from vsinfer.store.records import (
    MAX_BYTES,
    MAX_DEPTH,
    AnalysisFacts,
    AnalysisRecord,
    BackendSpec,
    ChoiceFacts,
    CommitRecord,
    DecisionRecord,
    Miss,
    ModelFacts,
    ModelMemoRecord,
    OverflowFacts,
    TensorFacts,
    TimingFacts,
    dump,
    encode,
    load,
    read,
    read_object,
)

# -- one valid record of each kind ---------------------------------------------------------------------------


def commit() -> CommitRecord:
    return CommitRecord(identity={"backend": "x", "profile": {"min": [8, 8], "opt": [16, 16], "max": [32, 32]}},
                        size=12, mtime_ns=1_700_000_000_000_000_000, ctime_ns=1_700_000_000_000_000_001,
                        crc32=0xDEADBEEF, meta={"model": "m.onnx", "precision": "fp16"})


def memo() -> ModelMemoRecord:
    tensor = TensorFacts(name="input", elem_type=1, shape=(1, 3, None, None))
    info = ModelFacts(path="/models/m.onnx", checksum=123, inputs=(tensor,),
                      outputs=(TensorFacts(name="output", elem_type=1, shape=(1, 3, None, None)),),
                      foreign_ops=())
    return ModelMemoRecord.seal(("/models/m.onnx", 1000, 5, 6, 7, 8), info)


def analysis() -> AnalysisRecord:
    node = OverflowFacts(name="/conv", op_type="Conv", reason="output", max_abs="inf", tensors=("t1",))
    facts = AnalysisFacts(model_crc32=7, samples="a synthetic 256x256 mosaic", max_abs=1.5e5, nodes=(node,),
                          seconds=0.25)
    return AnalysisRecord(identity={"v": 1, "model_crc32": 7, "limit": 16376.0}, meta={"kind": "fp16 analysis"},
                          analysis=facts)


def decision() -> DecisionRecord:
    spec = BackendSpec(backend_class="SomeBackend", fields={"num_streams": 2, "shapes": [[1, 2], [3, 4]]})
    timing = TimingFacts(backend=spec, tilesize=(32, 24), fps="inf", first_frame_s=0.5, frames=3,
                         max_abs_diff=1e-5, label="SomeBackend(num_streams=2)")
    return DecisionRecord(key={"version": 1, "model_crc32": 7, "machine": {"cpu": "x", "plugins": {}}},
                          choice=ChoiceFacts(backend=spec, tilesize=None, fps=12.5), timings=(timing,),
                          seconds=1.5, created="2026-01-01T00:00:00+0000", meta={"model": "m.onnx"})


KINDS: dict[str, tuple[Callable[[], Any], str, str]] = {
    # kind: (a valid record, a field to drop, a free-form (or keyed) field to nest deeply)
    "commit": (commit, "crc32", "identity"),
    "memo": (memo, "info", "key"),
    "analysis": (analysis, "analysis", "identity"),
    "decision": (decision, "choice", "key"),
}
WRONG_TYPE: dict[str, tuple[str, Any]] = {
    "commit": ("size", "12"),
    "memo": ("crc32", "not a number"),
    "analysis": ("meta", [1, 2]),
    "decision": ("timings", {"not": "a list"}),
}


def deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = {"a": value}
    return value


def deep_json(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


def warnings_about(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and str(path) in r.getMessage()]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_round_trips(tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    make = KINDS[kind][0]
    record = make()
    path = tmp_path / f"{kind}.json"
    dump(path, record)
    assert load(path, type(record)) == record
    assert json.loads(path.read_text()) == json.loads(msgspec.json.encode(record))  # plain JSON, sorted keys
    assert list(json.loads(path.read_text())) == sorted(json.loads(path.read_text()))
    assert not caplog.records


def bad_contents(kind: str) -> dict[str, bytes]:
    """Damaged files for ``kind``: each must read as a miss."""
    make, missing, nested = KINDS[kind]
    good: dict[str, Any] = msgspec.to_builtins(make())
    wrong_field, wrong_value = WRONG_TYPE[kind]
    dropped = {k: v for k, v in good.items() if k != missing}
    return {
        "not JSON": b"\x00{not json" * 5,
        "truncated": encode(make())[:-7],
        "an array": json.dumps([good]).encode(),
        "a wrong type": json.dumps({**good, wrong_field: wrong_value}).encode(),
        "a missing field": json.dumps(dropped).encode(),
        "2 MiB": json.dumps({**good, "padding": "x" * (2 << 20)}).encode(),
        "10 000 deep": json.dumps({k: v for k, v in good.items() if k != nested})[:-1].encode()
        + f', "{nested}": {deep_json(10_000)}}}'.encode(),
        f"{MAX_DEPTH + 8} deep": json.dumps({**good, nested: deep(MAX_DEPTH + 8)}).encode(),
    }


CASES = [(kind, case) for kind in KINDS for case in bad_contents(kind)]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_damaged_records_are_a_logged_miss(tmp_path: Path, kind: str, case: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    schema = type(KINDS[kind][0]())
    path = tmp_path / "record.json"
    path.write_bytes(bad_contents(kind)[case])
    found = read(path, schema)
    assert isinstance(found, Miss) and found.code in ("corrupt", "shape"), found
    for _ in range(3):
        assert load(path, schema) is None
    said = warnings_about(caplog, path)
    assert len(said) == 1 and "is not usable" in said[0] and schema.KIND in said[0], said
    assert read_object(path) is None or case in ("a wrong type", "a missing field")


def test_size_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: as large as it says, nothing to read
    reads: list[int] = []
    real = os.fdopen

    def spy(*args: Any, **kwargs: Any) -> Any:
        f = real(*args, **kwargs)
        reads.append(1)
        return f

    monkeypatch.setattr(os, "fdopen", spy)
    found = read(path, CommitRecord)
    assert isinstance(found, Miss) and "too large" in found.reason
    assert reads == [1]  # opened once, then refused by its fstat size


def test_absence_is_a_quiet_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "none.json"
    with caplog.at_level(logging.DEBUG, logger="vsinfer.store"):
        assert load(path, DecisionRecord) is None
    found = read(path, DecisionRecord)
    assert isinstance(found, Miss) and found.code == "absent"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


def test_a_folder_or_a_fifo_is_a_miss_without_waiting(tmp_path: Path) -> None:
    folder = tmp_path / "folder.json"
    folder.mkdir()
    assert isinstance(read(folder, CommitRecord), Miss)
    if sys.platform != "win32":
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)
        found = read(fifo, CommitRecord)  # a blocking open would wait for a writer forever
        assert isinstance(found, Miss) and "regular file" in found.reason


def test_memo_checksum_must_match_its_content(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "memo.json"
    data = msgspec.to_builtins(memo())
    data["info"]["checksum"] += 1
    path.write_text(json.dumps(data))
    assert load(path, ModelMemoRecord) is None
    assert "checksum differs" in warnings_about(caplog, path)[0]


def test_non_finite_numbers_round_trip(tmp_path: Path) -> None:
    from vsinfer.store.records import real, to_float

    for value in (math.inf, -math.inf, 1.5):
        assert to_float(real(value)) == value
    assert math.isnan(to_float(real(math.nan)))
    path = tmp_path / "decision.json"
    dump(path, decision())
    loaded = load(path, DecisionRecord)
    assert loaded is not None and loaded.timings[0].fps == "inf"


def test_a_damaged_sidecar_is_rebuilt_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    ident = {"what": "records test"}
    path = store.get_or_create("trt", ".engine", ident, lambda tmp: b"first")
    sidecar = path.with_suffix(".json")
    for content in (b"[]", json.dumps({"identity": deep(MAX_DEPTH + 5)}).encode(), b" " * (MAX_BYTES + 10)):
        sidecar.write_bytes(content)
        assert store.lookup("trt", ".engine", ident) is None
        calls: list[Path] = []

        def create(tmp: Path, calls: list[Path] = calls) -> bytes:
            calls.append(tmp)
            return b"again"

        assert store.get_or_create("trt", ".engine", ident, create) == path
        assert calls and path.read_bytes() == b"again"
    assert any("has a commit record from an older vsinfer or of another shape" in r.getMessage()
               for r in caplog.records)
    assert any("has a corrupt sidecar" in r.getMessage() and "too large" in r.getMessage() for r in caplog.records)


# -- through the real callers --------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["an array", "a wrong type", "deep", "another path"])
def test_corrupt_model_memo_reads_the_model_again(damage: str, make_model: ModelFactory, isolated_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    reads: list[Path] = []
    real = model_module.read_model
    monkeypatch.setattr(model_module, "read_model", lambda path: (reads.append(path), real(path))[1])
    info = model_module.model_info(model)
    [file] = (isolated_cache / "models").glob("*.json")
    data = json.loads(file.read_text())
    if damage == "an array":
        file.write_text(json.dumps([data]))
    elif damage == "a wrong type":
        file.write_text(json.dumps({**data, "key": {"path": str(model)}}))
    elif damage == "deep":
        file.write_text(file.read_text().rstrip()[:-1] + f', "extra": {deep_json(10_000)}}}')
    else:  # an intact memo that names another file: nothing read from a record may redirect a path
        other = ModelMemoRecord.seal(tuple(data["key"]),  # type: ignore[arg-type]
                                     msgspec.structs.replace(info.to_facts(), path="/elsewhere/evil.onnx"))
        dump(file, other)
    monkeypatch.setattr(model_module, "_memo", {})  # a new process: only the on-disk memo is left
    assert model_module.model_info(model) == info
    assert len(reads) == 2  # read again
    assert len(warnings_about(caplog, file)) == 1
    monkeypatch.setattr(model_module, "_memo", {})
    assert model_module.model_info(model) == info and len(reads) == 2  # the memo was written again, intact


@pytest.mark.parametrize("damage", ["not JSON", "a missing field", "deep"])
def test_corrupt_fp16_record_is_analysed_again(damage: str, make_model: ModelFactory, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    model = model_module.model_info(make_model(3, 3))
    store = Store(tmp_path / "cache")
    runs: list[int] = []
    real = analysis_module._run_analysis
    monkeypatch.setattr(analysis_module, "_run_analysis", lambda *a, **k: (runs.append(1), real(*a, **k))[1])
    first = analysis_module.analyse(model, frames=0, store=store)
    [file] = (tmp_path / "cache" / "fp16").glob("*.json")
    data = json.loads(file.read_text())
    if damage == "not JSON":
        file.write_bytes(b"\xff\xfe garbage")
    elif damage == "a missing field":
        del data["analysis"]["nodes"]
        file.write_text(json.dumps(data))
    else:
        file.write_text(json.dumps({**data, "meta": deep(MAX_DEPTH + 1)}))
    monkeypatch.setattr(analysis_module, "_memo", {})
    again = analysis_module.analyse(model, frames=0, store=store)
    assert len(runs) == 2 and again.block_list == first.block_list and not again.cached
    assert len(warnings_about(caplog, file)) == 1
    monkeypatch.setattr(analysis_module, "_memo", {})
    assert analysis_module.analyse(model, frames=0, store=store).cached and len(runs) == 2


def test_corrupt_decision_is_a_miss_for_the_loader(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from vsinfer.tune.decision import _load_decision

    path = tmp_path / "decision.json"
    record = decision()
    dump(path, record)
    assert _load_decision(path, record.key) == record
    assert _load_decision(path, {**record.key, "version": 2}) is None  # another key: a quiet miss
    assert not caplog.records
    path.write_text(json.dumps({**msgspec.to_builtins(record), "choice": {"backend": "SomeBackend"}}))
    assert _load_decision(path, record.key) is None
    assert len(warnings_about(caplog, path)) == 1


@pytest.mark.parametrize("damage", ["an array", "a wrong type", "deep"])
def test_corrupt_decision_is_timed_again(damage: str, make_model: ModelFactory, isolated_cache: Path,
                                         monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import vapoursynth as vs

    import vsinfer.tune.search as search_module
    from tests.conftest import clip_from_planes, need_plugin, pattern
    from vsinfer import Backend
    from vsinfer.tune import tune

    need_plugin("ort")
    timed: list[str] = []
    real = search_module.time_trial
    monkeypatch.setattr(search_module, "time_trial", lambda trial, *a, **k: (timed.append(str(trial)),
                                                                              real(trial, *a, **k))[1])
    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS, length=4)

    def run() -> Any:
        return tune(model, clip, candidates=[Backend.ORT_CPU(fp16=False)], frames=2, tilesizes=(None,))

    first = run()
    n = len(timed)
    assert n and not first.reused and first.path is not None
    data = json.loads(first.path.read_text())
    if damage == "an array":
        first.path.write_text(json.dumps([data]))
    elif damage == "a wrong type":
        first.path.write_text(json.dumps({**data, "seconds": "fast"}))
    else:
        first.path.write_text(json.dumps({**data, "meta": json.loads(json.dumps(deep(200)))}))
    again = run()
    assert not again.reused and len(timed) > n and again.backend == first.backend
    assert len(warnings_about(caplog, first.path)) == 1
    n = len(timed)
    third = run()
    assert third.reused and len(timed) == n  # written again, intact
