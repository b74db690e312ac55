"""The model zoo on every CPU backend and the TensorRT-RTX engine build, against onnxruntime float32.

Each cell (a zoo model on a backend) must give the right picture (within the precision's tolerance) or a vsinfer
error raised before the plugin that names the reason and the alternative. NCNN cells run in a child process, so
a plugin that kills the process fails one cell, not the suite. The zoo is built by ``tools/make_zoo.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_module, need_plugin
from tests.zoo.cells import ZOO, Outcome, cell_input, manifest, run_cell

MODELS = sorted(manifest())
IN_PROCESS = ("ORT_CPU", "ORT_CPU_fp16", "OV_CPU", "OV_CPU_fp32")
IN_CHILD = ("NCNN", "NCNN_fp32")
REDUCED = {"ORT_CPU_fp16", "OV_CPU", "NCNN"}
"""Cells that compute in fp16 / bf16 (the fp16 guard may still choose float32)."""
NAMESPACE = {"ORT_CPU": "ort", "ORT_CPU_fp16": "ort", "OV_CPU": "ov", "OV_CPU_fp32": "ov", "NCNN": "ncnn",
             "NCNN_fp32": "ncnn"}

PICTURES_ON_NCNN = {"artcnn_gray", "compact", "compact_dynamo", "compact_extdata", "drunet", "esrgan_4x", "span"}
"""Zoo models core.ncnn renders right: a refusal of one of them is a regression."""


def no_rule(*ops: str) -> tuple[str, str]:
    """The refusal of a model whose op types NCNN's ONNX converter has no rule for (read off the model)."""
    return "BuildError", rf"core\.ncnn cannot run \S+: its ONNX converter has no rule for {re.escape(', '.join(ops))} "


REFUSED_ON_NCNN: dict[str, tuple[str, str]] = {
    "compact_int8": no_rule("DequantizeLinear", "QuantizeLinear"),
    "dat": no_rule("Cast", "ConstantOfShape", "Erf", "LayerNormalization", "Mod"),
    "esrgan_2x": ("BuildError", r"core\.ncnn cannot run \S+esrgan_2x\.onnx \(fp(16|32), tile \d+x\d+\): the plugin "
                                r"refuses it: .*load param failed \(its converter: Shape not supported"),
    "fbcnn": no_rule("Cast", "ConstantOfShape"),
    "hat": no_rule("Cast", "ConstantOfShape", "Equal", "Erf", "LayerNormalization", "Not", "Range", "ScatterND",
                   "Where"),
    "nafnet": no_rule("Cast", "ConstantOfShape", "Mod"),
    "omnisr": no_rule("Cast", "Einsum", "Erf", "LayerNormalization"),
    "realcugan": no_rule("Cast", "ConstantOfShape"),
    "restormer": no_rule("Cast", "Erf"),
    "scunet": no_rule("Cast", "ConstantOfShape", "Einsum", "Equal", "Erf", "LayerNormalization", "Range", "ScatterND",
                      "Where"),
    "swinir": no_rule("Cast", "ConstantOfShape", "Equal", "Erf", "LayerNormalization", "Not", "Range", "ScatterND",
                      "Where"),
}
"""Zoo models vsinfer refuses for core.ncnn (fp16 or not), with the reason it must give: (error type, pattern).

Measured with core.ncnn 17.1 on lavapipe: the op types come from the model, the esrgan_2x refusal from the plugin
(its converter cannot read the Shape-based upscale). A model that starts to render, or is refused for another
reason, fails its cell: move it, or find out why.
"""

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
    expected = REFUSED_ON_NCNN.get(name) if backend in IN_CHILD else None
    assert expected is not None, f"{name} on {backend}: a refusal no cell expects: {outcome}"
    error_type, reason = expected
    assert outcome.error_type == error_type and re.search(reason, outcome.message), (
        f"{name} on {backend}: refused for another reason than {error_type} /{reason}/: {outcome}")
    assert re.search(r"; use [a-z ]*: ORT_CPU or OV_CPU \(CPU\)", outcome.message), (
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
    need_plugin("ncnn")  # and a Vulkan device
    env = {**os.environ, "VSINFER_CACHE_DIR": str(zoo_cache)}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.zoo.cells", name, backend], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{name} on {backend}: the cell's process died ({done.returncode}): " \
                                 f"{done.stderr[-800:]}"
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    outcome = Outcome(**{k: tuple(v) if k == "shape" else v for k, v in json.loads(line).items()})
    judge(name, backend, outcome)
    wanted = "picture" if name in PICTURES_ON_NCNN else "vsinfer-error"
    assert outcome.kind == wanted, f"{name} on {backend}: {outcome}"


@pytest.mark.slow  # real TensorRT-RTX engine builds: 1 to 20 s each on this CPU
@pytest.mark.parametrize("name", MODELS)
def test_trt_rtx_builds(name: str, zoo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every single-output zoo model builds with TRT_RTX's defaults (fp16: vsinfer's conversion, strongly typed)."""
    need_module("tensorrt_rtx")
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


def test_every_model_has_an_ncnn_verdict() -> None:
    """Each zoo model is either a picture or a named refusal on NCNN, never both, never neither."""
    assert not PICTURES_ON_NCNN & REFUSED_ON_NCNN.keys()
    assert PICTURES_ON_NCNN | REFUSED_ON_NCNN.keys() == set(MODELS)


def test_a_wrong_picture_fails_a_cell() -> None:
    """The judge is not vacuous: a picture off by more than the tolerance, a raw plugin error, a refusal for another
    reason than the model's, or a refusal where a picture is expected, fails."""
    with pytest.raises(AssertionError, match="wrong picture"):
        judge("span", "ORT_CPU", Outcome("picture", max_error=0.5, scale=1.0))
    with pytest.raises(AssertionError, match="refused it raw"):
        judge("span", "NCNN", Outcome("vsinfer-error", "PluginError", "load param failed"))
    with pytest.raises(AssertionError, match=r"other-error"):
        judge("span", "OV_CPU", Outcome("other-error", "RuntimeError", "boom"))
    alternative = "; use another backend: ORT_CPU or OV_CPU (CPU), TRT / TRT_RTX (NVIDIA)"
    used = "NCNN: core.ncnn cannot run x.onnx: the model is used by another process" + alternative
    with pytest.raises(AssertionError, match="refused for another reason"):
        judge("dat", "NCNN", Outcome("vsinfer-error", "BuildError", used))
    with pytest.raises(AssertionError, match="a refusal no cell expects"):
        judge("span", "NCNN", Outcome("vsinfer-error", "BuildError", used))
    with pytest.raises(AssertionError, match="a refusal no cell expects"):
        judge("dat", "OV_CPU", Outcome("vsinfer-error", "BuildError", used))
    right = "NCNN: core.ncnn cannot run dat.onnx: its ONNX converter has no rule for Cast, ConstantOfShape, Erf, " \
            "LayerNormalization, Mod (it fails)" + alternative
    judge("dat", "NCNN_fp32", Outcome("vsinfer-error", "BuildError", right))
    with pytest.raises(AssertionError, match="refused for another reason"):
        judge("dat", "NCNN", Outcome("vsinfer-error", "ModelError", right))
