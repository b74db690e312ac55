"""The store's inventory: list, verify, clear and prune, on a real store in a temp cache."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vsinfer.errors import ConfigError
from vsinfer.store import Store, atomic_write
from vsinfer.store.inventory import scan
from vsinfer.store.maintenance import clear, human_size, parse_size, prune, verify

META = {"model": "net.onnx", "precision": "fp16", "shapes": {"min": [64, 48], "opt": [64, 48], "max": [64, 48]},
        "runtime": "TensorRT-RTX 1.7.1", "device": "Test RTX 4090"}


def put(store: Store, kind: str, suffix: str, name: int, size: int = 1000, meta: dict | None = None) -> Path:
    """Commit an artifact of ``size`` bytes through the store, as a builder does."""
    data = bytes([name % 251]) * size
    return store.get_or_create(kind, suffix, {"n": name}, lambda tmp: data,
                               meta=META if meta is None else meta)


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


@contextmanager
def held(store: Store, path: Path) -> Iterator[None]:
    """Hold the store's lock of ``path`` in another thread, as a builder busy with it would."""
    ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock(path):
            ready.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.fixture
def store(isolated_cache: Path) -> Store:
    return Store(isolated_cache)


def test_scan_reads_sidecar_meta(store: Store) -> None:
    engine = put(store, "trt", ".engine", 1)
    (entry,) = scan(store)
    assert entry.kind == "trt" and entry.path == engine and entry.sidecar == engine.with_suffix(".json")
    assert (entry.model, entry.precision, entry.shapes, entry.runtime, entry.device) == (
        "net.onnx", "fp16", "64x48", "TensorRT-RTX 1.7.1", "Test RTX 4090")
    assert entry.size == engine.stat().st_size + engine.with_suffix(".json").stat().st_size
    assert entry.problem is None


def test_scan_shows_dynamic_profile_and_old_sidecars(store: Store) -> None:
    put(store, "trt", ".engine", 1, meta={**META, "shapes": {"min": [32, 32], "opt": [64, 64], "max": [128, 128]}})
    old = store.folder("trt") / "00000001.engine"
    old.write_bytes(b"x" * 10)
    old.with_suffix(".json").write_text(json.dumps({"identity": {"backend": "TRT"}, "size": 10}))
    entries = {e.name: e for e in scan(store)}
    assert entries[old.name].shapes == "?" and entries[old.name].model == "?"
    assert entries[old.name].problem is None
    assert any(e.shapes == "32x32..64x64..128x128" for e in entries.values())


def test_scan_kinds_records_and_openvino_files(store: Store) -> None:
    put(store, "onnx", ".onnx", 2, meta={"model": "a.onnx", "precision": "fp16"})
    atomic_write(store.folder("tune") / "abc.json", json.dumps({"meta": {"model": "b.onnx"}}).encode())
    (store.folder("ov") / "1234.blob").write_bytes(b"b" * 50)
    kinds = {e.kind: e for e in scan(store)}
    assert set(kinds) == {"onnx", "tune", "ov"}
    assert kinds["tune"].model == "b.onnx" and kinds["ov"].role == "openvino cache"
    assert [e.kind for e in scan(store, ["ov"])] == ["ov"]
    with pytest.raises(ConfigError, match="kind"):
        scan(store, ["bogus"])


def test_verify_finds_and_fixes_broken_entries(store: Store) -> None:
    good = put(store, "trt", ".engine", 1)
    flipped = put(store, "trt", ".engine", 2)
    data = bytearray(flipped.read_bytes())
    data[10] ^= 0xFF  # same size, other bytes: only the checksum tells
    flipped.write_bytes(bytes(data))
    grown = put(store, "migx", ".mxr", 3)
    with open(grown, "ab") as f:
        f.write(b"more")
    bare = store.folder("trt") / "deadbeef.engine"
    bare.write_bytes(b"no record")
    orphan = store.folder("onnx") / "cafebabe.json"
    orphan.write_text(json.dumps({"identity": {}, "size": 1}))
    stale_tmp = store.folder("trt") / ".x.engine.abc123.tmp"
    stale_tmp.write_bytes(b"partial")
    age(stale_tmp, 3600)
    fresh_tmp = store.folder("trt") / ".y.engine.def456.tmp"
    fresh_tmp.write_bytes(b"being written")
    broken_record = store.folder("tune") / "bad.json"
    broken_record.write_text("{not json")

    found = {f.path.name: f for f in verify(store)}
    assert set(found) == {flipped.name, grown.name, bare.name, orphan.name, stale_tmp.name, broken_record.name}
    assert "CRC32" in found[flipped.name].problem and "size" in found[grown.name].problem
    assert all(f.action == "reported" for f in found.values())
    assert flipped.exists() and bare.exists()  # reporting removes nothing

    fixed = verify(store, fix=True)
    assert {f.action for f in fixed} == {"removed"}
    for path in (flipped, flipped.with_suffix(".json"), grown, bare, orphan, stale_tmp, broken_record):
        assert not path.exists(), path
    assert good.exists() and good.with_suffix(".json").exists() and fresh_tmp.exists()
    assert verify(store) == []


def test_verify_skips_an_entry_being_built(store: Store) -> None:
    engine = put(store, "trt", ".engine", 1)
    engine.write_bytes(b"rewritten while its builder holds the lock")
    with held(store, engine):
        findings = verify(store, fix=True)
        assert [f.action for f in findings] == ["skipped: in use (being built)"]
        assert engine.exists()
    assert [f.action for f in verify(store, fix=True)] == ["removed"]


def test_clear_by_kind_and_age(store: Store) -> None:
    old = put(store, "trt", ".engine", 1)
    new = put(store, "trt", ".engine", 2)
    onnx = put(store, "onnx", ".onnx", 3)
    age(old.with_suffix(".json"), 10 * 86400)  # the sidecar's mtime is the last use
    removal = clear(store, kinds=["trt"], older_than_days=5)
    assert [e.path for e in removal.removed] == [old]
    assert not old.exists() and not old.with_suffix(".json").exists()
    assert new.exists() and onnx.exists()
    removal = clear(store)
    assert {e.path for e in removal.removed} == {new, onnx}
    assert removal.freed > 2000
    assert scan(store) == []
    with pytest.raises(ConfigError, match="older_than"):
        clear(store, older_than_days=-1)


def test_clear_and_prune_skip_locked_entries(store: Store) -> None:
    busy = put(store, "trt", ".engine", 1)
    idle = put(store, "trt", ".engine", 2)
    with held(store, busy):
        removal = clear(store)
        assert [e.path for e in removal.removed] == [idle]
        assert [e.path for e, _ in removal.skipped] == [busy]
        assert "lock" in removal.skipped[0][1]
        assert busy.exists()
        assert prune(store, max_size=0).removed == []
    assert [e.path for e in clear(store).removed] == [busy]


def test_prune_evicts_least_recently_used_first(store: Store) -> None:
    paths = [put(store, "trt", ".engine", i, size=10_000) for i in range(4)]
    for i, p in enumerate(paths):
        age(p.with_suffix(".json"), 1000 * (10 - i))  # paths[0] is the least recently used
    age(paths[1].with_suffix(".json"), 0)  # used just now
    one = scan(store)[0].size
    removal = prune(store, max_size=2 * one)
    assert [e.path for e in removal.removed] == [paths[0], paths[2]]
    assert paths[1].exists() and paths[3].exists()
    assert sum(e.size for e in scan(store)) <= 2 * one
    assert prune(store, max_size=10 * one).removed == []


def test_lock_file_is_not_left_behind(store: Store) -> None:
    engine = put(store, "trt", ".engine", 1)
    clear(store)
    assert not engine.with_name(engine.name + ".lock").exists()
    assert list(store.folder("trt").iterdir()) == []


@pytest.mark.parametrize(("text", "expected"), [("5G", 5 << 30), ("500M", 500 << 20), ("1.5GiB", 3 << 29),
                                                ("1024", 1024), ("10 kb", 10 << 10)])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "5X", "-1G", "G"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="max_size"):
        parse_size(text)


def test_human_size() -> None:
    assert human_size(512) == "512 Bytes" and human_size(3 << 20) == "3.0 MiB"
