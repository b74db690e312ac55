from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import vsinfer.store.artifacts as artifacts_module
import vsinfer.store.files as store_module
from tests.conftest import ModelFactory
from vsinfer.errors import CacheWriteError
from vsinfer.model import ModelMemo
from vsinfer.store import Store, identity_name

IDENT = {"version": 1, "what": "test"}


def write(content: bytes, calls: list[Path] | None = None):  # type: ignore[no-untyped-def]
    def create(tmp: Path) -> None:
        if calls is not None:
            calls.append(tmp)
        tmp.write_bytes(content)

    return create


def test_written_through_a_temp_file_and_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[tuple[str, str]] = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((str(a), str(b))), real(a, b))[1])
    store = Store(tmp_path)
    calls: list[Path] = []
    path = store.get_or_create("trt", ".engine", IDENT, write(b"engine bytes", calls), meta={"model": "m.onnx"})
    assert path == tmp_path / "trt" / f"{identity_name(IDENT)}.engine"
    assert calls[0].parent == path.parent and calls[0] != path  # built into a temp file in the same folder
    assert (str(calls[0]), str(path)) in replaced
    assert replaced[-1][1] == str(path.with_suffix(".json"))  # the sidecar is committed last
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.with_suffix(".json").name]
    record = json.loads(path.with_suffix(".json").read_text())
    st = path.stat()
    assert record == {"identity": IDENT, "size": 12, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
                      "crc32": zlib.crc32(b"engine bytes"), "meta": {"model": "m.onnx"}}


def test_create_may_return_the_bytes(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # more than one chunk
    path = Store(tmp_path).get_or_create("onnx", ".onnx", IDENT, lambda tmp: memoryview(data))
    assert path.read_bytes() == data
    assert json.loads(path.with_suffix(".json").read_text())["crc32"] == zlib.crc32(data)


def test_create_that_writes_itself_may_return_anything(tmp_path: Path) -> None:
    path = Store(tmp_path).get_or_create("trt", ".engine", IDENT, lambda tmp: tmp.write_bytes(b"engine"))  # an int
    assert path.read_bytes() == b"engine"
    assert json.loads(path.with_suffix(".json").read_text())["crc32"] == zlib.crc32(b"engine")


def test_a_hit_reads_neither_artifact_nor_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"engine"))
    sidecar = path.with_suffix(".json")
    os.utime(sidecar, ns=(0, 0))

    def no(*args: object) -> None:
        raise AssertionError("a cache hit must not hash the artifact")

    monkeypatch.setattr(artifacts_module, "crc32_of", no)
    calls: list[Path] = []
    assert store.get_or_create("trt", ".engine", IDENT, write(b"other", calls)) == path
    assert calls == [] and path.read_bytes() == b"engine"
    assert sidecar.stat().st_mtime_ns > 0  # the sidecar's mtime records the last use


def test_engine_without_sidecar_is_rebuilt(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    path.with_suffix(".json").unlink()  # a crash between the engine and its commit record
    calls: list[Path] = []
    assert store.get_or_create("trt", ".engine", IDENT, write(b"second", calls)) == path
    assert len(calls) == 1 and path.read_bytes() == b"second"


def test_sidecar_without_engine_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    path.unlink()
    calls: list[Path] = []
    assert store.get_or_create("trt", ".engine", IDENT, write(b"second", calls)) == path
    assert len(calls) == 1 and path.read_bytes() == b"second"
    assert caplog.text.count("is missing although its sidecar is there") == 1


def test_sidecar_that_disagrees_is_a_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    record = json.loads(path.with_suffix(".json").read_text())
    record["identity"]["what"] = "another build with the same CRC32"
    path.with_suffix(".json").write_text(json.dumps(record))
    assert store.lookup("trt", ".engine", IDENT) is None
    assert "another build" in caplog.text


def test_old_sidecar_is_a_miss_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    path.with_suffix(".json").write_text(json.dumps({"identity": IDENT, "size": 5}))  # an older vsinfer's record
    calls: list[Path] = []
    with caplog.at_level(logging.INFO):
        store.get_or_create("trt", ".engine", IDENT, write(b"again", calls))
    assert len(calls) == 1 and caplog.text.count("older vsinfer") == 1


def test_truncated_engine_is_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"0123456789"))
    path.write_bytes(b"01234")
    assert store.lookup("trt", ".engine", IDENT) is None


@pytest.mark.parametrize("restore_mtime", [True, False])
def test_same_size_other_content_is_rebuilt(tmp_path: Path, restore_mtime: bool,
                                            caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"0123456789" * 30))
    recorded = json.loads(path.with_suffix(".json").read_text())["mtime_ns"]
    with open(path, "r+b") as f:  # 100 bytes zeroed in place
        f.seek(100)
        f.write(bytes(100))
    if restore_mtime:
        os.utime(path, ns=(recorded, recorded))
    calls: list[Path] = []
    assert store.get_or_create("trt", ".engine", IDENT, write(b"rebuilt", calls)) == path
    assert len(calls) == 1 and path.read_bytes() == b"rebuilt"
    assert caplog.text.count("other content than it was committed with") == 1


def test_touched_but_unchanged_is_a_hit_and_re_recorded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"engine"))
    os.utime(path, ns=(1, 10**18))  # copied with new times, or touched
    calls: list[Path] = []
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert store.get_or_create("trt", ".engine", IDENT, write(b"other", calls)) == path
    assert calls == [] and path.read_bytes() == b"engine"
    assert caplog.text.count("content matches its record") == 1
    assert json.loads(path.with_suffix(".json").read_text())["mtime_ns"] == 10**18


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError):
        store.get_or_create("trt", ".engine", IDENT, fail)
    assert list((tmp_path / "trt").iterdir()) == []


def test_failed_rebuild_removes_the_bad_artifact(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    path.write_bytes(b"bad")

    def fail(tmp: Path) -> None:
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError):
        store.get_or_create("trt", ".engine", IDENT, fail)
    assert list((tmp_path / "trt").iterdir()) == []


def test_success_leaves_no_lock_file(tmp_path: Path) -> None:
    path = Store(tmp_path).get_or_create("trt", ".engine", IDENT, write(b"e"))
    assert not list(path.parent.glob("*.lock"))


def test_temp_files_of_a_dead_writer_are_swept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.path_for("trt", ".engine", IDENT)
    left = [path.parent / f".{path.name}.abc123.tmp", path.parent / f".{path.stem}.json.xyz.tmp"]
    for p in left:
        p.write_bytes(b"partial")
    store.get_or_create("trt", ".engine", IDENT, write(b"e"))
    assert not any(p.exists() for p in left)


@pytest.mark.parametrize("where", ["artifact", "sidecar", "create"])
def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       where: str) -> None:
    real = store_module._write
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    writes: list[int] = []

    def writer(f: Any, data: Any) -> None:
        writes.append(len(data))  # the first write is the artifact (one chunk), the second its sidecar
        if (where == "sidecar") == (len(writes) > 1):
            raise full
        real(f, data)

    def create(tmp: Path) -> bytes | None:
        if where == "create":
            raise full
        return b"engine bytes"

    if where != "create":
        monkeypatch.setattr(store_module, "_write", writer)
    with pytest.raises(CacheWriteError, match=r"cannot write to the vsinfer cache at .*(trt|engine).*disk is full") \
            as info:
        Store(tmp_path).get_or_create("trt", ".engine", IDENT, create)
    assert info.value.__cause__ is full
    assert list((tmp_path / "trt").iterdir()) == []


def test_locks_exclude_each_other_and_vanish(tmp_path: Path) -> None:
    store = Store(tmp_path)
    target = store.folder("trt") / "x.engine"
    inside: list[int] = []
    overlaps: list[int] = []

    def worker(i: int) -> None:
        for _ in range(25):
            with store.lock(target):
                if inside:
                    overlaps.append(i)
                inside.append(i)
                time.sleep(0.001)
                inside.remove(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert list(target.parent.iterdir()) == []


def test_try_lock_does_not_wait(tmp_path: Path) -> None:
    store = Store(tmp_path)
    target = store.folder("trt") / "x.engine"
    with store.lock(target) as held:
        assert held
        got: list[bool] = []

        def other() -> None:
            with store.try_lock(target) as taken:
                got.append(taken)

        t = threading.Thread(target=other)
        t.start()
        t.join(timeout=60)
        assert got == [False]
    with store.try_lock(target) as taken:
        assert taken
    assert list(target.parent.iterdir()) == []


def test_read_checked_round_trip_and_bad_blobs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    blob = store.folder("trt") / "timing-x.cache"
    store.write_checked(blob, b"timing data", meta={"kind": "timing cache"})
    assert store.read_checked(blob) == b"timing data"
    assert json.loads(blob.with_suffix(".json").read_text())["meta"] == {"kind": "timing cache"}
    blob.write_bytes(b"timing dat4")  # corrupt at the same size
    assert store.read_checked(blob) == b"" and not blob.exists() and not blob.with_suffix(".json").exists()
    blob.write_bytes(b"")  # empty
    assert store.read_checked(blob) == b"" and not blob.exists()
    blob.write_bytes(b"no record")  # an older vsinfer's
    assert store.read_checked(blob) == b"" and not blob.exists()
    assert store.read_checked(blob) == b""  # absent
    assert caplog.text.count("discarding it") == 3


def test_model_memo_detects_corruption(tmp_path: Path, make_model: ModelFactory,
                                       caplog: pytest.LogCaptureFixture) -> None:
    from vsinfer.model import read_model, stat_key

    memo = ModelMemo(Store(tmp_path))
    model = make_model(3, 3)
    key, info = stat_key(model), read_model(model)
    memo.put(key, info)
    assert memo.get(key) == info
    file = next((tmp_path / "models").glob("*.json"))
    record = json.loads(file.read_text())
    record["info"]["checksum"] += 1  # valid JSON, wrong content
    file.write_text(json.dumps(record))
    assert memo.get(key) is None
    file.write_text("{not json")
    assert memo.get(key) is None
    assert caplog.text.count("is not usable") == 2
    memo.put(key, info)
    assert memo.get(key) == info
    assert memo.get((key[0], key[1] + 1, key[2])) is None  # the model changed: a quiet miss
    assert caplog.text.count("is not usable") == 2


def test_concurrent_builders_build_once(tmp_path: Path) -> None:
    calls: list[Path] = []

    def slow(tmp: Path) -> None:
        calls.append(tmp)
        time.sleep(0.3)
        tmp.write_bytes(b"engine")

    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(Store(tmp_path).get_or_create(
        "trt", ".engine", IDENT, slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and len(results) == 4


def test_concurrent_processes_build_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, time; from pathlib import Path; from vsinfer.store import Store\n"
        "def slow(tmp):\n"
        "    Path(sys.argv[1], 'builds').open('a').write('x')\n"
        "    time.sleep(0.5); tmp.write_bytes(b'engine')\n"
        "print(Store(sys.argv[1]).get_or_create('trt', '.engine', {'v': 1}, slow))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = {p.communicate()[0].strip() for p in procs}
    assert len(outs) == 1 and (tmp_path / "builds").read_text() == "x"


def test_unwritable_root_falls_back_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # even root cannot create folders under a file
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(tmp_path / "user-cache"))
    store = Store(blocker / "cache")
    with caplog.at_level(logging.WARNING):
        folder = store.folder("trt")
    assert folder == tmp_path / "user-cache" / "trt"
    assert "not writable" in caplog.text and str(blocker) in caplog.text


def test_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(tmp_path / "env"))
    assert Store().requested == tmp_path / "env"
    assert Store(tmp_path / "arg").requested == tmp_path / "arg"
    monkeypatch.delenv("VSINFER_CACHE_DIR")
    import platformdirs

    assert Store().requested == Path(platformdirs.user_cache_dir("vsinfer", appauthor=False))
