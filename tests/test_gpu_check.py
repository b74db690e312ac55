"""tools/gpu_check.py: it runs here (every GPU check says SKIP and why), and its comparisons work on CPU backends."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from vsinfer import Backend

TOOL = Path(__file__).resolve().parent.parent / "tools" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_runs_without_a_gpu_and_reports_every_check() -> None:
    """CUDA_VISIBLE_DEVICES="" hides any GPU, so the run is the same on every machine: no FAIL, one line a check."""
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, str(TOOL), "--frames", "1"], capture_output=True, text=True, timeout=300,
                         env=env)
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    checks, closing = lines[:-1], lines[-1]
    assert len(checks) >= 30 and all(re.match(r"(PASS|SKIP)  \S.*: \S", line) for line in checks), run.stdout
    skipped = [line for line in checks if line.startswith("SKIP")]
    assert closing == f"{len(checks) - len(skipped)} passed, 0 failed, {len(skipped)} skipped"
    for name in ("TRT fp16 static one-conv RGBH", "TRT fp32 dynamic demo RGBS", "cache hit", "refused cleanly",
                 'devices="all"', "TRT_RTX fp16", "ORT_CUDA", "NCNN", "fps demo 1920x1080 TRT fp16"):
        assert any(name in line for line in checks), name


def test_compare_and_fps_on_the_cpu(gpu_check: ModuleType, tmp_path: Path) -> None:
    """The checks' own arithmetic, on ORT_CPU: the error against onnxruntime float32 and its tolerance."""
    reference = gpu_check.Reference()
    model = gpu_check.one_conv_model(tmp_path)
    said = gpu_check.compare(Backend.ORT_CPU(), model, "RGBS", reference, (64, 48), "fp32")
    assert re.fullmatch(r"max error \S+ against onnxruntime float32 \(limit 0\.002\)", said)
    said = gpu_check.compare(Backend.ORT_CPU(), model, "RGBH", reference, (64, 48), "fp32")
    assert "(limit 0.02)" in said  # half-float clips round the input and the output
    said = gpu_check.fps(Backend.ORT_CPU(), "fp32", reference, 2, (64, 48))
    assert re.match(r"\d+\.\d fps over 3 frames \(128x96 out\); max error \S+ against onnxruntime float32$", said)


def test_a_failing_check_is_a_fail_line(gpu_check: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    report = gpu_check.Report({"PASS": 0, "FAIL": 0, "SKIP": 0})

    def broken() -> str:
        raise RuntimeError("max error 0.5 against onnxruntime float32, above 0.002")

    def skipped() -> str:
        raise gpu_check.Skip("no NVIDIA GPU here")

    report.run("TRT fp32", broken)
    report.run("TRT_RTX", skipped)
    report.run("env", lambda: "fine")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  TRT fp32: RuntimeError: max error 0.5")
    assert out[1] == "SKIP  TRT_RTX: no NVIDIA GPU here"
    assert out[2] == "PASS  env: fine" and report.counts == {"PASS": 1, "FAIL": 1, "SKIP": 1}
