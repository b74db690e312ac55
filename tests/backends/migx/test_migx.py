"""MIGX program builder: the command line, through a stand-in migraphx-driver; the real build needs ROCm.

The stand-in (``fake_driver.py``) parses its arguments and reads the model as the real driver does, and refuses
what it refuses: a misspelt option (the real driver exits 0 and writes nothing), an unknown operator or a shape the
graph cannot take (an abort).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.backends.migx.fake_driver import read_program
from tests.conftest import ModelFactory, missing, need_plugin
from vsinfer import Backend
from vsinfer.backends.migx.builder import ProgramBuilder, find_driver
from vsinfer.errors import BackendUnavailable, BuildError, DeviceError, MissingProgramError, TilingError
from vsinfer.identity import DeviceInfo
from vsinfer.model import model_info

FAKE_DRIVER = Path(__file__).with_name("fake_driver.py")


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``migraphx-driver`` on PATH runs the stand-in; returns the file its calls are logged to."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "driver.log"
    exe = folder / "migraphx-driver"
    exe.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_DRIVER))} "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("ROCM_PATH", raising=False)
    monkeypatch.setenv("FAKE_DRIVER_LOG", str(log))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def mystery_model(path: Path) -> Path:
    """A model with an operator no ONNX parser knows (a custom domain's)."""
    graph = helper.make_graph(
        [helper.make_node("Mystery", ["input"], ["output"], domain="com.example")], "mystery",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


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
    assert program.parent == isolated_cache / "migx"
    assert read_program(program) == {"inputs": {"input": [1, 3, 32, 64]}, "target": "gpu", "fp16": False,
                                      "bf16": False, "fast_math": True, "exhaustive_tune": False, "offload_copy": False}
    assert json.loads(program.with_suffix(".json").read_text())["identity"]["shape"] == [64, 32]
    assert builder(Backend.MIGX(custom_env={"MY_FLAG": "on"}, num_streams=3)).build_program(
        info, 3, (64, 32), "input") == program
    lines = driver.read_text().splitlines()
    assert len(lines) == 3 and "MY_FLAG=on" in lines
    assert builder(Backend.MIGX(fp16=True)).build_program(info, 3, (64, 32), "input") != program


def test_the_settings_reach_the_program(driver: Path, make_model: ModelFactory) -> None:
    b = builder(Backend.MIGX(fp16=True, fast_math=False, exhaustive_tune=True, custom_args=["--enable-offload-copy"]))
    program = read_program(b.build_program(model_info(make_model(3, 3, input_name="lq")), 3, (48, 16), None))
    assert program == {"inputs": {"lq": [1, 3, 16, 48]}, "target": "gpu", "fp16": True, "bf16": False,
                       "fast_math": False, "exhaustive_tune": True, "offload_copy": True}


def test_an_operator_the_driver_does_not_know_is_a_build_error(driver: Path, tmp_path: Path,
                                                                isolated_cache: Path) -> None:
    """The real driver's parser throws on an unknown operator and the process aborts (SIGABRT)."""
    with pytest.raises(BuildError, match=r"exit code -6 .*mystery\.onnx:\n(.*\n)*.*Unknown operator: Mystery"):
        builder(Backend.MIGX()).build_program(model_info(mystery_model(tmp_path / "mystery.onnx")), 3, (64, 32), None)
    assert list((isolated_cache / "migx").iterdir()) == []  # no program, temp or lock file


@pytest.mark.parametrize(("fp16", "says"), [
    (True, r"wrote no program .*\n(.*\n)*.*Found argument '--enable-offload-cpy' which wasn't expected"),
    (False, r"exit code -6 .*\n(.*\n)*.*Failed to parse '--enable-offload-cpy'"),  # read as one more --input-dim
])
def test_a_refused_argument_is_a_build_error_not_an_empty_program(driver: Path, make_model: ModelFactory,
                                                                   isolated_cache: Path, fp16: bool, says: str) -> None:
    """A misspelt option: after a switch (--fp16) the real driver reports it on stdout, writes nothing and exits 0
    (no empty program may be kept); right after --input-dim's numbers it is parsed as a dimension and aborts."""
    b = builder(Backend.MIGX(fp16=fp16, custom_args=["--enable-offload-cpy"]))
    with pytest.raises(BuildError, match=says):
        b.build_program(model_info(make_model(3, 3)), 3, (64, 32), None)
    assert list((isolated_cache / "migx").iterdir()) == []


@pytest.mark.parametrize(("words", "status", "says", "writes"), [
    (["compile", "--onnx", "{model}", "--output", "{out}", "--input-dim", "@input", "1", "4", "32", "64"], -6,
     "compute_shape", None),  # 4 planes for a model of 3
    (["compile", "--onnx", "{bad}", "--output", "{out}"], -6, "Failed reading onnx file", None),
    (["compile", "--onnx", "{tmp}/none.onnx", "--output", "{out}"], 0, "Path does not exist", None),
    (["compile", "--onnx", "{model}", "--output", "{out}", "--binary", "--fp61"], 0, "Found argument '--fp61'", None),
    (["compile", "--output", "{out}"], 0, "required arguments were not provided", None),
    (["compiel", "--onnx", "{model}"], 0, "'compiel' is not a valid command", None),
    (["compile", "--onnx", "{model}", "--output", "{out}", "--input-dim", "@input", "1", "3", "x"], -6,
     "Failed to parse 'x'", None),
    (["compile", "--onnx", "{model}", "--output", "{out}", "--input-dim", "@lq", "1", "3", "32", "64"], 0, "",
     {"input": [1, 3, -1, -1]}),  # a name the graph has no input for is ignored: the model's own (dynamic) dims
    (["compile", "--onnx", "{model}", "--gpu", "--input-dim", "@input", "1", "3", "32", "64", "--output", "{out}"],
     0, "", {"input": [1, 3, 32, 64]}),
])
def test_the_stand_in_refuses_what_the_driver_refuses(driver: Path, make_model: ModelFactory, tmp_path: Path,
                                                      words: list[str], status: int, says: str,
                                                      writes: dict[str, list[int]] | None) -> None:
    import subprocess

    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf")
    names = {"model": str(make_model(3, 3)), "bad": str(tmp_path / "bad.onnx"), "out": str(tmp_path / "out.mxr"),
             "tmp": str(tmp_path)}
    done = subprocess.run(["migraphx-driver", *(w.format(**names) for w in words)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == status and says in done.stdout + done.stderr, done
    if writes is None:
        assert not (tmp_path / "out.mxr").exists()
    else:
        assert read_program(tmp_path / "out.mxr")["inputs"] == writes


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
    if find_driver() is None:
        missing("migx", "MIGraphX needs ROCm and an AMD GPU: no migraphx-driver on this machine (ROCM_PATH, PATH)")
    need_plugin("migx")
    program = Backend.MIGX().build_program(make_model(3, 3), 3, (64, 64))
    assert program.stat().st_size > 1024
