from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from vsinfer.engine.store import Store, identity_name

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
    path = store.get_or_create("trt", ".engine", IDENT, write(b"engine bytes", calls))
    assert path == tmp_path / "trt" / f"{identity_name(IDENT)}.engine"
    assert calls[0].parent == path.parent and calls[0] != path  # built into a temp file in the same folder
    assert (str(calls[0]), str(path)) in replaced
    assert replaced[-1][1] == str(path.with_suffix(".json"))  # the sidecar is committed last
    assert not list(path.parent.glob("*.tmp"))
    record = json.loads(path.with_suffix(".json").read_text())
    assert record == {"identity": IDENT, "size": len(b"engine bytes")}


def test_engine_without_sidecar_is_rebuilt(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    path.with_suffix(".json").unlink()  # a crash between the engine and its commit record
    calls: list[Path] = []
    assert store.get_or_create("trt", ".engine", IDENT, write(b"second", calls)) == path
    assert len(calls) == 1 and path.read_bytes() == b"second"


def test_sidecar_that_disagrees_is_a_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"first"))
    record = json.loads(path.with_suffix(".json").read_text())
    record["identity"]["what"] = "another build with the same CRC32"
    path.with_suffix(".json").write_text(json.dumps(record))
    assert store.lookup("trt", ".engine", IDENT) is None
    assert "collision" in caplog.text


def test_truncated_engine_is_a_miss(tmp_path: Path) -> None:
    store = Store(tmp_path)
    path = store.get_or_create("trt", ".engine", IDENT, write(b"0123456789"))
    path.write_bytes(b"01234")
    assert store.lookup("trt", ".engine", IDENT) is None


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError):
        store.get_or_create("trt", ".engine", IDENT, fail)
    assert sorted(p.name for p in (tmp_path / "trt").iterdir()) == [f"{identity_name(IDENT)}.engine.lock"]


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
        "import sys, time; from pathlib import Path; from vsinfer.engine.store import Store\n"
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
