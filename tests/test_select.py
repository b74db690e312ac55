"""The autoselect policy, table-driven over vendors, OSes and plugin sets; the registry; this machine."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, pattern
from vsinfer import Backend, select
from vsinfer.backends import registry
from vsinfer.errors import ConfigError, NoBackendError
from vsinfer.plugins import PluginStatus
from vsinfer.select import Environment, decide


def env(
    vendor: str | None,
    os: str = "linux",
    loaded: tuple[str, ...] = (),
    providers: str = "",
    ov_devices: tuple[str, ...] = ("CPU",),
    modules: tuple[str, ...] = (),
    dists: tuple[str, ...] = (),
) -> Environment:
    plugins = {}
    for ns in loaded:
        info = {"version": "v17.1"} | ({"providers": providers} if ns == "ort" else {})
        plugins[ns] = PluginStatus(ns, True, "v17.1", info, ov_devices if ns == "ov" else (), None)
    return Environment(vendor, os, plugins, frozenset(modules), frozenset(dists), "test")


ALL_NV = ("trt", "trt_rtx", "ort", "ov", "ncnn")
TABLE: list[tuple[str, Environment, str]] = [
    # nvidia
    ("nv-trt", env("nvidia", loaded=ALL_NV, modules=("tensorrt", "tensorrt_rtx")), "TRT"),
    ("nv-trt-no-builder", env("nvidia", loaded=ALL_NV, modules=("tensorrt_rtx",)), "TRT_RTX"),
    ("nv-rtx", env("nvidia", loaded=("trt_rtx", "ov"), modules=("tensorrt_rtx",)), "TRT_RTX"),
    ("nv-rtx-no-builder", env("nvidia", loaded=("trt_rtx", "ov")), "OV_CPU"),
    ("nv-win-dml", env("nvidia", "windows", loaded=("ort", "ov"), providers="DML,CUDA",
                       dists=("vapoursynth-mlrt-ort-cuda",)), "ORT_DML"),
    ("nv-linux-dml-build", env("nvidia", loaded=("ort", "ncnn"), providers="DML"), "NCNN"),
    ("nv-ort-cuda", env("nvidia", loaded=("ort", "ncnn"), providers="CUDA", dists=("vapoursynth-mlrt-ort-cuda",)),
     "ORT_CUDA"),
    ("nv-ort-cuda-no-libs", env("nvidia", loaded=("ort", "ncnn"), providers="CUDA"), "NCNN"),
    ("nv-ncnn", env("nvidia", loaded=("ncnn", "ov")), "NCNN"),
    ("nv-cpu-ov", env("nvidia", loaded=("ov", "ort")), "OV_CPU"),
    ("nv-cpu-ort", env("nvidia", loaded=("ort",)), "ORT_CPU"),
    # amd
    ("amd-win-dml", env("amd", "windows", loaded=("ort", "migx", "ncnn"), providers="DML"), "ORT_DML"),
    ("amd-migx", env("amd", loaded=("ort", "migx", "ncnn"), providers="DML"), "MIGX"),
    ("amd-ncnn", env("amd", loaded=("ncnn", "ov")), "NCNN"),
    ("amd-cpu", env("amd", loaded=("ov",)), "OV_CPU"),
    ("amd-win-no-dml", env("amd", "windows", loaded=("ort",), providers="CUDA"), "ORT_CPU"),
    # intel
    ("intel-ov-gpu", env("intel", loaded=("ov", "ncnn"), ov_devices=("CPU", "GPU.0")), "OV_GPU"),
    ("intel-win-dml", env("intel", "windows", loaded=("ov", "ort"), providers="DML"), "ORT_DML"),
    ("intel-ncnn", env("intel", loaded=("ov", "ncnn")), "NCNN"),
    ("intel-cpu", env("intel", loaded=("ov",)), "OV_CPU"),
    # apple
    ("apple-ncnn", env("apple", "darwin", loaded=("ncnn", "ort"), providers="COREML"), "NCNN"),
    ("apple-coreml", env("apple", "darwin", loaded=("ort",), providers="COREML"), "ORT_COREML"),
    ("apple-cpu", env("apple", "darwin", loaded=("ort",)), "ORT_CPU"),
    # none / other
    ("none-ov", env(None, loaded=ALL_NV, modules=("tensorrt",)), "OV_CPU"),
    ("none-ort", env(None, "windows", loaded=("ort",), providers="DML"), "ORT_CPU"),
    ("other-vendor", env("matrox", loaded=("ov",)), "OV_CPU"),
]


@pytest.mark.parametrize(("environment", "expected"), [(e, x) for _, e, x in TABLE], ids=[n for n, _, _ in TABLE])
def test_policy(environment: Environment, expected: str) -> None:
    decision = decide(environment)
    assert decision.cls.__name__ == expected
    assert decision.steps[-1].taken and decision.steps[-1].name == expected
    assert all(not s.taken and s.reason for s in decision.steps[:-1])


def test_no_cpu_plugin_says_what_to_install() -> None:
    with pytest.raises(NoBackendError, match=r"pip install 'vsinfer\[cpu\]'"):
        decide(env("nvidia", loaded=("trt_rtx",)))


def test_explanation_names_each_reason() -> None:
    text = str(decide(env("nvidia", loaded=("ort", "ov"), providers="CUDA")))
    assert "GPU vendor: nvidia" in text
    assert "TRT: core.trt not loaded (pip install 'vsinfer[trt]')" in text
    assert "ORT_CUDA: the CUDA provider's libraries are missing: pip install 'vsinfer[ort-cuda]'" in text
    assert "-> OV_CPU" in text and text.endswith("chosen: OV_CPU")


@pytest.fixture
def fake_machine(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(registry, "_registered", [])  # a clean registry: the built-ins are kept apart and always there

    def use(environment: Environment) -> None:
        monkeypatch.setattr(select, "current_environment", lambda device_id=0: environment)

    return use


def test_device_id_and_kwargs_reach_the_chosen_class(fake_machine: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake_machine(env("nvidia", loaded=("ncnn", "ov")))
    with caplog.at_level(logging.DEBUG, logger="vsinfer.select"):
        backend = Backend.autoselect(1, fp16=False, num_threads=4)
    assert backend == Backend.NCNN(device_id=1, fp16=False)
    assert "does not take ['num_threads']; dropped" in caplog.text
    with pytest.raises(ConfigError, match=r"num_threads=\{'num_threads': 4\} .* fields of NCNN"):
        Backend.autoselect(1, strict=True, num_threads=4)


def test_cpu_choice_has_no_device_id(fake_machine: Any) -> None:
    fake_machine(env(None, loaded=("ov",)))
    assert Backend.autoselect(3, fp16=False) == Backend.OV_CPU(fp16=False)


@dataclass(frozen=True, kw_only=True)
class MyBackend(Backend):
    """A backend written outside vsinfer, for a plugin namespace vsinfer does not know."""

    namespace: ClassVar[str] = "myfake"
    quality: int = 3
    """Passed to the plugin."""

    def get_args(self, clips: Any) -> dict[str, Any]:
        return {"quality": self.quality}


class FakePlugin:
    """Stands for core.myfake: a Model function with a signature, recording its calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        plugin = self

        class Model:
            signature = "clips:vnode[];network_path:data;overlap:int[]:opt;tilesize:int[]:opt;quality:int:opt;"

            def __call__(self, **kwargs: Any) -> vs.VideoNode:
                plugin.calls.append(kwargs)
                return kwargs["clips"][0]

        self.Model = Model()

    def Version(self) -> dict[str, str]:  # noqa: N802
        return {"version": "v1"}


def test_registered_backend_is_chosen_and_reaches_its_plugin(fake_machine: Any, monkeypatch: pytest.MonkeyPatch,
                                                             make_model: ModelFactory) -> None:
    import vsinfer.backends.call as base
    import vsinfer.plugins as plugins

    fake = FakePlugin()
    real_get = plugins.get_plugin
    monkeypatch.setattr(base, "get_plugin", lambda ns: fake if ns == "myfake" else real_get(ns))
    monkeypatch.setattr(plugins, "get_plugin", lambda ns: fake if ns == "myfake" else real_get(ns))
    select.register(MyBackend, vendors=["nvidia"], priority=95,
                    available=lambda e: None if e.loaded("myfake") else "core.myfake not loaded")
    status = PluginStatus("myfake", True, "v1", {}, (), None)
    environment = env("nvidia", loaded=("trt_rtx", "ov"), modules=("tensorrt_rtx",))
    fake_machine(Environment("nvidia", "linux", dict(environment.plugins) | {"myfake": status},
                             environment.modules))
    backend = Backend.autoselect(quality=7)
    assert backend == MyBackend(quality=7)
    assert [s.name for s in Backend.explain_autoselect().steps] == ["TRT", "MyBackend"]  # 100 > 95 > 90
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    out = backend.inference(clip, make_model(3, 3), 2, 16)
    assert isinstance(out, vs.VideoNode)
    (call,) = fake.calls
    assert call["quality"] == 7 and call["tilesize"] == [16, 16] and call["overlap"] == [2, 2]
    assert call["network_path"].endswith("model0.onnx")
    # without its plugin it is passed over, with the reason
    fake_machine(environment)
    decision = decide(environment)
    assert decision.steps[1].name == "MyBackend" and decision.steps[1].reason == "core.myfake not loaded"
    assert decision.cls is Backend.TRT_RTX


def test_this_machine_picks_the_cpu_backend() -> None:
    backend = Backend.autoselect()
    assert type(backend).__name__ in ("OV_CPU", "ORT_CPU"), backend
    from vsinfer.device import probe_gpu

    if probe_gpu(0).vendor is None:
        assert type(backend).__name__ == "OV_CPU"
    assert Backend.explain_autoselect().cls is type(backend)


@pytest.mark.parametrize("command", [["-m", "vsinfer", "info"], ["-m", "vsinfer", "info", "--json"]])
def test_vsinfer_info_runs(command: list[str]) -> None:
    result = subprocess.run([sys.executable, *command], capture_output=True, text=True, check=True, timeout=120)
    if "--json" in command:
        report = json.loads(result.stdout)  # stdout holds the report and nothing else
        assert report["plugins"]["ort"]["loaded"] and report["autoselect"]["chosen"] in ("OV_CPU", "ORT_CPU")
        assert "root" in report["cache"]
    else:
        assert "Autoselect" in result.stdout and "Plugins" in result.stdout
        assert "ov       loaded" in result.stdout


def test_register_adds_to_the_builtins_without_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """A register() before any autoselect must not hide the built-ins (it used to)."""
    monkeypatch.setattr(registry, "_registered", [])
    select.register(MyBackend, vendors=["nvidia"], priority=95)
    names = [c.cls.__name__ for c in registry.offers("nvidia")]
    assert names[:3] == ["TRT", "MyBackend", "TRT_RTX"] and "NCNN" in names
    decision = decide(env("nvidia", loaded=("ncnn", "ov")))
    assert decision.cls is Backend.NCNN
    assert ("MyBackend", "core.myfake is not loaded in VapourSynth") in [(s.name, s.reason) for s in decision.steps]


def test_a_cpu_runtime_registered_above_the_builtins_serves_a_machine_without_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_registered", [])
    select.register(MyBackend, vendors=["cpu"], priority=30)
    status = PluginStatus("myfake", True, "v1", {}, (), None)
    base = env(None, loaded=("ov", "ort"))
    decision = decide(Environment(None, "linux", dict(base.plugins) | {"myfake": status}, gpu_detail="none"))
    assert decision.cls is MyBackend
    assert decision.steps[-1].reason == "CPU fallback: its availability check passed"
    # without its plugin: passed over with a reason that reads right, OV_CPU chosen
    decision = decide(base)
    assert decision.cls is Backend.OV_CPU
    assert ("MyBackend", "core.myfake is not loaded in VapourSynth") in [(s.name, s.reason) for s in decision.steps]
    # below the built-ins it is only tried after them
    monkeypatch.setattr(registry, "_registered", [])
    select.register(MyBackend, vendors=["cpu"], priority=5)
    assert decide(Environment(None, "linux", dict(base.plugins) | {"myfake": status})).cls is Backend.OV_CPU


def test_register_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="vendors"):
        select.register(MyBackend, vendors=[], priority=1)
    with pytest.raises(ConfigError, match="priority"):
        select.register(MyBackend, vendors=["cpu"], priority="high")  # type: ignore[arg-type]
