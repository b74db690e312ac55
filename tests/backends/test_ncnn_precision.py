"""NCNN's default precision by device: fp16 on a GPU, float32 on a CPU Vulkan device; an explicit fp16 always wins.

GPUs (and a GPU beside lavapipe) cannot run here, so the device facts of those tests come from a stand-in for
core.ncnn's ``DeviceProperties`` (the query ``vsinfer.backends.ncnn.vulkan_device`` reads); the tests at the end
run the real plugin on this machine's Vulkan device (lavapipe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, clip_from_planes, missing, need_plugin
from vsinfer import Backend, plugins
from vsinfer.backends.ncnn import backend as ncnn_module
from vsinfer.backends.ncnn.backend import CPU_DEVICE_TYPE, vulkan_device
from vsinfer.errors import ConfigError, ModelError
from vsinfer.model import ModelInfo, TensorInfo
from vsinfer.presets import preset_fields
from vsinfer.tune.search import precision_variants

GPU, LAVAPIPE, SWIFTSHADER = 0, 1, 2
DEVICES: list[dict[str, Any]] = [
    {"device_name": "NVIDIA GeForce RTX 4090", "type": 0, "vendor_id": 0x10DE},
    {"device_name": "llvmpipe (LLVM 15.0.6, 256 bits)", "type": CPU_DEVICE_TYPE, "vendor_id": 0x10005},
    {"device_name": "SwiftShader Device (Subzero)", "vendor_id": 0x1AE0},  # no "type": known by its name
]
"""What core.ncnn 17.1's DeviceProperties reports (its keys; lavapipe's values as read on this machine)."""


class FakeNcnn:
    """Stands for core.ncnn's query functions on a machine with a GPU, lavapipe and SwiftShader."""

    def DeviceProperties(self, device_id: int = 0) -> dict[str, Any]:  # noqa: N802
        if device_id >= len(DEVICES):
            raise vs.Error("get_gpu_device failed")
        return {**DEVICES[device_id], "device_id": device_id}


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(plugins, "get_plugin", lambda namespace: FakeNcnn())
    monkeypatch.setattr(ncnn_module, "_told", set())
    plugins.clear_device_cache()
    yield
    plugins.clear_device_cache()


def clip(fmt: int) -> vs.VideoNode:
    return vs.core.std.BlankClip(format=fmt, width=32, height=24, length=1)


def model(channels_out: int) -> ModelInfo:
    return ModelInfo("/m.onnx", 1, (TensorInfo("x", 1, (1, 3, None, None)),),
                     (TensorInfo("y", 1, (1, channels_out, None, None)),))


# -- the device decides when fp16 is unset -------------------------------------------------------------------------
def test_cpu_vulkan_devices_are_known_by_type_or_name(devices: None) -> None:
    assert [vulkan_device(i).on_cpu for i in (GPU, LAVAPIPE, SWIFTSHADER)] == [False, True, True]  # type: ignore[union-attr]
    assert vulkan_device(7) is None


@pytest.mark.parametrize(("device_id", "fp16"), [(GPU, True), (LAVAPIPE, False), (SWIFTSHADER, False), (7, True)])
def test_the_default_is_by_device(devices: None, device_id: int, fp16: bool) -> None:
    backend = Backend.NCNN(device_id=device_id)
    assert backend.fp16 is None  # the description stays "by device"; what it resolves to is asked for
    assert backend.fp16_on() is fp16
    assert backend.precision() == ("fp16" if fp16 else "fp32")
    assert backend.guard_on() is fp16
    assert backend.get_args(clip(vs.RGBS)) == {"device_id": device_id, "num_streams": 1, "fp16": int(fp16),
                                               "output_format": 0}
    # half clips: half output from an fp16 run; a float32 run takes (and gives) single floats
    assert backend.get_args(clip(vs.RGBH))["output_format"] == int(fp16)
    assert backend.input_bits([clip(vs.RGB24)], model(3)) == (16 if fp16 else 32)


@pytest.mark.parametrize("fp16", [True, False])
@pytest.mark.parametrize("device_id", [GPU, LAVAPIPE, SWIFTSHADER])
def test_an_explicit_fp16_is_always_honoured(devices: None, device_id: int, fp16: bool) -> None:
    backend = Backend.NCNN(device_id=device_id, fp16=fp16)
    assert backend.fp16_by_device() == (fp16,)
    assert backend.get_args(clip(vs.RGBS))["fp16"] == int(fp16)
    assert backend.precision() == ("fp16" if fp16 else "fp32")
    assert backend.guard_on() is fp16
    assert Backend.NCNN(device_id=device_id, fp16=fp16, fp16_guard=False).guard_on() is False


def test_half_output_asks_for_an_fp16_run(devices: None) -> None:
    assert Backend.NCNN(device_id=LAVAPIPE, output_format=1).fp16 is True
    assert Backend.NCNN(device_id=LAVAPIPE, output_format=1).get_args(clip(vs.RGBS))["fp16"] == 1
    with pytest.raises(ConfigError, match="output_format=1 is not valid; expected None or 0 with fp16=False"):
        Backend.NCNN(fp16=False, output_format=1)


# -- the hooks that read the precision see the resolved value --------------------------------------------------------
def test_float32_half_and_other_precision_follow_the_device(devices: None) -> None:
    gpu, cpu = Backend.NCNN(device_id=GPU), Backend.NCNN(device_id=LAVAPIPE)
    assert gpu.half() is None and gpu.float32() == Backend.NCNN(device_id=GPU, fp16=False)
    assert gpu.other_precision() == Backend.NCNN(device_id=GPU, fp16=False)
    assert cpu.half() == Backend.NCNN(device_id=LAVAPIPE, fp16=True)
    assert cpu.other_precision() == Backend.NCNN(device_id=LAVAPIPE, fp16=True)  # it already runs float32
    assert cpu.float32().precision() == "fp32" and cpu.half().precision() == "fp16"  # type: ignore[union-attr]


def test_tune_variants_write_the_device_precision_out(devices: None) -> None:
    gpu, cpu = Backend.NCNN.tune_variants(GPU), Backend.NCNN.tune_variants(LAVAPIPE)
    assert [(b.fp16, b.num_streams) for b in gpu] == [(True, 1), (True, 2)]  # type: ignore[attr-defined]
    assert [(b.fp16, b.num_streams) for b in cpu] == [(False, 1), (False, 2)]  # type: ignore[attr-defined]
    # the float32 variant autotune tries after a rejection is a new configuration, never the same one renamed
    assert precision_variants(cpu[0]) == [Backend.NCNN(device_id=LAVAPIPE, fp16=True)]
    assert precision_variants(gpu[0]) == [Backend.NCNN(device_id=GPU, fp16=False)]


def test_presets(devices: None) -> None:
    assert preset_fields("fast", Backend.NCNN) == {"fp16": None, "bf16": False, "num_streams": 2}
    assert preset_fields("exact", Backend.NCNN)["fp16"] is False
    assert Backend.NCNN(device_id=GPU, fp16=None, num_streams=2).fp16_on() is True  # "fast" on a GPU: fp16
    assert Backend.NCNN(device_id=LAVAPIPE, fp16=None, num_streams=2).fp16_on() is False


def test_effective_precision_says_why(devices: None) -> None:
    assert Backend.NCNN(device_id=GPU).effective_precision() == ("fp16", "")
    assert Backend.NCNN(device_id=LAVAPIPE, fp16=False).effective_precision() == ("fp32", "")
    computes, why = Backend.NCNN(device_id=LAVAPIPE).effective_precision()
    assert computes == "fp32"
    assert why.startswith("float32: device 1 (llvmpipe (LLVM 15.0.6, 256 bits)) is a CPU Vulkan device, which "
                          "emulates fp16")
    computes, why = Backend.NCNN(device_id=SWIFTSHADER, fp16=True).effective_precision()
    assert computes == "fp16" and "SwiftShader" in why and "emulates fp16" in why


# -- several devices: each resolves its own precision ---------------------------------------------------------------
def test_a_gpu_beside_lavapipe_resolves_per_device(devices: None) -> None:
    mixed = Backend.NCNN(device_id=(GPU, LAVAPIPE))
    assert mixed.fp16_by_device() == (True, False)
    assert mixed.precision() == "fp16" and mixed.guard_on()  # part of it runs fp16: checked, and not "exact"
    singles = mixed.on_each_device()
    assert [s.get_args(clip(vs.RGBS))["fp16"] for s in singles] == [1, 0]
    # one set of converted clips for both: single floats, so that both outputs have one format to join
    assert mixed.input_bits([clip(vs.RGB24)], model(3)) == 32
    assert mixed.input_bits([clip(vs.RGBH)], model(3)) == 32
    assert {s.get_args(clip(vs.RGBS))["output_format"] for s in singles} == {0}
    assert mixed.half() == Backend.NCNN(device_id=(GPU, LAVAPIPE), fp16=True)
    assert mixed.float32().fp16_by_device() == (False, False)
    computes, why = mixed.effective_precision()
    assert computes == "fp16"
    assert why.startswith("by device: fp16 on device 0 (NVIDIA GeForce RTX 4090), float32 on device 1 (llvmpipe")
    explicit = Backend.NCNN(device_id=(GPU, LAVAPIPE), fp16=True)
    assert explicit.fp16_by_device() == (True, True) and explicit.input_bits([clip(vs.RGB24)], model(3)) == 16


# -- what the plugin cannot take, said in the terms the user gave ----------------------------------------------------
def test_flexible_output_of_four_channels_needs_fp16(devices: None) -> None:
    four = model(4)
    out = four.outputs[0]
    Backend.NCNN(device_id=GPU).check_call(four, out, True, {}, "NCNN")  # fp16 by device: no crash
    Backend.NCNN(device_id=LAVAPIPE, fp16=True).check_call(four, out, True, {}, "NCNN")
    with pytest.raises(ModelError, match=r"fp16=None \(float32 by device on device 1 \(llvmpipe .*\)\) is not valid; "
                                         r"expected fp16=True for a model with 4 output channels"):
        Backend.NCNN(device_id=LAVAPIPE).check_call(four, out, True, {}, "NCNN")
    with pytest.raises(ModelError, match=r"fp16=False is not valid"):
        Backend.NCNN(device_id=GPU).check_call(four, out, True, {"fp16": 0}, "NCNN")
    with pytest.raises(ModelError, match=r"fp16=None \(float32 by device on device 1 \(llvmpipe"):
        Backend.NCNN(device_id=(GPU, LAVAPIPE)).check_call(four, out, True, {}, "NCNN")


def test_the_call_settles_the_device_default_where_float32_would_crash(devices: None) -> None:
    """``for_call``: flexible output of 4k channels on lavapipe runs fp16 by default; anything the user set stays."""
    four, three = model(4), model(3)
    on_cpu = Backend.NCNN(device_id=LAVAPIPE)
    assert on_cpu.for_call(four, four.outputs[0], True, {}) == Backend.NCNN(device_id=LAVAPIPE, fp16=True)
    assert on_cpu.for_call(four, four.outputs[0], True, {}).for_call(four, four.outputs[0], True, {}).fp16 is True
    for backend, m, flexible, kwargs in ((on_cpu, three, False, {}), (on_cpu, four, True, {"fp16": 0}),
                                         (Backend.NCNN(device_id=LAVAPIPE, fp16=False), four, True, {}),
                                         (Backend.NCNN(device_id=GPU), four, True, {})):
        assert backend.for_call(m, m.outputs[0], flexible, kwargs) is backend


def test_the_device_default_is_said_once(devices: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vsinfer"):
        Backend.NCNN(device_id=GPU).check_device("NCNN")
        Backend.NCNN(device_id=LAVAPIPE, fp16=False).check_device("NCNN")
        assert not caplog.records  # nothing to say: a GPU, or the user chose
        Backend.NCNN(device_id=LAVAPIPE).check_device("NCNN")
        Backend.NCNN(device_id=LAVAPIPE).check_device("NCNN")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("NCNN: float32 on device 1 (llvmpipe (LLVM 15.0.6, 256 bits)): a CPU "
                                          "Vulkan device emulates fp16")


# -- the real plugin on this machine's Vulkan device ---------------------------------------------------------------
@pytest.fixture
def on_cpu_device() -> None:
    need_plugin("ncnn")
    plugins.clear_device_cache()
    device = vulkan_device(0)
    if device is None or not device.on_cpu:
        missing(None, f"Vulkan device 0 is {device.name if device else 'missing'}, not a CPU Vulkan device")


def test_lavapipe_reads_as_a_cpu_device(on_cpu_device: None) -> None:
    device = vulkan_device(0)
    assert device is not None and device.on_cpu and device.name.startswith(("llvmpipe", "SwiftShader"))
    assert Backend.NCNN().get_args(clip(vs.RGBS))["fp16"] == 0
    assert Backend.NCNN().effective_precision()[0] == "fp32"


def test_default_runs_float32_and_fp16_true_runs_fp16(on_cpu_device: None, make_model: ModelFactory) -> None:
    rng = np.random.default_rng(3)
    frames = rng.random((3, 40, 48), dtype=np.float32)
    source = clip_from_planes(frames, vs.RGBS)
    path = make_model(3, 3)

    def run(backend: Any) -> np.ndarray:
        frame = backend.inference(source, path).get_frame(0)
        return np.stack([np.asarray(frame[p]) for p in range(3)])

    default, exact, half = run(Backend.NCNN()), run(Backend.NCNN(fp16=False)), run(Backend.NCNN(fp16=True))
    assert np.array_equal(default, exact)  # the same plugin call, bit for bit
    assert float(np.max(np.abs(half - exact))) > 0  # fp16=True is honoured: half-float rounding shows
    assert float(np.max(np.abs(half - exact))) < 0.05


def test_flexible_four_channels_run_fp16_by_default_on_lavapipe(on_cpu_device: None, make_model: ModelFactory) -> None:
    """Float32 would crash core.ncnn here: ``NCNN()`` runs this call in fp16 and gives the picture."""
    from tests.conftest import reference

    x = np.random.default_rng(4).random((3, 24, 32), dtype=np.float32)
    path = make_model(3, 4)
    planes = Backend.NCNN().inference(clip_from_planes(x, vs.RGBS), path, flexible=True)
    got = np.stack([np.asarray(p.get_frame(0)[0]) for p in planes])
    assert got.shape == (4, 24, 32)
    assert float(np.max(np.abs(got - reference(path, x[None])[0]))) < 0.05
