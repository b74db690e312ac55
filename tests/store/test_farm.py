"""A render farm: two cache folders stand for two machines and a third for their share.

Engines are real (TensorRT-RTX builds them on the CPU); ``builds`` counts every real build.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import vsinfer.store.checks as checks
from tests.conftest import ModelFactory, missing, need_module
from vsinfer import Backend
from vsinfer.store import Store
from vsinfer.store.files import MARKER
from vsinfer.store.publish import publish

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


@pytest.fixture
def farm(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("a", "b", "share")}


def on(machine: Path, monkeypatch: pytest.MonkeyPatch, share: Path | None = None) -> None:
    """Switch to ``machine``: its own cache, the share as a read-only layer, nothing verified yet (a new process)."""
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(machine))
    if share is None:
        monkeypatch.delenv("VSINFER_SHARED_CACHE", raising=False)
    else:
        monkeypatch.setenv("VSINFER_SHARED_CACHE", os.pathsep.join([str(machine.parent / "missing"), str(share)]))
    monkeypatch.setattr(checks, "_shared_checked", {})
    monkeypatch.setattr(checks, "_layer_problems", {})


def test_built_on_one_published_found_on_the_other(farm: dict[str, Path], make_model: ModelFactory,
                                                    builds: list[Path], monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    on(farm["a"], monkeypatch)
    built = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
    assert len(builds) == 1 and built.parent == farm["a"] / "trt"
    done = publish(Store(), farm["share"])
    assert {d.action for d in done} == {"published"} and (farm["share"] / MARKER).is_file()
    shared = farm["share"] / "trt" / built.name
    assert shared.read_bytes() == built.read_bytes()
    assert {d.action for d in publish(Store(), farm["share"])} == {"already there"}

    on(farm["b"], monkeypatch, farm["share"])
    found = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
    assert found == shared and len(builds) == 1  # no build on machine b
    assert not (farm["b"] / "trt").exists() or not list((farm["b"] / "trt").glob("*.engine"))

    # the share's copy is damaged (same size, the time put back): skipped, never served; b builds its own
    before = shared.stat()
    data = bytearray(shared.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with open(shared, "r+b") as f:
        f.write(data)
    os.utime(shared, ns=(before.st_atime_ns, before.st_mtime_ns))
    on(farm["b"], monkeypatch, farm["share"])
    rebuilt = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
    assert rebuilt == farm["b"] / "trt" / built.name and len(builds) == 2
    assert rebuilt.read_bytes() != bytes(data)
    damaged = [r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING and "shared cache entry" in r.getMessage()]
    assert len(damaged) == 1 and "never served" in damaged[0] and "crc32" in damaged[0]


def test_publish_skips_a_damaged_local_entry(farm: dict[str, Path], make_model: ModelFactory, builds: list[Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    on(farm["a"], monkeypatch)
    built = Backend.TRT_RTX(fp16=False).build_engine(make_model(3, 3), 3, (32, 32))
    with open(built, "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 8 if f.read(8) != b"\0" * 8 else b"\1" * 8)
    done = {d.source: d.action for d in publish(Store(), farm["share"])}
    assert done[built].startswith("skipped: damaged")
    assert not (farm["share"] / "trt" / built.name).exists()


def test_build_script_prebuilds_what_the_script_uses_and_publishes_it(
        farm: dict[str, Path], make_model: ModelFactory, builds: list[Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from vsinfer.cli import main

    model = make_model(3, 3)
    script = tmp_path / "render.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "from vsinfer import Backend\n"
        "from vsinfer.errors import DeviceError, PluginError\n"
        "clip = vs.core.std.BlankClip(width=32, height=24, format=vs.RGBS, length=2)\n"
        "try:\n"
        f"    Backend.TRT_RTX(fp16=False).inference(clip, {str(model)!r}).set_output()\n"
        "except (DeviceError, PluginError):\n"
        "    pass  # running the engine needs CUDA, which this machine lacks; the engine is built by then\n")
    on(farm["a"], monkeypatch)
    assert main(["build", "--script", str(script), "--publish", str(farm["share"])]) == 0
    out = capsys.readouterr().out
    assert len(builds) == 1 and "built  trt/" in out and "published" in out
    [engine] = (farm["share"] / "trt").glob("*.engine")

    on(farm["b"], monkeypatch, farm["share"])
    assert main(["build", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert len(builds) == 1 and f"shared trt/{engine.name}" in out  # found in the share, not built


def test_shared_layer_writable_by_everyone_is_not_used(farm: dict[str, Path], make_model: ModelFactory,
                                                       builds: list[Path], monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    model = make_model(3, 3)
    on(farm["a"], monkeypatch)
    Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
    publish(Store(), farm["share"])
    os.chmod(farm["share"], 0o777)
    on(farm["b"], monkeypatch, farm["share"])
    assert Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32)).parent == farm["b"] / "trt"
    assert len(builds) == 2
    assert any("writable by every user" in r.getMessage() for r in caplog.records)


def test_a_read_only_cache_is_still_read(tmp_path: Path, make_model: ModelFactory, builds: list[Path],
                                         monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A cache mounted read-only (a snapshot, a share): its engines are used, verified; new files go elsewhere."""
    import shutil
    import subprocess
    import sys

    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        missing("root", "mounting a read-only tmpfs needs root on Linux")
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        missing("root", f"mounting a tmpfs is not allowed here: {done.stderr.strip()}")
    try:
        monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(tmp_path / "user"))
        model = make_model(3, 3)
        on(mount, monkeypatch)
        built = Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32))
        assert built.parent == mount / "trt" and len(builds) == 1
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        on(mount, monkeypatch)
        assert Backend.TRT_RTX(fp16=False).build_engine(model, 3, (32, 32)) == built and len(builds) == 1
        assert any("read-only layer" in r.getMessage() for r in caplog.records)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
