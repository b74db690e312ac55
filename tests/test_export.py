"""PyTorch model files (.pth, .safetensors) through ``vsinfer export``, ``export_model`` and ``inference``.

The tests that need torch and spandrel (the ``export`` extra, several GB) run in their own venv: ``make
test-export``, which CI runs with ``VSINFER_REQUIRE=export`` (there a skip fails). Without the extra they skip and
say so; the error a user gets without it is tested everywhere.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import clip_from_planes, missing, need_plugin, planes_of
from vsinfer.errors import MissingDependencyError, ModelError
from vsinfer.export import default_output, export_model, is_torch_model, onnx_model_path
from vsinfer.store import Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_zoo  # noqa: E402  (tools/ is not a package)

TOLERANCE = 1e-4
"""Largest |onnxruntime - torch| allowed, float32."""


def need_export() -> None:
    """Skip (naming the command) without torch and spandrel, or fail where VSINFER_REQUIRE names ``export``."""
    absent = [m for m in ("torch", "spandrel") if importlib.util.find_spec(m) is None]
    if absent:
        missing("export", f"{', '.join(absent)} not installed (the export extra): make test-export runs these tests")


@pytest.fixture(scope="module")
def specs() -> dict[str, Any]:
    need_export()
    return {s.name: s for s in make_zoo.export_specs()}


def save(tmp: Path, name: str, state: dict[str, Any], suffix: str) -> Path:
    import torch
    from safetensors.torch import save_file

    path = tmp / f"{name}{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def built(spec: Any) -> Any:
    import torch

    torch.manual_seed(0)
    return spec.build().eval()


# -- without the extra, and what needs no torch ------------------------------------------------------------------

def test_without_the_extra_the_error_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError, as without the extra
    model = tmp_path / "4x_model.pth"
    model.write_bytes(b"PK\x03\x04 not read before the import")
    with pytest.raises(MissingDependencyError, match=r"pip install 'vsinfer\[export\]'"):
        export_model(model, store=Store(tmp_path / "cache"))


def test_suffixes_and_paths(tmp_path: Path) -> None:
    assert is_torch_model("a/4x-Model.PTH") and is_torch_model("m.safetensors") and is_torch_model("m.ckpt")
    assert not is_torch_model("m.onnx") and not is_torch_model("m.pth.onnx")
    onnx_file = tmp_path / "m.onnx"
    assert onnx_model_path(onnx_file) is onnx_file  # an ONNX path is passed through untouched, nothing imported
    assert default_output(Path("/x/4x Foo [v2].pth")) == Path("/x/4x_Foo_v2_.onnx")


def test_a_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="an existing PyTorch model file"):
        export_model(tmp_path / "absent.pth", store=Store(tmp_path / "cache"))


def test_every_listed_architecture_counts() -> None:
    names = {n.split("_")[0] for n in make_zoo.EXPORTED}  # esrgan_4x and esrgan_2x are one architecture
    assert len(names) >= 10, f"fewer than 10 architectures in make_zoo.EXPORTED: {sorted(names)}"


# -- with torch and spandrel -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", make_zoo.EXPORTED)
def test_export_equals_torch(name: str, specs: dict[str, Any], tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    spec = specs[name]
    model = built(spec)
    suffix = ".safetensors" if make_zoo.EXPORTED.index(name) % 2 else ".pth"
    path = save(tmp_path, name, model.state_dict(), suffix)
    exported = export_model(path, store=Store(tmp_path / "cache"))
    assert (exported.scale, exported.input_channels) == (spec.scale, spec.in_channels), exported
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    dims = session.get_inputs()[0].shape
    assert isinstance(dims[2], str) and isinstance(dims[3], str), f"height and width are not dynamic: {dims}"
    m = exported.multiple
    for h, w in ((64, 64), (40, 56), (72, 48)):
        h, w = -(-h // m) * m, -(-w // m) * m
        x = torch.rand(1, spec.in_channels, h, w, generator=torch.Generator().manual_seed(h + w))
        with torch.no_grad():
            expected = model(x)
        expected = (expected[0] if isinstance(expected, tuple | list) else expected).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == expected.shape == (1, spec.out_channels, h * spec.scale, w * spec.scale)
        error = float(np.abs(got - expected).max())
        assert error <= TOLERANCE, f"{name} ({exported.architecture}) at {w}x{h}: max error {error:.3g}"


@pytest.mark.parametrize("name", sorted(make_zoo.REFUSED))
def test_what_cannot_be_exported_is_refused_with_the_reason(name: str, specs: dict[str, Any],
                                                            tmp_path: Path) -> None:
    path = save(tmp_path, name, built(specs[name]).state_dict(), ".pth")
    with pytest.raises(ModelError, match=make_zoo.REFUSED[name]):
        export_model(path, store=Store(tmp_path / "cache"))
    assert not list((tmp_path / "cache").rglob("*.onnx")), "a refused export left a file in the store"


class Payload:
    """Pickled code: unpickling it would create the marker file."""

    marker = ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.marker),))


def test_pickled_code_is_never_run(tmp_path: Path, specs: dict[str, Any]) -> None:
    import torch

    marker = tmp_path / "ran"
    payload = Payload()
    payload.marker = str(marker)
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(1), "x": payload}, path)
    with pytest.raises(ModelError, match=r"weights only.*never runs.*GLOBAL"):
        export_model(path, store=Store(tmp_path / "cache"))
    assert not marker.exists(), "loading the file ran its pickled code"


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_truncated_file_is_refused(suffix: str, tmp_path: Path, specs: dict[str, Any]) -> None:
    whole = save(tmp_path, "compact", built(specs["compact"]).state_dict(), suffix)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ModelError, match="a complete"):
        export_model(cut, store=Store(tmp_path / "cache"))


def test_an_unknown_architecture_names_what_spandrel_saw(tmp_path: Path, specs: dict[str, Any]) -> None:
    import torch

    path = save(tmp_path, "odd", {"encoder.proj.weight": torch.zeros(8, 3, 5, 5)}, ".pth")
    with pytest.raises(ModelError, match=r"recognises none in 1 entries: 'encoder.proj.weight' \(8, 3, 5, 5\)"):
        export_model(path, store=Store(tmp_path / "cache"))


def test_a_state_dict_of_another_task_is_refused(tmp_path: Path, specs: dict[str, Any]) -> None:
    import torchvision

    path = save(tmp_path, "resnet18", torchvision.models.resnet18().state_dict(), ".pth")
    said = r"recognises none in \d+ entries: 'conv1.weight' \(64, 3, 7, 7\).*another task"
    with pytest.raises(ModelError, match=said):
        export_model(path, store=Store(tmp_path / "cache"))


def test_a_training_checkpoint_is_unwrapped(tmp_path: Path, specs: dict[str, Any]) -> None:
    import torch

    state = built(specs["span"]).state_dict()
    path = tmp_path / "checkpoint.pth"
    torch.save({"params_ema": {f"module.{k}": v for k, v in state.items()}, "iter": 5000}, path)
    exported = export_model(path, store=Store(tmp_path / "cache"))
    assert (exported.architecture, exported.scale) == ("SPAN", 2)


def test_a_file_that_is_no_state_dict_is_refused(tmp_path: Path, specs: dict[str, Any]) -> None:
    import torch

    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ModelError, match=r"a state dict.*holds a list"):
        export_model(path, store=Store(tmp_path / "cache"))


def test_the_export_is_kept_by_content(tmp_path: Path, specs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import vsinfer.export as export_module

    store = Store(tmp_path / "cache")
    state = built(specs["compact"]).state_dict()
    first = export_model(save(tmp_path, "a", state, ".pth"), store=store)
    monkeypatch.setattr(export_module, "_export", lambda *a: pytest.fail("exported again instead of the store's copy"))
    copy = tmp_path / "renamed" / "b.pth"
    copy.parent.mkdir()
    shutil.copyfile(first.source, copy)
    again = export_model(copy, store=store)  # the same bytes under another name
    assert again.path == first.path and again.architecture == first.architecture == "RealESRGAN Compact"


def test_the_cli_exports_and_cache_list_shows_it(tmp_path: Path, specs: dict[str, Any],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main

    monkeypatch.setenv("VSINFER_CACHE_DIR", str(tmp_path / "cache"))
    model = save(tmp_path, "4x-compact", built(specs["compact"]).state_dict(), ".safetensors")
    assert main(["export", str(model), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(tmp_path / "4x-compact.onnx") and Path(result["path"]).is_file()
    assert result["architecture"] == "RealESRGAN Compact" and result["scale"] == 4
    assert main(["export", str(model), "-o", str(tmp_path / "out.onnx")]) == 0
    assert "RealESRGAN Compact, 4x" in capsys.readouterr().out and (tmp_path / "out.onnx").is_file()
    assert main(["cache", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    entries = json.loads(listed)["entries"]
    assert [(e["kind"], e["model"]) for e in entries] == [("onnx", "4x-compact.safetensors")], listed
    assert main(["export", str(tmp_path / "out.onnx")]) == 2  # not a PyTorch file
    assert main(["export", str(model), "-o", str(tmp_path / "no" / "such" / "folder.onnx")]) == 1
    assert "output=" in capsys.readouterr().err


def test_inference_takes_the_pth_path(tmp_path: Path, specs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    import vapoursynth as vs

    from vsinfer import Backend

    need_plugin("ort")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(tmp_path / "cache"))
    spec = specs["span"]
    model = built(spec)
    path = save(tmp_path, "2x_span", model.state_dict(), ".pth")
    rng = np.random.default_rng(3)
    planes = rng.random((3, 40, 56), dtype=np.float32)
    out = Backend.ORT_CPU(fp16=False).inference(clip_from_planes(planes, vs.RGBS), str(path))
    assert (out.width, out.height) == (112, 80)
    with torch.no_grad():
        expected = model(torch.from_numpy(planes)[None])[0].numpy()
    error = float(np.abs(planes_of(out) - expected).max())
    assert error <= TOLERANCE, f"inference on the .pth differs from torch by {error:.3g}"
