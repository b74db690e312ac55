"""A family added from the tests folder (thin_family.py: one module, one registry call) works everywhere a family
does: inference, prebuild / ``vsinfer build``, autoselect, autotune's candidates, presets, ``vsinfer bench`` (in a
child process) and ``vsinfer info``, without any other module knowing it."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, need_plugin, pattern, planes_of, reference
from vsinfer import Backend
from vsinfer.backends import registry
from vsinfer.cli import main
from vsinfer.tune import default_candidates

MODULE = "tests.backends.thin_family"


@pytest.fixture
def thin(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The family, registered for this test only (the registry is restored afterwards)."""
    need_plugin("ort")
    monkeypatch.setattr(registry, "_registered", [])
    module = importlib.reload(sys.modules[MODULE]) if MODULE in sys.modules else importlib.import_module(MODULE)
    return module.ORT_THIN


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_inference_gives_the_reference_picture(thin: Any, make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    x = pattern(3, 24, 32)
    out = thin().inference(clip_from_planes(x, vs.RGBS), model)
    assert out.format.id == vs.RGBS
    np.testing.assert_allclose(planes_of(out), reference(model, x[None])[0], atol=1e-5)


def test_prebuild_is_the_artifact_inference_uses(thin: Any, make_model: ModelFactory, isolated_cache: Path) -> None:
    model = make_model(3, 3)
    built = thin().prebuild(model, 3, (32, 24))
    assert built.parent == isolated_cache / "thin" and built.read_bytes() == model.read_bytes()
    thin().inference(clip_from_planes(pattern(3, 24, 32), vs.RGBS), model).get_frame(0)
    assert sorted(p.name for p in built.parent.glob("*.onnx")) == [built.name]  # found, not built again


def test_autoselect_autotune_and_presets_offer_it(thin: Any) -> None:
    assert thin in registry.classes() and registry.find("ort-thin") is thin
    decision = Backend.explain_autoselect()
    if decision.vendor is None:  # this machine: no GPU, so the CPU offers decide
        assert decision.cls is thin and isinstance(Backend.autoselect(), thin)
        assert Backend.preset("exact") == thin() and Backend.preset("fast") == thin()
        assert thin() in default_candidates() and thin(num_streams=2) in default_candidates()
    assert thin in [s.cls for s in registry.offers("cpu") if s.cls is thin]


def test_the_cli_lists_builds_and_benches_it(thin: Any, make_model: ModelFactory,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(3, 3)
    report = run_json(capsys, "info")
    assert {"name": "ort-thin", "class": "ORT_THIN", "usable": True, "offered": True} in report["backends"]
    built = run_json(capsys, "build", str(model), "--backend", "ort-thin", "--tilesize", "32x24")
    assert Path(built["path"]).is_file() and built["backend"]["class"] == "ORT_THIN"
    bench = run_json(capsys, "bench", str(model), "--backends", "ort-thin", "--size", "32x24", "--frames", "3")
    (result,) = bench["results"]
    assert result["error"] is None and result["fps"] > 0 and result["backend"]["class"] == "ORT_THIN"
