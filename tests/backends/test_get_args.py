"""get_args of every backend class: defaults and a non-default instance, as exact keyword dicts."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, need_plugin
from vsinfer import Backend
from vsinfer.backends.ov import OVConfig

CPU_REDUCED_HINT = {"bf16": "bf16", "fp32": "f32"}[Backend.OV_CPU().effective_precision()[0]]
"""The hint ``OV_CPU()`` gives OpenVINO on this CPU, from its own report (tests/backends/test_cpu_precision.py checks
the rule on every CPU kind)."""

VALUE_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "data": (str, bytes)}
"""The Python values a VapourSynth argument of each signature type takes (func: any callable)."""


def loaded_signature(namespace: str) -> dict[str, tuple[str, bool]]:
    """``core.<namespace>.Model.signature`` of the loaded plugin: name -> (type, is an array)."""
    __tracebackhide__ = True
    need_plugin(namespace)
    signature = getattr(vs.core, namespace).Model.signature
    return {name: (kind.removesuffix("[]"), kind.endswith("[]"))
            for name, kind, *_ in (item.split(":") for item in signature.split(";") if item)}


def takes(kind: str, value: Any) -> bool:
    """True when a plugin argument of signature type ``kind`` takes ``value`` (bool counts as an int)."""
    return callable(value) if kind == "func" else isinstance(value, VALUE_TYPES[kind])


@pytest.fixture(autouse=True)
def warning_level() -> Any:
    log = logging.getLogger("vsinfer")
    old = log.level
    log.setLevel(logging.WARNING)
    yield
    log.setLevel(old)


def ov_config(**props: Any) -> OVConfig:
    from vsinfer.backends.fields import FrozenMapping

    return OVConfig(FrozenMapping(props))


TOLERANCE = {"fp32": 1e-5, "fp16": 5e-3, "bf16": 3e-2}
"""Largest difference from the float32 reference of a one-Conv model on pictures in [0, 1], by the precision
the backend computes in (bf16 keeps 8 mantissa bits: ~0.4 % of each product)."""

CASES: list[tuple[Any, dict[str, Any]]] = [
    (Backend.ORT_CPU(), {"provider": "CPU", "num_streams": 1, "verbosity": 2, "fp16": 0, "output_format": 0}),
    (Backend.ORT_CPU(fp16=True), {"provider": "CPU", "num_streams": 1, "verbosity": 2, "fp16": 1, "output_format": 1}),
    (
        Backend.ORT_CPU(num_streams=3, verbosity=0, fp16=True, fp16_blacklist_ops=["Resize", "Conv", "Resize"],
                        output_format=Backend.ORT.OutputFormat.FP32),
        {"provider": "CPU", "num_streams": 3, "verbosity": 0, "fp16": 1, "fp16_blacklist_ops": ["Conv", "Resize"],
         "output_format": 0},
    ),
    (Backend.ORT_CPU(fp16=False), {"provider": "CPU", "num_streams": 1, "verbosity": 2, "fp16": 0, "output_format": 0}),
    (
        Backend.ORT_CUDA(),
        {"provider": "CUDA", "num_streams": 1, "verbosity": 2, "fp16": 1, "output_format": 1, "device_id": 0,
         "cudnn_benchmark": 1, "use_cuda_graph": 0, "tf32": 0, "prefer_nhwc": 0},
    ),
    (
        Backend.ORT_CUDA(device_id=1, cudnn_benchmark=False, use_cuda_graph=True, tf32=True, prefer_nhwc=True,
                         fp16=False),
        {"provider": "CUDA", "num_streams": 1, "verbosity": 2, "fp16": 0, "output_format": 0, "device_id": 1,
         "cudnn_benchmark": 0, "use_cuda_graph": 1, "tf32": 1, "prefer_nhwc": 1},
    ),
    (Backend.ORT_DML(), {"provider": "DML", "num_streams": 1, "verbosity": 2, "fp16": 1, "output_format": 1,
                         "device_id": 0}),
    (Backend.ORT_DML(device_id=2, num_streams=2),
     {"provider": "DML", "num_streams": 2, "verbosity": 2, "fp16": 1, "output_format": 1, "device_id": 2}),
    (Backend.ORT_COREML(), {"provider": "COREML", "num_streams": 1, "verbosity": 2, "fp16": 1, "output_format": 1,
                            "ml_program": 0}),
    (Backend.ORT_COREML(ml_program=Backend.ORT_COREML.MLProgram.ML_PROGRAM, verbosity=4),
     {"provider": "COREML", "num_streams": 1, "verbosity": 4, "fp16": 1, "output_format": 1, "ml_program": 1}),
    (
        Backend.OV_CPU(),
        {"device": "CPU", "config": ov_config(
            INFERENCE_NUM_THREADS=0, ENABLE_CPU_PINNING="YES", INFERENCE_PRECISION_HINT=CPU_REDUCED_HINT)},
    ),
    (
        Backend.OV_CPU(num_streams=2, num_threads=4, bind_thread=False, bf16=True,
                       custom_config={"INFERENCE_NUM_THREADS": 8, "PERFORMANCE_HINT": "THROUGHPUT"}),
        {"device": "CPU", "num_streams": 2, "config": ov_config(
            NUM_STREAMS=2, INFERENCE_NUM_THREADS=8, ENABLE_CPU_PINNING="NO", INFERENCE_PRECISION_HINT="bf16",
            PERFORMANCE_HINT="THROUGHPUT")},
    ),
    (
        Backend.OV_CPU(fp16_blacklist_ops={"Softmax"}),
        {"device": "CPU", "fp16": 1, "fp16_blacklist_ops": ["Softmax"], "config": ov_config(
            INFERENCE_NUM_THREADS=0, ENABLE_CPU_PINNING="YES", INFERENCE_PRECISION_HINT="f32")},
    ),
    (Backend.OV_GPU(model_cache=False), {"device": "GPU.0", "config": ov_config(INFERENCE_PRECISION_HINT="f16")}),
    (Backend.OV_GPU(device_id=1, fp16=False, num_streams=2, model_cache=False),
     {"device": "GPU.1", "num_streams": 2, "config": ov_config(NUM_STREAMS=2, INFERENCE_PRECISION_HINT="f32")}),
    (Backend.OV_NPU(model_cache=False), {"device": "NPU", "config": ov_config()}),
    (Backend.OV_NPU(custom_config={"NPU_TURBO": "YES"}, num_streams=1, model_cache=False),
     {"device": "NPU", "num_streams": 1, "config": ov_config(NUM_STREAMS=1, NPU_TURBO="YES")}),
    (Backend.OV(device="HETERO:GPU,CPU", model_cache=False), {"device": "HETERO:GPU,CPU", "config": ov_config()}),
    (Backend.NCNN(fp16=True), {"device_id": 0, "num_streams": 1, "fp16": 1, "output_format": 1}),
    (Backend.NCNN_VK(device_id=1, num_streams=2, fp16=False, batch_tiles=4),
     {"device_id": 1, "num_streams": 2, "fp16": 0, "batch_tiles": 4, "output_format": 0}),
    (Backend.TRT(), {"device_id": 0, "num_streams": 1, "use_cuda_graph": 1, "verbosity": 2}),
    (Backend.TRT(device_id=1, num_streams=4, use_cuda_graph=False, verbosity=4, builder_optimization_level=5),
     {"device_id": 1, "num_streams": 4, "use_cuda_graph": 0, "verbosity": 4}),
    (Backend.TRT_RTX(), {"device_id": 0, "num_streams": 1, "use_cuda_graph": 1, "verbosity": 2}),
    (Backend.TRT_RTX(num_streams=2, verbosity=0), {"device_id": 0, "num_streams": 2, "use_cuda_graph": 1,
                                                   "verbosity": 0}),
    (Backend.MIGX(), {"device_id": 0, "num_streams": 1}),
    (Backend.MIGX(device_id=3, num_streams=2, fp16=True), {"device_id": 3, "num_streams": 2}),
]


IDS = [f"{i}-{type(b).__name__}" for i, (b, _) in enumerate(CASES)]


@pytest.mark.parametrize(("backend", "expected"), CASES, ids=IDS)
def test_get_args(backend: Any, expected: dict[str, Any]) -> None:
    assert backend.get_args([]) == expected


@pytest.mark.parametrize(("backend", "expected"), CASES, ids=IDS)
def test_the_loaded_plugin_takes_the_arguments(backend: Any, expected: dict[str, Any]) -> None:
    """Each argument get_args passes is one the loaded plugin's Model takes, with a value of its type.

    The one exception is a provider's argument that this build of the plugin lacks: vsinfer drops it (a default
    the plugin does not know), and the backend cannot run here anyway (ORT_COREML's ml_program in a build without
    CoreML).
    """
    from vsinfer.backends.ort.checks import providers as ort_providers
    from vsinfer.plugins import select_args

    accepted = loaded_signature(backend.namespace)
    assert accepted.get(backend.path_argument) == ("data", False)
    assert accepted.get("clips") == ("vnode", True)
    lacking = set(expected) - set(accepted)
    if backend.namespace == "ort" and expected.get("provider") == "COREML" and "COREML" not in ort_providers():
        assert lacking == {"ml_program"}
        assert select_args("ort", expected, user_set=set()) == {k: v for k, v in expected.items() if k != "ml_program"}
    else:
        assert lacking == set()
    for name, value in expected.items():
        if name in lacking:
            continue
        kind, array = accepted[name]
        values = value if array else [value]
        assert (isinstance(value, list) or not array) and all(takes(kind, v) for v in values), (name, value, kind)


def test_ov_config_callable_returns_plain_dict() -> None:
    config = Backend.OV_CPU(custom_config={"INFERENCE_PRECISION_HINT": "f32"}).get_args([])["config"]
    assert config()["INFERENCE_PRECISION_HINT"] == "f32"  # user key wins
    assert type(config()) is dict


def test_verbosity_follows_logger_level() -> None:
    log = logging.getLogger("vsinfer")
    log.setLevel(logging.DEBUG)
    assert Backend.ORT_CPU().get_args([])["verbosity"] == 4  # core.ort and core.trt: higher prints more
    assert Backend.TRT().get_args([])["verbosity"] == 4
    log.setLevel(logging.ERROR)
    assert Backend.ORT_CPU().get_args([])["verbosity"] == 1
    assert Backend.TRT().get_args([])["verbosity"] == 1
    log.setLevel(logging.CRITICAL)
    assert Backend.ORT_CPU().get_args([])["verbosity"] == 0
    assert Backend.TRT_RTX().get_args([])["verbosity"] == 0


def test_namespace_exposes_every_family() -> None:
    names = ["TRT", "TRT_RTX", "ORT", "ORT_CPU", "ORT_CUDA", "ORT_DML", "ORT_COREML", "OV", "OV_CPU", "OV_GPU",
             "OV_NPU", "NCNN", "NCNN_VK", "MIGX"]
    for name in names:
        assert issubclass(getattr(Backend, name), Backend), name
    assert Backend.NCNN_VK is Backend.NCNN
    assert callable(Backend.autoselect)


def test_equal_descriptions_hash_equal() -> None:
    a = Backend.OV_CPU(custom_config={"A": 1, "B": "x"})
    b = Backend.OV_CPU(custom_config={"B": "x", "A": 1})
    assert a == b and hash(a) == hash(b)
    c = Backend.TRT(fp16_blacklist_ops=["b", "a"], static_shape=False, opt_shapes=[64], max_shapes=(128, 64))
    d = Backend.TRT(fp16_blacklist_ops={"a", "b"}, static_shape=False, opt_shapes=(64, 64), max_shapes=[128, 64])
    assert c == d and hash(c) == hash(d)
    assert Backend.TRT() == Backend.TRT(fp16=True) and Backend.OV_CPU() == Backend.OV_CPU(fp16=True)
    assert len({Backend.MIGX(custom_env={"X": "1"}), Backend.MIGX(custom_env={"X": "1"})}) == 1


def test_ov_model_cache_defaults_to_gpu_and_npu_only(isolated_cache: Any) -> None:
    from pathlib import Path

    for backend in (Backend.OV_GPU(), Backend.OV_NPU(), Backend.OV(device="AUTO:GPU,CPU")):
        cache_dir = backend.get_args([])["config"]()["CACHE_DIR"]
        assert Path(cache_dir) == Path(isolated_cache) / "ov"
    assert "CACHE_DIR" not in Backend.OV_CPU().get_args([])["config"]()
    assert "CACHE_DIR" in Backend.OV_CPU(model_cache=True).get_args([])["config"]()
    assert "CACHE_DIR" not in Backend.OV_GPU(model_cache=False).get_args([])["config"]()


@pytest.mark.parametrize("cls", [Backend.ORT_CPU, Backend.NCNN])
def test_output_format_follows_the_clips(cls: Any) -> None:
    import vapoursynth as vs

    single = vs.core.std.BlankClip(format=vs.RGBS)
    half = vs.core.std.BlankClip(format=vs.RGBH)
    ints = vs.core.std.BlankClip(format=vs.RGB24)
    assert cls(fp16=True).get_args(single)["output_format"] == 0
    assert cls(fp16=True).get_args(half)["output_format"] == 1
    assert cls(fp16=True).get_args(ints)["output_format"] == 1  # fp16 runs take integer clips as half floats
    assert cls(fp16=False).get_args(ints)["output_format"] == 0
    assert cls(output_format=1).get_args(single)["output_format"] == 1


def test_jetpack_fields_accepted_where_they_cannot_be_applied() -> None:
    """NCNN(fp16_blacklist_ops=...) and OV_NPU(fp16=True) are vs-jetpack fields: accepted, same plugin call."""
    assert Backend.NCNN(fp16_blacklist_ops=["Resize"]).get_args([]) == Backend.NCNN().get_args([])
    assert Backend.NCNN(fp16_blacklist_ops=["Resize", "Conv"]).fp16_blacklist_ops == ("Conv", "Resize")
    assert Backend.OV_NPU(fp16=True).get_args([])["device"] == "NPU"
    assert Backend.OV_NPU(fp16=True).precision() == "fp16"


def test_ov_default_device_runs_with_the_pypi_wheel(make_model: ModelFactory) -> None:
    """Backend.OV() used to default to "AUTO", which the PyPI wheel lacks; "CPU" runs."""
    import numpy as np

    from tests.conftest import clip_from_planes, pattern, planes_of, reference

    need_plugin("ov")
    backend = Backend.OV()
    assert backend.get_args([])["device"] == "CPU"
    model, planes = make_model(3, 3), pattern(3, 24, 32)
    got = planes_of(backend.inference(clip_from_planes(planes, vs.RGBS), model))
    # what OpenVINO computes in on this CPU (its f16 hint: bf16, fp16 or float32), not what was asked
    precision, _ = backend.effective_precision()
    np.testing.assert_allclose(got, reference(model, planes[None])[0], atol=TOLERANCE[precision])


def test_ncnn_says_its_block_list_is_ignored(make_model: ModelFactory, caplog: pytest.LogCaptureFixture) -> None:
    need_plugin("ncnn")
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=1)
    with caplog.at_level(logging.INFO, logger="vsinfer"):
        Backend.NCNN(fp16_blacklist_ops=["Conv"]).inference(clip, make_model(3, 3))
    assert sum("fp16_blacklist_ops=['Conv'] is ignored" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(("flags", "plain"), [
    ({"avx512_bf16"}, "bf16"),  # this EPYC
    ({"avx512_bf16", "avx512_fp16", "amx_bf16"}, "bf16"),
    (set(), "fp32"),  # an ordinary CI CPU
])
def test_ov_reports_what_its_cpu_computes_in(monkeypatch: pytest.MonkeyPatch, flags: set[str], plain: str) -> None:
    """Without a precision hint OpenVINO's CPU computes in bf16 where it has bf16 arithmetic: the report says so."""
    import vsinfer.backends.ov.backend as ov_module
    from vsinfer.device import CPU

    monkeypatch.setattr(ov_module, "cpu", lambda: CPU("a CPU", 2, frozenset(flags)))
    assert Backend.OV().effective_precision()[0] == plain
    for exact in (Backend.OV_CPU(fp16=False), Backend.OV(custom_config={"INFERENCE_PRECISION_HINT": "f32"})):
        assert exact.effective_precision() == ("fp32", "")
    if plain == "bf16":
        assert "INFERENCE_PRECISION_HINT': 'f32'} gives float32" in Backend.OV().effective_precision()[1]
