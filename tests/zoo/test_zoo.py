"""The model zoo on every CPU backend and the TensorRT-RTX engine build, against onnxruntime float32.

Each cell (a zoo model on a backend) must give the right picture (within the precision's tolerance) or a vsinfer
error raised before the plugin that names the reason and the alternative. NCNN cells run in a child process, so
a plugin that kills the process fails one cell, not the suite. The zoo is built by ``tools/make_zoo.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_plugin, vulkan_missing
from tests.zoo.cells import ZOO, Outcome, cell_input, manifest, run_cell

MODELS = sorted(manifest())
IN_PROCESS = ("ORT_CPU", "ORT_CPU_fp16", "OV_CPU", "OV_CPU_fp32")
IN_CHILD = ("NCNN", "NCNN_fp32")
REDUCED = {"ORT_CPU_fp16", "OV_CPU", "NCNN"}
"""Cells that compute in fp16 / bf16 (the fp16 guard may still choose float32)."""
NAMESPACE = {"ORT_CPU": "ort", "ORT_CPU_fp16": "ort", "OV_CPU": "ov", "OV_CPU_fp32": "ov", "NCNN": "ncnn",
             "NCNN_fp32": "ncnn"}

PICTURES_ON_NCNN = {"artcnn_gray", "compact", "compact_dynamo", "drunet", "esrgan_4x", "span"}
"""Zoo models core.ncnn renders right: a refusal of one of them is a regression."""

def tolerance(name: str, backend: str, scale: float) -> float:
    """The largest difference from onnxruntime float32 that counts as the right picture.

    An INT8 Q/DQ model is exact within a few quantization steps on every backend: runtimes requantize the
    activations with their own int8 kernels (OpenVINO float32 differs from onnxruntime by one step, ~0.009).
    """
    reduced = backend in REDUCED or manifest()[name]["exporter"].endswith("qdq")
    return (3e-2 if reduced else 1e-4) * max(1.0, scale)


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: the fp16 analysis of a model is shared by its ORT and OV cells."""
    return tmp_path_factory.mktemp("zoo-cache")


def judge(name: str, backend: str, outcome: Outcome) -> None:
    """Fail unless the cell gave the right picture or a vsinfer error, raised before the plugin, with the fix."""
    assert outcome.kind in ("picture", "vsinfer-error"), f"{name} on {backend}: {outcome}"
    if outcome.kind == "picture":
        limit = tolerance(name, backend, outcome.scale)
        assert outcome.max_error <= limit, f"{name} on {backend}: a wrong picture: {outcome}"
        return
    assert outcome.error_type != "PluginError", f"{name} on {backend}: the plugin refused it raw: {outcome.message}"
    assert "use" in outcome.message or "expected" in outcome.message, (
        f"{name} on {backend}: the error names no alternative: {outcome.message}")


@pytest.mark.parametrize("backend", IN_PROCESS)
@pytest.mark.parametrize("name", MODELS)
def test_cell(name: str, backend: str, zoo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin(NAMESPACE[backend])
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(zoo_cache))
    outcome = run_cell(name, backend)
    judge(name, backend, outcome)
    assert outcome.kind == "picture", f"{name} on {backend}: {outcome}"


@pytest.mark.parametrize("backend", IN_CHILD)
@pytest.mark.parametrize("name", MODELS)
def test_ncnn_cell(name: str, backend: str, zoo_cache: Path) -> None:
    need_plugin("ncnn")
    missing = vulkan_missing()
    if missing:
        pytest.skip(missing)
    env = {**os.environ, "VSINFER_CACHE_DIR": str(zoo_cache)}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.zoo.cells", name, backend], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{name} on {backend}: the cell's process died ({done.returncode}): " \
                                 f"{done.stderr[-800:]}"
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    outcome = Outcome(**{k: tuple(v) if k == "shape" else v for k, v in json.loads(line).items()})
    judge(name, backend, outcome)
    if name in PICTURES_ON_NCNN:
        assert outcome.kind == "picture", f"{name} on {backend}: {outcome}"


@pytest.mark.slow  # real TensorRT-RTX engine builds: 1 to 20 s each on this CPU
@pytest.mark.parametrize("name", MODELS)
def test_trt_rtx_builds(name: str, zoo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every single-output zoo model builds with TRT_RTX's defaults (fp16: vsinfer's conversion, strongly typed)."""
    pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX's Python builder is not installed")
    from vsinfer import Backend

    monkeypatch.setenv("VSINFER_CACHE_DIR", str(zoo_cache))
    facts = manifest()[name]
    _, channels, height, width = cell_input(facts).shape
    engine = Backend.TRT_RTX().build_engine(ZOO / f"{name}.onnx", channels, (width, height))
    assert engine.stat().st_size > 0


def test_the_manifest_matches_the_files() -> None:
    """Every model file is in the manifest with its facts, and the zoo stays small."""
    import onnx

    files = sorted(p.stem for p in ZOO.glob("*.onnx"))
    assert files == MODELS and len(MODELS) >= 15
    total = sum(p.stat().st_size for p in ZOO.iterdir())
    assert total < 25_000_000
    for name, facts in manifest().items():
        proto = onnx.load(str(ZOO / facts["file"]), load_external_data=False)
        assert sorted({n.op_type for n in proto.graph.node}) == facts["ops"], name
        assert [o.name for o in proto.graph.output] == [o["name"] for o in facts["outputs"]], name
        assert all(h % facts["multiple"] == 0 and w % facts["multiple"] == 0 for h, w in facts["sizes"]), name


def test_a_wrong_picture_fails_a_cell() -> None:
    """The judge is not vacuous: a picture off by more than the tolerance, or a raw plugin error, fails."""
    with pytest.raises(AssertionError, match="wrong picture"):
        judge("span", "ORT_CPU", Outcome("picture", max_error=0.5, scale=1.0))
    with pytest.raises(AssertionError, match="refused it raw"):
        judge("span", "NCNN", Outcome("vsinfer-error", "PluginError", "load param failed"))
    with pytest.raises(AssertionError, match=r"other-error"):
        judge("span", "OV_CPU", Outcome("other-error", "RuntimeError", "boom"))
