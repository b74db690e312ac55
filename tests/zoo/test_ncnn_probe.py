"""NCNN's checks before the plugin: the converter's op table, and the (generic) first-use probe in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from tests.conftest import clip_from_planes, need_plugin, planes_of
from tests.zoo.cells import ZOO
from vsinfer.backends import first_use
from vsinfer.backends.first_use import ProbeSpec
from vsinfer.backends.ncnn import checks as ncnn_checks
from vsinfer.errors import BuildError, ModelError
from vsinfer.model import model_info

ARGS = {"device_id": 0, "fp16": 1}


def spec(args: dict[str, int] = ARGS) -> ProbeSpec:
    """What NCNN asks the probe for on device 0 (``NCNN.probe_spec``)."""
    return ProbeSpec(args=args, device="lavapipe", reduced=bool(args["fp16"]), why="test",
                     alternatives=ncnn_checks.ALTERNATIVES, stderr_reasons=ncnn_checks.CONVERTER_MESSAGES)


@pytest.fixture(autouse=True)
def ncnn_here() -> None:
    need_plugin("ncnn")  # and a Vulkan device


def no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a probe process is started (the answer must come from the model's facts or the store)."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a probe process was started: {args}")

    monkeypatch.setattr(first_use.subprocess, "run", refuse)


def rgb(h: int, w: int) -> Any:
    import vapoursynth as vs

    return clip_from_planes(np.random.default_rng(3).random((3, h, w), dtype=np.float32), vs.RGBS, length=1)


def test_a_crash_becomes_an_error_naming_the_signal_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real-CUGAN kills core.ncnn (its converter cannot read the Cast / ConstantOfShape it meets)."""
    model = model_info(ZOO / "realcugan.onnx")
    with pytest.raises(BuildError, match=r"kills the process \(SIG[A-Z]+\).*Cast not supported yet.*ORT_CPU"):
        first_use.probe(model, "ncnn", "network_path", spec(), 3, (32, 32), "NCNN")
    no_child(monkeypatch)  # the verdict is in the store now
    with pytest.raises(BuildError, match="kills the process"):
        first_use.probe(model, "ncnn", "network_path", spec(), 3, (32, 32), "NCNN")
    # another precision is another question
    with pytest.raises(AssertionError, match="a probe process was started"):
        first_use.probe(model, "ncnn", "network_path", spec({**ARGS, "fp16": 0}), 3, (32, 32), "NCNN")


def test_a_right_picture_passes_once_and_a_wrong_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsinfer import Backend

    clip = rgb(32, 32)
    out = Backend.NCNN().inference(clip, ZOO / "esrgan_4x.onnx")
    assert planes_of(out).shape == (3, 128, 128)
    # the same call again: the verdict comes from the store
    with pytest.MonkeyPatch.context() as patch:  # monkeypatch.undo() would also undo the test's cache folder
        no_child(patch)
        Backend.NCNN().inference(clip, ZOO / "esrgan_4x.onnx")
    # nothing is exact within 0: the wrong-picture path, with the real plugin's real picture
    monkeypatch.setattr(first_use, "tolerance", lambda reduced, scale: 0.0)
    with pytest.raises(BuildError, match=r"wrong picture: largest difference from onnxruntime float32"):
        Backend.NCNN().inference(clip, ZOO / "span.onnx")


def test_fallback_moves_on_from_what_ncnn_cannot_run() -> None:
    from vsinfer import Backend

    clip = rgb(32, 32)
    out = Backend.NCNN().inference(clip, ZOO / "realcugan.onnx", fallback=Backend.ORT_CPU())
    want = Backend.ORT_CPU().inference(clip, ZOO / "realcugan.onnx")
    np.testing.assert_allclose(planes_of(out), planes_of(want), atol=1e-5)


def test_a_size_the_model_cannot_take_names_the_multiple() -> None:
    """DPIR (DRUNet) at 36x36: core.ncnn would crash; refused before the plugin (``vsinfer.sizes``), naming 8."""
    import vapoursynth as vs

    from vsinfer import Backend

    noise = clip_from_planes(np.full((1, 36, 36), 0.1, np.float32), vs.GRAYS, length=1)
    with pytest.raises(ModelError, match=r"\(36, 36\).*multiples of 8.*pass multiple=8"):
        Backend.NCNN().inference([rgb(36, 36), noise], ZOO / "drunet.onnx")
    with pytest.raises(ModelError, match=r"refuses 36x36 .*takes 40x40: pass multiple=8"):  # the user's word: the probe
        Backend.NCNN().inference([rgb(36, 36), noise], ZOO / "drunet.onnx", multiple=4)
    out = Backend.NCNN().inference([rgb(36, 36), noise], ZOO / "drunet.onnx", multiple=8)
    assert planes_of(out).shape == (3, 36, 36)


@pytest.mark.parametrize(("name", "error", "match"), [
    ("swinir", BuildError, r"converter has no rule for .*Erf.*LayerNormalization.*use another backend"),
    ("compact_int8", BuildError, r"no rule for DequantizeLinear, QuantizeLinear \("),
    ("fbcnn", BuildError, r"converter has no rule for Cast"),  # its image output alone (output= picks it)
])
def test_what_the_model_shows_is_refused_without_a_probe(name: str, error: type[Exception], match: str,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         forbid_plugin_call: list[str]) -> None:
    from vsinfer import Backend

    no_child(monkeypatch)
    with pytest.raises(error, match=match):
        Backend.NCNN().inference(rgb(32, 32), ZOO / f"{name}.onnx")


def test_the_converter_table_is_what_the_installed_plugin_says() -> None:
    """core.ncnn's converter itself names the Identity nodes of the compact export; vsinfer's copy without them runs."""
    from vsinfer.conversion import without_identity
    from vsinfer.store import Store

    model = model_info(ZOO / "compact.onnx")
    ops = ncnn_checks.model_ops(model)
    assert "Identity" in ops and ncnn_checks.unsupported_ops(ops) == []

    def child(path: str) -> tuple[dict[str, Any], str]:
        spec = {"namespace": "ncnn", "path_argument": "network_path", "model": path, "args": ARGS,
                "channels": 3, "width": 32, "height": 32, "input": "input"}
        code = "import sys, vsinfer.backends.first_use as p; sys.exit(p.main())"
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), capture_output=True, text=True,
                              timeout=120, check=False)
        return json.loads(done.stdout.splitlines()[-1]), done.stderr

    raw, stderr = child(model.path)
    assert raw == {"plugin_error": "operator(): load param failed"} and "Identity not supported yet!" in stderr
    rewritten, _ = child(str(without_identity(model, Store())))
    assert rewritten["shape_ok"] and rewritten["max_error"] < first_use.tolerance(True, rewritten["scale"])
    # an op the converter has a rule for, and one a fusion may remove, are left alone; Erf is refused
    assert ncnn_checks.unsupported_ops(["Conv", "PRelu", "DepthToSpace", "Shape", "Gather", "Erf"]) == ["Erf"]


def test_crop_keeps_the_remainders() -> None:
    assert [first_use.crop_size(s) for s in (32, 128, 130, 1080, 1920)] == [32, 128, 66, 120, 64]
    assert all(first_use.crop_size(s) % 64 == s % 64 for s in range(1, 4000))
