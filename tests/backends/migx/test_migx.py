"""MIGX program builder: the command line, through a stand-in migraphx-driver; the real build needs ROCm."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import ModelFactory
from vsinfer import Backend
from vsinfer.backends.migx.builder import ProgramBuilder, find_driver
from vsinfer.errors import BackendUnavailable, BuildError, DeviceError, MissingProgramError, TilingError
from vsinfer.identity import DeviceInfo
from vsinfer.model import model_info

FAKE_DRIVER = """#!/bin/sh
# records its arguments and environment, then writes --output like the real driver
echo "$@" >> "{log}"
echo "MY_FLAG=$MY_FLAG" >> "{log}"
echo "HIP_VISIBLE_DEVICES=$HIP_VISIBLE_DEVICES CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES" >> "{log}"
if [ -n "$FAIL" ]; then echo "error: unsupported operator" >&2; exit 3; fi
while [ $# -gt 0 ]; do
  if [ "$1" = "--output" ]; then printf 'program' > "$2"; fi
  shift
done
"""


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "driver.log"
    exe = folder / "migraphx-driver"
    exe.write_text(FAKE_DRIVER.format(log=log))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("ROCM_PATH", raising=False)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def builder(backend: Backend.MIGX) -> ProgramBuilder:  # type: ignore[name-defined]
    return ProgramBuilder(backend, device=DeviceInfo("AMD Radeon RX 7900 XTX", "gfx1100"))


def test_command_line() -> None:
    b = builder(Backend.MIGX(fp16=True, fast_math=False, exhaustive_tune=True, custom_args=["--enable-offload-copy"]))
    cmd = b.command("migraphx-driver", "/m/model.onnx", Path("/c/out.mxr"), "lq", 3, (256, 128))
    assert cmd == ["migraphx-driver", "compile", "--onnx", "/m/model.onnx", "--gpu", "--optimize", "--binary",
                   "--output", "/c/out.mxr", "--input-dim", "@lq", "1", "3", "128", "256", "--fp16",
                   "--disable-fast-math", "--exhaustive-tune", "--enable-offload-copy"]
    assert "--bf16" in builder(Backend.MIGX(bf16=True)).command("d", "m", Path("o"), "i", 1, (8, 8))


def test_build_once_with_env_and_captured_output(driver: Path, make_model: ModelFactory, isolated_cache: Path) -> None:
    info = model_info(make_model(3, 3))
    b = builder(Backend.MIGX(custom_env={"MY_FLAG": "on"}))
    program = b.build_program(info, 3, (64, 32), "input")
    assert program.parent == isolated_cache / "migx" and program.read_bytes() == b"program"
    assert json.loads(program.with_suffix(".json").read_text())["identity"]["shape"] == [64, 32]
    assert builder(Backend.MIGX(custom_env={"MY_FLAG": "on"}, num_streams=3)).build_program(
        info, 3, (64, 32), "input") == program
    lines = driver.read_text().splitlines()
    assert len(lines) == 3 and "MY_FLAG=on" in lines
    assert builder(Backend.MIGX(fp16=True)).build_program(info, 3, (64, 32), "input") != program


def test_driver_failure_is_a_build_error(driver: Path, make_model: ModelFactory,
                                         monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> None:
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(BuildError, match=r"exit code 3 .*\n.*unsupported operator"):
        builder(Backend.MIGX()).build_program(model_info(make_model(3, 3)), 3, (64, 32), None)
    assert list((isolated_cache / "migx").iterdir()) == []  # no program, temp or lock file


@pytest.mark.parametrize("rocm_path", [None, "/opt/rocm-missing"])
def test_missing_driver_says_it_is_a_rocm_program(make_model: ModelFactory, tmp_path: Path, isolated_cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch, rocm_path: str | None) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no migraphx-driver anywhere
    if rocm_path is None:
        monkeypatch.delenv("ROCM_PATH", raising=False)
    else:
        monkeypatch.setenv("ROCM_PATH", rocm_path)
    with pytest.raises(MissingProgramError, match=r"compiling a MIGX program needs the program migraphx-driver.*"
                                                  r"a ROCm program, not a Python module: install ROCm's MIGraphX.*"
                                                  r"set ROCM_PATH") as info:
        builder(Backend.MIGX()).build_program(model_info(make_model(3, 3)), 3, (64, 32), None)
    assert ("ROCM_PATH is not set" if rocm_path is None else f"ROCM_PATH='{rocm_path}' has no") in str(info.value)
    assert isinstance(info.value, BackendUnavailable)
    assert list((isolated_cache / "migx").iterdir()) == []  # looked up before any lock or temp file


def test_cached_program_needs_no_driver(driver: Path, make_model: ModelFactory, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    info = model_info(make_model(3, 3))
    program = builder(Backend.MIGX(fp16=True)).build_program(info, 3, (64, 32), None)
    record = json.loads(program.with_suffix(".json").read_text())
    assert record["meta"]["precision"] == "fp16" and record["meta"]["shapes"]["opt"] == [64, 32]
    assert record["meta"]["device"] == "AMD Radeon RX 7900 XTX" and record["meta"]["model"] == Path(info.path).name
    monkeypatch.setenv("PATH", str(tmp_path))
    assert builder(Backend.MIGX(fp16=True)).build_program(info, 3, (64, 32), None) == program


def test_opt_shapes_must_be_the_tile(make_model: ModelFactory) -> None:
    with pytest.raises(TilingError, match=r"tilesize=\(64, 32\) is not valid; expected \(128, 128\)"):
        builder(Backend.MIGX(opt_shapes=128)).get_identity(model_info(make_model(3, 3)), 3, (64, 32), None)


@pytest.mark.parametrize(("env", "device_id", "compiled_on"), [
    ({}, 1, "1"),
    ({"HIP_VISIBLE_DEVICES": "2,3"}, 1, "3"),  # device 1 of this process is the machine's GPU 3
    ({"CUDA_VISIBLE_DEVICES": "4,5"}, 0, "4"),  # HIP reads CUDA_VISIBLE_DEVICES too
])
def test_compiled_on_the_programs_device(driver: Path, make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch,
                                         env: dict[str, str], device_id: int, compiled_on: str) -> None:
    """migraphx-driver compiles on HIP device 0: the program's device is made its only one (before: always GPU 0,
    cached as device_id's program)."""
    for name in ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    builder(Backend.MIGX(device_id=device_id)).build_program(model_info(make_model(3, 3)), 3, (64, 32), None)
    assert f"HIP_VISIBLE_DEVICES={compiled_on} CUDA_VISIBLE_DEVICES=" in driver.read_text().splitlines()


def test_device_beyond_the_visible_list(driver: Path, make_model: ModelFactory,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "2")
    with pytest.raises(DeviceError, match=r"MIGX: device_id=1 is not valid; expected 0 \.\. 0: HIP_VISIBLE_DEVICES"):
        builder(Backend.MIGX(device_id=1)).build_program(model_info(make_model(3, 3)), 3, (64, 32), None)


def test_amd_identity_is_the_gfx_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """core.migx names it gcn_arch_name (before: "gcnArchName" was read, never found, and HIP's major.minor used)."""
    import vsinfer.identity as identity
    import vsinfer.plugins as plugins

    class Migx:
        @staticmethod
        def DeviceProperties(device_id: int) -> dict[str, object]:  # noqa: N802 (the plugin's name)
            return {"name": b"AMD Radeon RX 7900 XTX", "major": 11, "minor": 0,
                    "gcn_arch_name": b"gfx1100:sramecc-:xnack-"}

    monkeypatch.setattr(plugins, "get_plugin", lambda namespace: Migx())
    monkeypatch.setattr(identity, "_device_cache", {})
    assert identity.plugin_device("migx", 0) == DeviceInfo("AMD Radeon RX 7900 XTX", "gfx1100:sramecc-:xnack-")


@pytest.mark.gpu
def test_real_migraphx_program(make_model: ModelFactory) -> None:
    from vsinfer.plugins import is_loaded

    if find_driver() is None or not is_loaded("migx"):
        pytest.skip("MIGraphX needs ROCm and an AMD GPU: no migraphx-driver / core.migx on this machine")
    program = Backend.MIGX().build_program(make_model(3, 3), 3, (64, 64))
    assert program.stat().st_size > 1024
