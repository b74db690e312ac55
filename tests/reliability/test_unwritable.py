"""A cache root that cannot be made falls back and works; a full disk is a clear error and leaves nothing."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vsinfer.store.files as store_module
from tests.conftest import ModelFactory, missing, need_module
from tests.reliability.conftest import assert_committed, files
from vsinfer import Backend
from vsinfer.errors import CacheWriteError
from vsinfer.model import model_info

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


def test_root_under_a_file_falls_back_with_one_warning(make_model: ModelFactory, builds: list[Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file, so no folder can be made under it (not even by root)")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(tmp_path / "user-cache"))
    model = make_model(3, 3)
    engine = Backend.TRT_RTX(fp16=True).build_engine(model, 3, (32, 32))  # trt/, onnx/, models/, fp16/
    assert engine.parent == tmp_path / "user-cache" / "trt"
    assert_committed(engine)
    assert Backend.TRT_RTX(fp16=True).build_engine(model, 3, (32, 32)) == engine and len(builds) == 1
    warnings = [r.getMessage() for r in caplog.records if "not writable" in r.getMessage()]
    assert len(warnings) == 1 and str(blocker) in warnings[0] and str(tmp_path / "user-cache") in warnings[0]
    made = {p.split("/")[0] for p in files(tmp_path / "user-cache")}
    assert made == {"trt", "onnx", "models", "fp16", ".vsinfer-cache"}  # the kinds, and the marker of a new root


@pytest.mark.parametrize("fp16", [True, False], ids=["converted model write", "sidecar write"])
def test_full_disk_is_a_clear_error_and_leaves_nothing(fp16: bool, make_model: ModelFactory, isolated_cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model(3, 3)
    model_info(model)  # the model memo was written before the disk filled up
    before = files(isolated_cache)
    real = store_module._write

    def full(f: Any, data: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module, "_write", full)
    with pytest.raises(CacheWriteError, match=r"cannot write to the vsinfer cache at .*: No space left on device "
                                              r"\(the disk is full: free space there, or point VSINFER_CACHE_DIR"):
        Backend.TRT_RTX(fp16=fp16).build_engine(model, 3, (32, 32))
    assert files(isolated_cache) == before  # no engine, converted model, temp or lock file
    monkeypatch.setattr(store_module, "_write", real)  # space freed: the same call works
    assert_committed(Backend.TRT_RTX(fp16=fp16).build_engine(model, 3, (32, 32)))


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 128 KiB tmpfs (root only, where mounting is allowed): a real full disk."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        missing("root", "mounting a small tmpfs needs root on Linux")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # 0700: a tmpfs root is 1777 by default
    if done.returncode != 0:
        missing("root", f"mounting a tmpfs is not allowed here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk(tiny_disk: Path, make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(tiny_disk))
    model = make_model(3, 3)  # the engine (~260 KB) does not fit in 128 KiB
    with pytest.raises(CacheWriteError, match=r"disk is full") as info:
        Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert [f for f in files(tiny_disk) if not f.startswith("models/")] == [".vsinfer-cache"]  # the root's marker
