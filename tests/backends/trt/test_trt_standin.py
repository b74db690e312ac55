"""TRT (module ``tensorrt``) through the same code path, with a stand-in module; the real test needs a GPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.backends.trt import fake_tensorrt
from tests.conftest import ModelFactory, need_module, need_plugin
from vsinfer import Backend
from vsinfer.errors import MissingDependencyError, UnsupportedOptionError

# the stand-in takes its timing cache from tensorrt_rtx, where those calls are deprecated no-ops
pytestmark = pytest.mark.filterwarnings("ignore:Use Deprecated in TensorRT-RTX:DeprecationWarning")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make())


def test_trt_builds_through_the_tensorrt_module(standin: None, make_model: ModelFactory, builds: list[Path]) -> None:
    engine = Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    identity = json.loads(engine.with_suffix(".json").read_text())["identity"]
    assert identity["backend"] == "TRT" and identity["runtime_version"] == "10.13.0"
    assert Backend.TRT(num_streams=2).build_engine(make_model(3, 3), 3, (32, 32)) == engine
    assert len(builds) == 1


def test_trt_and_trt_rtx_engines_do_not_mix(standin: None, make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    assert Backend.TRT().build_engine(model, 3, (32, 32)) != Backend.TRT_RTX().build_engine(model, 3, (32, 32))


def test_timing_cache_shared_and_merged(standin: None, make_model: ModelFactory, isolated_cache: Path) -> None:
    Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    Backend.TRT(fp16=False).build_engine(make_model(3, 3), 3, (32, 32))
    caches = sorted(p.name for p in (isolated_cache / "trt").glob("timing-*"))
    assert caches == ["timing-Test_RTX_4090-8.9-10.13.0.cache", "timing-Test_RTX_4090-8.9-10.13.0.json"]


def test_option_missing_from_an_older_tensorrt(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory) -> None:
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make("8.6.1", without=("TilingOptimizationLevel",)))
    with pytest.raises(
        UnsupportedOptionError, match=r"tiling_optimization_level=2 is not available on TensorRT 8\.6\.1"
    ):
        Backend.TRT(tiling_optimization_level=2).build_engine(make_model(3, 3), 3, (32, 32))
    # the default of an option the runtime lacks is simply not applied
    assert Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32)).exists()


def test_missing_tensorrt_names_the_extra(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'vsinfer\[trt\]'"):
        Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))


def test_import_vsinfer_does_not_import_tensorrt() -> None:
    import subprocess

    code = (
        "import sys, vsinfer; from vsinfer import Backend; Backend.TRT(); print('tensorrt' in sys.modules, "
        "'tensorrt_rtx' in sys.modules, 'onnx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


@pytest.mark.gpu
def test_real_tensorrt_engine_runs(make_model: ModelFactory) -> None:
    need_module("tensorrt")  # an NVIDIA GPU machine: skipped with the reason, or failed where CI requires trt
    need_plugin("trt")
    import numpy as np
    import vapoursynth as vs

    from tests.conftest import clip_from_planes, pattern, planes_of, reference

    model = make_model(3, 3)
    planes = pattern(3, 48, 64)
    out = Backend.TRT(fp16=False).inference(clip_from_planes(planes, vs.RGBS), model)
    np.testing.assert_allclose(planes_of(out), reference(model, planes[None])[0], atol=1e-3)
