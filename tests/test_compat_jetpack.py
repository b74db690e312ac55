"""vsinfer against its peer, vs-jetpack's ``vsscale.mlrt`` (installed): same class, same field values, same plugin call.

For every class and every field of vs-jetpack's backends (the seed's documented API), both sides are constructed with
the same values and the plugin arguments compared (``get_args``; OpenVINO's ``config`` callable is called). TensorRT's
build fields do not reach the plugin: both sides configure a real ``tensorrt_rtx`` IBuilderConfig and its state is
compared (``core.trt`` shares the code on both sides; ``tensorrt`` cannot be installed here).

Every difference found must be listed in ``EXPECTED`` with the id of its reason in ``REASONS``, and every reason
must be in ``docs/migrating.md``: a new difference (or one that went away) fails the test.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_module

ROOT = Path(__file__).resolve().parent.parent

jp = need_module("vsscale.mlrt")  # vs-jetpack: a skip with the reason, or a failure where CI requires jetpack

REASONS = {
    "ort-cpu-fp16": "ORT_CPU computes in float32 by default (fp16=False); vs-jetpack defaults to fp16=True",
    "ort-verbosity": "core.ort's verbosity: higher prints more; vs-jetpack maps the logger level the other way round",
    "trt-verbosity": "core.trt's verbosity: higher prints more; vs-jetpack passes 0 (internal errors only) at DEBUG",
    "fp32-run-output": "an fp32 run of half clips asks the plugin for float32 output (converted back to half after)",
    "ov-model-cache": "OV_GPU / OV_NPU turn OpenVINO's compiled-model cache on (CACHE_DIR in vsinfer's store)",
    "ov-block-list": "OV_CPU / OV_GPU apply fp16_blacklist_ops (the plugin converts, hint f32); vs-jetpack drops them",
    "ov-num-streams": "OV num_streams is also set as OpenVINO's NUM_STREAMS property",
    "ov-cpu-precision": "OV_CPU's fp16=True asks OpenVINO for this CPU's fastest reduced precision (bf16 where the "
                        "CPU has it, else f32); vs-jetpack always asks f16",
    "ov-device": "Backend.OV() runs on device 'CPU'; vs-jetpack's OV has no device and fails in get_args",
    "trt-l2": "l2_limit_for_tiling is applied whenever set; vs-jetpack only with tiling_optimization_level > 0",
}
"""Why vsinfer passes something else than vs-jetpack: each id is explained in docs/migrating.md."""

PLUGIN_DEFAULTS = {"ov": {"fp16": 0}}
"""Values a side may pass or leave out with the same effect (the plugin's own default)."""

VALUES: dict[str, dict[str, Any]] = {
    "num_streams": {"num_streams": 2},
    "verbosity": {"verbosity": 3},
    "fp16": {"fp16": False},
    "fp16_blacklist_ops": {"fp16": True, "fp16_blacklist_ops": ["Resize", "Conv"]},
    "device_id": {"device_id": 1},
    "cudnn_benchmark": {"cudnn_benchmark": False},
    "use_cuda_graph": {"use_cuda_graph": False},
    "tf32": {"tf32": True},
    "prefer_nhwc": {"prefer_nhwc": True},
    "ml_program": {"ml_program": 1},
    "custom_config": {"custom_config": {"PERFORMANCE_HINT": "LATENCY"}},
    "num_threads": {"num_threads": 4},
    "bind_thread": {"bind_thread": False},
    "bf16": {"bf16": True},
    "batch_tiles": {"batch_tiles": 2},
    "strict_nans": {"strict_nans": True},
    "static_shape": {"static_shape": False},
    "min_shapes": {"static_shape": False, "min_shapes": (16, 16)},
    "opt_shapes": {"static_shape": False, "opt_shapes": (64, 64)},
    "max_shapes": {"static_shape": False, "max_shapes": (128, 128)},
    "edge_mask_convolutions": {"edge_mask_convolutions": False},
    "jit_convolutions": {"jit_convolutions": False},
    "sparse_weights": {"sparse_weights": True},
    "workspace": {"workspace": 8 << 30},
    "builder_optimization_level": {"builder_optimization_level": 5},
    "max_aux_streams": {"max_aux_streams": 2},
    "max_num_tactics": {"max_num_tactics": 7},
    "tiling_optimization_level": {"tiling_optimization_level": 2, "l2_limit_for_tiling": 1 << 20},
    "l2_limit_for_tiling": {"l2_limit_for_tiling": 1 << 20},
    "avg_timing_iterations": {"avg_timing_iterations": 4},
    "tactic_dram": {"tactic_dram": 1 << 30},
    "weight_streaming": {"weight_streaming": True},
    "force_rebuild": {"force_rebuild": True},
    "max_threads": {"max_threads": 3},
    "fast_math": {"fast_math": False},
    "exhaustive_tune": {"exhaustive_tune": True},
    "custom_env": {"custom_env": {"MIGRAPHX_TRACE": "1"}},
    "custom_args": {"custom_args": ["--exhaustive-tune"]},
}
"""A non-default value for each field of vs-jetpack's classes (with what it needs: a block list needs fp16)."""

CLASS_VALUES: dict[tuple[str, str], dict[str, Any]] = {
    ("OV_NPU", "fp16"): {"fp16": True},  # vs-jetpack's OV_NPU.fp16 is Literal[True]
    ("MIGX", "opt_shapes"): {"opt_shapes": (64, 64)},  # MIGX has no static_shape
}
"""Where a class takes another value than ``VALUES`` gives."""

CLASSES = ("ORT_CPU", "ORT_CUDA", "ORT_DML", "ORT_COREML", "OV", "OV_CPU", "OV_GPU", "OV_NPU", "NCNN", "TRT",
           "TRT_RTX", "MIGX")
"""vs-jetpack's ``Backend`` namespace (NCNN_VK is NCNN on both sides)."""

EXPECTED: dict[tuple[str, str, str], dict[str, str]] = {
    ("ORT_CPU", "", "RGBS"): {"fp16": "ort-cpu-fp16"},
    ("ORT_CPU", "", "RGBH"): {"fp16": "ort-cpu-fp16", "output_format": "fp32-run-output"},
    ("ORT_CPU", "num_streams", "RGBS"): {"fp16": "ort-cpu-fp16"},
    ("ORT_CPU", "num_streams", "RGBH"): {"fp16": "ort-cpu-fp16", "output_format": "fp32-run-output"},
    ("ORT_CPU", "verbosity", "RGBS"): {"fp16": "ort-cpu-fp16"},
    ("ORT_CPU", "verbosity", "RGBH"): {"fp16": "ort-cpu-fp16", "output_format": "fp32-run-output"},
    **{(c, "fp16", "RGBH"): {"output_format": "fp32-run-output"} for c in ("ORT_CPU", "ORT_CUDA", "ORT_DML",
                                                                          "ORT_COREML", "NCNN")},
    ("OV", "", "RGBS"): {"device": "ov-device"},
    ("OV", "", "RGBH"): {"device": "ov-device"},
    **{("OV", f, fmt): {"device": "ov-device"} for f in ("custom_config",) for fmt in ("RGBS", "RGBH")},
    **{("OV", "num_streams", fmt): {"device": "ov-device", "config": "ov-num-streams"} for fmt in ("RGBS", "RGBH")},
    **{(c, "num_streams", fmt): {"config": "ov-num-streams"} for c in ("OV_CPU",) for fmt in ("RGBS", "RGBH")},
    **{("OV_CPU", f, fmt): {"config": "ov-cpu-precision"} for f in ("", "custom_config", "num_threads", "bind_thread")
       for fmt in ("RGBS", "RGBH")},
    **{(c, f, fmt): {"config": "ov-block-list", "fp16": "ov-block-list", "fp16_blacklist_ops": "ov-block-list"}
       for c in ("OV_CPU", "OV_GPU") for f in ("fp16_blacklist_ops",) for fmt in ("RGBS", "RGBH")},
}
"""(class, field set or "" for the defaults, clip format) -> {plugin argument: reason id} where the two differ.
OV_GPU and OV_NPU always differ in ``config`` (the model cache): added below."""

for _fmt in ("RGBS", "RGBH"):
    for _cls, _fields in (("OV_GPU", ["", "num_streams", "custom_config", "device_id", "fp16", "fp16_blacklist_ops"]),
                          ("OV_NPU", ["", "num_streams", "custom_config", "fp16"])):
        for _f in _fields:
            _entry = EXPECTED.setdefault((_cls, _f, _fmt), {})
            if _entry.get("config") != "ov-block-list":
                _entry["config"] = "ov-model-cache"
            if _f == "num_streams":
                _entry["config"] = "ov-model-cache"  # and NUM_STREAMS: one key, the first reason shown


def _peer_fields(name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(getattr(jp.Backend, name))]


def _cases() -> Iterator[Any]:
    for name in CLASSES:
        for field in ["", *_peer_fields(name)]:
            for fmt in ("RGBS", "RGBH"):
                yield pytest.param(name, field, fmt, id=f"{name}-{field or 'defaults'}-{fmt}")


def _normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return int(value.value)
    if isinstance(value, list | tuple):
        return sorted(_normal(v) for v in value)
    if callable(value):  # OpenVINO's config function: its properties
        return {k: _normal(v) for k, v in dict(value()).items()}
    return value


def plugin_args(backend: Any, clip: Any, namespace: str) -> dict[str, Any]:
    """``backend.get_args(clip)`` as the plugin sees it: no None (unset), ints for bools and enums, sorted lists."""
    args = {k: _normal(v) for k, v in backend.get_args(clip).items() if v is not None}
    for key, default in PLUGIN_DEFAULTS.get(namespace, {}).items():
        if args.get(key) == default:
            del args[key]
    return args


def _clip(fmt: str) -> Any:
    import vapoursynth as vs

    return vs.core.std.BlankClip(format=getattr(vs, fmt), width=32, height=24, length=1)


@pytest.mark.parametrize(("name", "field", "fmt"), list(_cases()))
def test_same_plugin_arguments(name: str, field: str, fmt: str) -> None:
    from vsinfer import Backend

    values = CLASS_VALUES.get((name, field), VALUES[field]) if field else {}
    ours = getattr(Backend, name)(**values)
    expected = EXPECTED.get((name, field, fmt), {})
    if name == "NCNN" and "fp16" not in values and not ours.fp16_on():  # float32 by device on a CPU Vulkan device
        expected = {**expected, "fp16": "ncnn-cpu-device-fp32",
                    **({"output_format": "fp32-run-output"} if fmt == "RGBH" else {})}
    clip = _clip(fmt)
    mine = plugin_args(ours, clip, ours.namespace)
    try:
        theirs = plugin_args(getattr(jp.Backend, name)(**values), clip, ours.namespace)
    except AttributeError:  # vs-jetpack's OV has no device: its get_args fails
        assert expected.get("device") == "ov-device", f"vs-jetpack's {name} failed unexpectedly"
        assert mine["device"] == "CPU"
        return
    differing = {k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)}
    assert differing == set(expected), (
        f"{name}({values}) with a {fmt} clip: vsinfer {mine} vs vs-jetpack {theirs}; differing {sorted(differing)}, "
        f"listed {sorted(expected)}")


def test_every_peer_field_is_covered() -> None:
    """The cases set every field of every vs-jetpack class (a field added upstream fails here until listed)."""
    missing = [(n, f) for n in CLASSES for f in _peer_fields(n) if f not in VALUES]
    assert not missing
    peer_classes = {n for n, v in vars(jp.Backend).items() if isinstance(v, type) and not n.startswith("_")}
    assert peer_classes - {"NCNN_VK", "ORT"} == set(CLASSES)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL])
@pytest.mark.parametrize("name", ["ORT_CPU", "TRT", "TRT_RTX"])
def test_verbosity_follows_the_logger_on_the_plugins_scale(name: str, level: int) -> None:
    """At WARNING both pass 2; elsewhere vs-jetpack's mapping is the reverse of the plugins' scale (REASONS)."""
    from vsinfer import Backend

    ours_log, peer_log = logging.getLogger("vsinfer"), logging.getLogger("vsscale")
    saved = ours_log.level, peer_log.level
    try:
        ours_log.setLevel(level)
        peer_log.setLevel(level)
        clip = _clip("RGBS")
        mine = Backend.__dict__.get(name) or getattr(Backend, name)
        ours = mine(fp16=True).get_args(clip)["verbosity"] if name == "ORT_CPU" else mine().get_args(clip)["verbosity"]
        theirs = int(getattr(jp.Backend, name)().get_args(clip)["verbosity"])
    finally:
        ours_log.setLevel(saved[0])
        peer_log.setLevel(saved[1])
    index = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL].index(level)
    assert ours == 4 - index  # DEBUG 4 (verbose) .. CRITICAL 0, as both plugins count
    assert theirs == index  # vs-jetpack: DEBUG 0 .. CRITICAL 4
    assert (ours == theirs) == (level == logging.WARNING)


# -- TensorRT's builder configuration ---------------------------------------------------------------------------------
BUILD_FIELDS = ("tf32", "strict_nans", "edge_mask_convolutions", "jit_convolutions", "sparse_weights", "workspace",
                "builder_optimization_level", "max_aux_streams", "max_num_tactics", "tiling_optimization_level",
                "l2_limit_for_tiling", "avg_timing_iterations", "tactic_dram", "weight_streaming")


def _config_state(trt: Any, config: Any) -> dict[str, Any]:
    pools = trt.MemoryPoolType
    state: dict[str, Any] = {
        "workspace": config.get_memory_pool_limit(pools.WORKSPACE),
        "tactic_dram": config.get_memory_pool_limit(pools.TACTIC_DRAM),
        "tactic_sources": int(config.get_tactic_sources()),
    }
    for flag in ("TF32", "STRICT_NANS", "SPARSE_WEIGHTS", "WEIGHT_STREAMING"):
        if hasattr(trt.BuilderFlag, flag):
            state[flag] = config.get_flag(getattr(trt.BuilderFlag, flag))
    for attr in ("builder_optimization_level", "avg_timing_iterations", "max_aux_streams", "max_num_tactics",
                 "tiling_optimization_level", "l2_limit_for_tiling"):
        if hasattr(config, attr):
            state[attr] = getattr(config, attr)
    return state


@pytest.mark.parametrize("field", ["", *BUILD_FIELDS])
def test_same_builder_configuration(field: str) -> None:
    """Both sides configure a real TensorRT-RTX IBuilderConfig; its state must be the same (``workspace`` in bytes)."""
    trt = need_module("tensorrt_rtx")
    from vsinfer import Backend
    from vsinfer.backends.trt.builder import EngineBuilder

    values = VALUES[field] if field else {}
    builder = trt.Builder(trt.Logger())
    network = builder.create_network(0)
    theirs_config, ours_config = builder.create_builder_config(), builder.create_builder_config()
    peer = jp.Backend.TRT_RTX(**values)
    try:
        peer.configure_builder_config(theirs_config, network)
    except AttributeError as exc:  # a flag TensorRT-RTX lacks (vs-jetpack does not check): vsinfer skips it
        pytest.fail(f"vs-jetpack's TRT_RTX cannot configure {field}: {exc}")
    EngineBuilder(Backend.TRT_RTX(**values)).configure_builder_config(ours_config, network)
    theirs, ours = _config_state(trt, theirs_config), _config_state(trt, ours_config)
    differing = {k for k in ours if ours[k] != theirs.get(k)}
    expected = {"l2_limit_for_tiling"} if field == "l2_limit_for_tiling" else set()  # REASONS["trt-l2"]
    assert differing == expected, f"TRT_RTX({values}): vsinfer {ours} vs vs-jetpack {theirs}"
    if field == "workspace":
        assert ours["workspace"] == 8 << 30  # bytes, as the seed documents: not 8 PiB


def test_every_reason_is_in_the_migrating_page() -> None:
    text = (ROOT / "docs" / "migrating.md").read_text()
    used = {r for entry in EXPECTED.values() for r in entry.values()} | {"trt-l2", "ort-verbosity", "trt-verbosity"}
    assert used <= set(REASONS)
    missing = [r for r in REASONS if f"`{r}`" not in text]
    assert not missing, f"docs/migrating.md does not explain {missing}"
