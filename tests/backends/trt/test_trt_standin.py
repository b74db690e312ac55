"""TRT (module ``tensorrt``) through the same code path, with a stand-in of TensorRT 11.4's module and of the CUDA
driver; the real test needs a GPU (tools/gpu_check.py runs it there)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import vsinfer.backends.trt.builder as builder_module
from tests.backends.trt import fake_tensorrt
from tests.conftest import ModelFactory, need_module, need_plugin
from tests.gpu_standins import RTX_2080, RTX_4090, Machine
from tests.trt_fixtures import per_device
from vsinfer import Backend
from vsinfer.errors import BuildError, DeviceError, MissingDependencyError, UnsupportedOptionError
from vsinfer.identity import DeviceInfo

# the stand-in takes its timing cache from tensorrt_rtx, where those calls are deprecated no-ops
pytestmark = pytest.mark.filterwarnings("ignore:Use Deprecated in TensorRT-RTX:DeprecationWarning")


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make())


def test_trt_builds_through_the_tensorrt_module(standin: None, make_model: ModelFactory, builds: list[Path]) -> None:
    engine = Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    identity = json.loads(engine.with_suffix(".json").read_text())["identity"]
    assert identity["backend"] == "TRT" and identity["runtime_version"] == "11.4.0"
    assert "targets" not in identity  # TensorRT builds for the device in hand
    assert Backend.TRT(num_streams=2).build_engine(make_model(3, 3), 3, (32, 32)) == engine
    assert len(builds) == 1


def test_trt_and_trt_rtx_engines_do_not_mix(standin: None, make_model: ModelFactory) -> None:
    model = make_model(3, 3)
    assert Backend.TRT().build_engine(model, 3, (32, 32)) != Backend.TRT_RTX().build_engine(model, 3, (32, 32))


def test_timing_cache_shared_and_merged(standin: None, make_model: ModelFactory, isolated_cache: Path) -> None:
    Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    Backend.TRT(fp16=False).build_engine(make_model(3, 3), 3, (32, 32))
    caches = sorted(p.name for p in (isolated_cache / "trt").glob("timing-*"))
    assert caches == ["timing-Test_RTX_4090-8.9-11.4.0.cache", "timing-Test_RTX_4090-8.9-11.4.0.json"]


def test_option_missing_from_an_older_tensorrt(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory) -> None:
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make("8.6.1", without=("TilingOptimizationLevel",)))
    with pytest.raises(
        UnsupportedOptionError, match=r"tiling_optimization_level=2 is not available on TensorRT 8\.6\.1"
    ):
        Backend.TRT(tiling_optimization_level=2).build_engine(make_model(3, 3), 3, (32, 32))
    # the default of an option the runtime lacks is simply not applied
    assert Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32)).exists()


def test_standin_is_tensorrt_11_4() -> None:
    """The stand-in fails where TensorRT 11.4 would: weak typing is gone, STRONGLY_TYPED is accepted."""
    need_module("tensorrt_rtx")
    trt = fake_tensorrt.make()
    assert trt.__version__ == "11.4.0.106"
    for flag in ("FP16", "BF16", "INT8", "OBEY_PRECISION_CONSTRAINTS", "DIRECT_IO"):
        with pytest.raises(AttributeError):
            getattr(trt.BuilderFlag, flag)
    builder = trt.Builder(trt.Logger())
    assert builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)) is not None
    assert not hasattr(trt, "ComputeCapability") and not hasattr(builder.create_builder_config(),
                                                                  "num_compute_capabilities")


def test_engines_are_built_on_their_device(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory,
                                           machine: Machine) -> None:
    """device_id=1 compiles on GPU 1 (before: on whatever device was current, GPU 0, cached as GPU 1's)."""
    need_module("tensorrt_rtx")
    cuda = machine.cuda([RTX_4090, RTX_2080])
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make(cuda=cuda))
    per_device(monkeypatch, {0: DeviceInfo(RTX_4090.name, "8.9"), 1: DeviceInfo(RTX_2080.name, "7.5")})
    model = make_model(3, 3)
    Backend.TRT(device_id=1).build_engine(model, 3, (32, 32))
    assert cuda.builds == [1]
    Backend.TRT(device_id=(0, 1)).build_engine(model, 3, (32, 32))  # one engine per GPU model
    assert cuda.builds == [1, 0]
    assert cuda.current() is None and set(cuda.retained.values()) == {0}  # contexts popped and released
    with pytest.raises(DeviceError, match=r"device_id=2 .*CUDA sees 2 device\(s\)"):
        per_device(monkeypatch, {2: DeviceInfo("NVIDIA A40", "8.6")})
        Backend.TRT(device_id=2).build_engine(model, 3, (32, 32))
    assert cuda.builds == [1, 0]


def test_version_mismatch_is_refused_before_building(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory,
                                                     isolated_cache: Path) -> None:
    """A tensorrt 11.5 builder for a core.trt linked to 11.4 (before: a warning, and a cached engine that fails)."""
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make("11.5.0.7"))
    monkeypatch.setattr(builder_module, "plugin_runtime_version", lambda namespace: "11.4.0")
    import vsinfer.plugins

    monkeypatch.setattr(vsinfer.plugins, "plugin_info", lambda ns: {"version": "v17.1", "tensorrt_version": "110400",
                                                                    "cuda_runtime_version": "13000"})
    with pytest.raises(BuildError) as info:
        Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    message = str(info.value)
    assert "builder module tensorrt 11.5.0 is not the TensorRT 11.4.0 that core.trt links" in message
    assert "pip install --extra-index-url https://pypi.nvidia.com 'tensorrt-cu13==11.4.0.*'" in message
    assert not list((isolated_cache / "trt").glob("*.engine"))
    from importlib import metadata

    real_version = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "11.4.0.106" if name == "tensorrt-cu13-libs"
                        else real_version(name))
    with pytest.raises(BuildError, match=r"pip install --extra-index-url https://pypi.nvidia.com "
                                         r"'tensorrt-cu13==11.4.0.106'"):
        Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))


def test_one_logger_per_process(standin: None, make_model: ModelFactory) -> None:
    """TensorRT keeps the first logger a process gives it: every build gives the same one."""
    trt = sys.modules["tensorrt"]
    Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    Backend.TRT(fp16=False).build_engine(make_model(3, 3), 3, (32, 32))
    assert len(trt.loggers) == 2 and trt.loggers[0] is trt.loggers[1]


def test_progress_monitor_closed_when_the_build_raises(monkeypatch: pytest.MonkeyPatch,
                                                       make_model: ModelFactory) -> None:
    need_module("tensorrt_rtx")
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt.make(fail_build=True))
    closed: list[bool] = []
    real = builder_module._make_progress_monitor

    def spied(trt: object) -> object:
        monitor = real(trt)  # type: ignore[arg-type]
        original = monitor.close
        monitor.close = lambda: (closed.append(True), original())[1]
        return monitor

    monkeypatch.setattr(builder_module, "_make_progress_monitor", spied)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        Backend.TRT().build_engine(make_model(3, 3), 3, (32, 32))
    assert closed == [True]


def test_trt_without_a_cuda_driver_is_refused_before_building(
    standin: None, monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory, machine: Machine, builds: list[Path]
) -> None:
    """TensorRT builds on the GPU: without a driver nothing is built, and the error names the driver needed.

    core.trt cannot be installed here; core.trt_rtx stands for it (the same Model signature, a CUDA 13 runtime,
    and DeviceProperties failing without a driver, as core.trt's would).
    """
    import vapoursynth as vs

    import vsinfer.backends.call as call_module
    import vsinfer.plugins as plugins_module
    from tests.conftest import clip_from_planes, need_plugin, pattern

    need_plugin("trt_rtx")
    real = plugins_module.get_plugin
    as_trt = lambda namespace: real("trt_rtx" if namespace == "trt" else namespace)  # noqa: E731
    monkeypatch.setattr(plugins_module, "get_plugin", as_trt)
    monkeypatch.setattr(call_module, "get_plugin", as_trt)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    with pytest.raises(DeviceError, match=r"TRT: device_id=0 is not valid; expected a CUDA device TRT can run on: "
                                          r"core.trt v\S+ needs an NVIDIA driver for CUDA 13.0 or newer"):
        Backend.TRT().inference(clip, make_model(3, 3))
    assert builds == []


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
