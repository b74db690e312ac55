"""Right on every CPU: what ``OV_CPU()`` computes on each CPU kind, the first-use probe, Q/DQ under real fp16.

The three CPU kinds met (an Intel Xeon without BF16, an AMD EPYC with AVX512-BF16, a Xeon of the Sapphire Rapids
kind with AMX-BF16 and AVX512-FP16) are given to vsinfer as their flags; OpenVINO itself runs on the CPU in hand,
so the tests that render take their expectations from ``effective_precision()``, never from the CPU they were
written on.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import clip_from_planes, need_plugin, pattern, planes_of
from tests.zoo.cells import ZOO
from vsinfer import Backend
from vsinfer.backends import first_use
from vsinfer.backends.first_use import ProbeSpec
from vsinfer.backends.ov import backend as ov_backend
from vsinfer.device import CPU, cpu
from vsinfer.errors import BuildError
from vsinfer.model import model_info

XEON = frozenset({"avx2", "avx512f", "avx512_vnni"})
EPYC = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
                             "amx_tile"})
KINDS = {"xeon-no-bf16": XEON, "epyc-avx512-bf16": EPYC, "sapphire-rapids-amx": SAPPHIRE_RAPIDS}
F16 = {"INFERENCE_PRECISION_HINT": "f16"}


def as_cpu(monkeypatch: pytest.MonkeyPatch, flags: frozenset[str]) -> CPU:
    """vsinfer sees a CPU with ``flags`` (the model name says it is emulated)."""
    machine = dataclasses.replace(cpu(), model=f"{cpu().model} (emulated)", flags=flags)
    monkeypatch.setattr(ov_backend, "cpu", lambda: machine)
    monkeypatch.setattr(first_use, "cpu", lambda: machine)
    return machine


def hint(backend: Backend) -> str:
    """The hint in the ``config`` vsinfer hands the plugin (as written: benchmarks/no_bf16 rewrites the call's)."""
    return str(backend.get_args([])["config"].properties["INFERENCE_PRECISION_HINT"])


@pytest.mark.parametrize("kind", KINDS)
def test_fp16_true_runs_the_fastest_reduced_precision_of_each_cpu_kind(kind: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    as_cpu(monkeypatch, KINDS[kind])
    default = Backend.OV_CPU()
    computes, why = default.effective_precision()
    want = "fp32" if kind == "xeon-no-bf16" else "bf16"
    assert computes == want and default.precision() == want
    assert hint(default) == {"fp32": "f32", "bf16": "bf16"}[want]
    assert why.startswith("fp16=True runs") and ("float32" if want == "fp32" else "bf16") in why
    assert default.guard_on() is (want == "bf16")  # bf16 chosen for fp16=True is guarded; float32 needs nothing
    assert default.probe_spec(model_info(ZOO / "swinir.onnx")) is None  # nothing risky is chosen by default
    # exact float32 stays reachable, and so do bf16 and true fp16 when asked
    exact = Backend.OV_CPU(fp16=False)
    assert hint(exact) == "f32" and exact.effective_precision() == ("fp32", "")
    assert hint(Backend.OV_CPU(bf16=True)) == "bf16" and not Backend.OV_CPU(bf16=True).guard_on()
    real = Backend.OV_CPU(custom_config=F16)
    assert hint(real) == "f16" and real.precision() == "fp16"
    assert real.guard_on() is (real.effective_precision()[0] != "fp32")  # a CPU computing float32 needs no guard
    assert hint(real.float32()) == "f32" and real.float32().precision() == "fp32"


def test_real_fp16_is_named_and_probed_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_info(ZOO / "swinir.onnx")
    for flags, computes, probed in ((XEON, "fp32", False), (EPYC, "bf16", False), (SAPPHIRE_RAPIDS, "fp16", True)):
        as_cpu(monkeypatch, flags)
        real = Backend.OV_CPU(custom_config=F16)
        assert real.effective_precision()[0] == computes
        spec = real.probe_spec(model)
        assert (spec is not None) is probed
        if spec is not None:  # the child gets the real call's arguments, the config as data
            assert spec.args["config"]["INFERENCE_PRECISION_HINT"] == "f16" and spec.args["device"] == "CPU"
            assert not spec.default_precision and "OV_CPU(" in spec.alternatives


def crashing_child(monkeypatch: pytest.MonkeyPatch, sig: signal.Signals = signal.SIGFPE) -> list[list[str]]:
    """The probe's child dies of ``sig`` (a stand-in for OpenVINO's fp16 kernels on SwinIR); returns the calls."""
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, -int(sig), "", "")

    monkeypatch.setattr(first_use.subprocess, "run", run)
    return calls


def rgb(h: int, w: int) -> Any:
    import vapoursynth as vs

    return clip_from_planes(pattern(3, h, w), vs.RGBS, length=1)


def test_a_crash_of_real_fp16_is_a_clear_error_naming_the_signal_and_is_remembered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    need_plugin("ov")
    as_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    calls = crashing_child(monkeypatch)
    backend = Backend.OV_CPU(custom_config=F16, fp16_guard=False)
    with pytest.raises(BuildError, match=r"kills the process \(SIGFPE\).*use instead: OV_CPU\(\)"):
        backend.inference(rgb(32, 32), ZOO / "span.onnx")
    assert len(calls) == 1
    with pytest.raises(BuildError, match="SIGFPE"):  # the verdict is in the store: no second child
        backend.inference(rgb(32, 32), ZOO / "span.onnx")
    assert len(calls) == 1
    # the default never needs the probe: it runs, in the process, without a child
    out = Backend.OV_CPU().inference(rgb(32, 32), ZOO / "span.onnx")
    assert planes_of(out).shape[0] == 3 and len(calls) == 1


def test_the_probe_child_runs_openvino_with_its_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real child, with OpenVINO and the f16 hint (what it computes is this CPU's): a right picture passes."""
    need_plugin("ov")
    as_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    clip = rgb(32, 32)
    out = Backend.OV_CPU(custom_config=F16).inference(clip, ZOO / "span.onnx")
    want = Backend.ORT_CPU(fp16=False).inference(clip, ZOO / "span.onnx")
    computes = Backend.OV_CPU(custom_config=F16).effective_precision()
    scale = float(np.abs(planes_of(want)).max())  # the zoo's random weights give outputs of about +-11
    assert np.abs(planes_of(out) - planes_of(want)).max() <= first_use.tolerance(True, scale), computes
    assert list((Path(first_use.Store().folder("probe"))).glob("*.json")), "the verdict is kept in the store"


class _Stub:
    """A backend as ``first_use.checked`` sees it: a risky default precision, and its float32 twin."""

    namespace = "ov"
    path_argument = "network_path"

    def __init__(self, reduced: bool) -> None:
        self.reduced = reduced

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Stub) and other.reduced == self.reduced

    def __hash__(self) -> int:
        return hash(self.reduced)

    def probe_spec(self, model: Any) -> ProbeSpec | None:
        if not self.reduced:
            return None
        return ProbeSpec(args={"device": "CPU"}, device="CPU", reduced=True, why="test", alternatives="ORT_CPU()",
                         default_precision=True)

    def float32(self) -> _Stub:
        return _Stub(False)

    def on_each_device(self) -> list[_Stub]:
        return [self]


def test_a_crash_in_the_default_reduced_precision_falls_back_to_float32_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    crashing_child(monkeypatch, signal.SIGSEGV)
    model = model_info(ZOO / "span.onnx")
    with caplog.at_level(logging.DEBUG, logger="vsinfer"):
        got = first_use.checked(_Stub(True), model, 3, (32, 32), "Stub")
        again = first_use.checked(_Stub(True), model, 3, (32, 32), "Stub")
    assert got == _Stub(False) and again == _Stub(False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "SIGSEGV" in warnings[0].getMessage() and "float32" in warnings[0].getMessage()


def test_a_quantized_model_under_real_fp16_runs_in_float32(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Real fp16 moved the INT8 Q/DQ model 0.061 from float32 on a Sapphire Rapids Xeon: it runs in float32 there."""
    need_plugin("ov")
    as_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    calls = crashing_child(monkeypatch)  # float32 needs no probe: a child would fail the test
    clip = rgb(32, 32)
    with caplog.at_level(logging.WARNING, logger="vsinfer"):
        out = Backend.OV_CPU(custom_config=F16).inference(clip, ZOO / "compact_int8.onnx")
    exact = Backend.OV_CPU(fp16=False).inference(clip, ZOO / "compact_int8.onnx")
    assert np.array_equal(planes_of(out), planes_of(exact)) and calls == []
    assert any("quantized (Q/DQ)" in r.getMessage() and "float32" in r.getMessage() for r in caplog.records)


def test_the_default_on_a_quantized_model_stays_in_the_reduced_class() -> None:
    """``OV_CPU()`` on the INT8 Q/DQ model, on the CPU in hand: within 0.03 of onnxruntime float32.

    Measured 8.7e-3 in bf16 and in float32 alike (OpenVINO runs the quantized convolutions in int8 either way); real
    fp16 gave 0.061, which is why it is never the default.
    """
    need_plugin("ov")
    clip = rgb(64, 64)
    out = Backend.OV_CPU().inference(clip, ZOO / "compact_int8.onnx")
    want = Backend.ORT_CPU(fp16=False).inference(clip, ZOO / "compact_int8.onnx")
    error = float(np.abs(planes_of(out) - planes_of(want)).max())
    assert error <= 3e-2, (Backend.OV_CPU().effective_precision(), error)


@pytest.mark.parametrize("kind", KINDS)
def test_autotune_tries_every_precision_the_cpu_offers_once(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    as_cpu(monkeypatch, KINDS[kind])
    tried = Backend.OV_CPU.tune_variants()
    hints = [hint(b) for b in tried]
    want = {"xeon-no-bf16": ["f32"] * 3, "epyc-avx512-bf16": ["bf16"] * 3 + ["f32"],
            "sapphire-rapids-amx": ["bf16"] * 3 + ["f32", "f16"]}[kind]
    assert hints == want and tried[0] == Backend.OV_CPU()  # the default first, its stream counts, then the others
