"""What OpenVINO takes: device strings against the devices present, and ``custom_config`` values it accepts."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any

from ... import plugins
from ...errors import ArgumentError, ConfigError, DeviceError
from ...validation import EmptyScatterUpdates, GraphLimit, describe

__all__ = ["OV_CONFIG_RULES", "OV_CPU_KEYS", "OV_GRAPH_LIMITS", "OV_VIRTUAL", "check_ov_config",
           "check_ov_config_function", "check_ov_device", "device_list", "ov_virtual_devices"]


OV_VIRTUAL: Mapping[str, str] = {
    "AUTO": "auto_plugin", "MULTI": "auto_plugin", "HETERO": "hetero_plugin", "BATCH": "auto_batch_plugin",
}
"""OpenVINO's virtual devices and the plugin library each needs."""


def ov_virtual_devices() -> tuple[str, ...] | None:
    """OpenVINO's virtual devices (AUTO, MULTI, HETERO, BATCH) whose plugin library ships with core.ov.

    None when the plugin's folder cannot be read (then nothing can be said).
    """
    import os

    path = (plugins.plugin_info("ov") or {}).get("path")
    if not path:
        return None
    try:
        files = os.listdir(os.path.dirname(path))
    except OSError:
        return None
    return tuple(name for name, lib in OV_VIRTUAL.items() if any(f"openvino_{lib}" in f for f in files))


def device_list(device: str) -> list[str]:
    """The devices named in an OpenVINO device string: "HETERO:GPU.1,CPU" -> ["GPU.1", "CPU"]."""
    _, _, names = device.rpartition(":")
    return [d.strip() for d in names.split(",") if d.strip()]


def _device_known(name: str, devices: tuple[str, ...]) -> bool:
    """``name`` ("GPU", "GPU.1") is one of OpenVINO's ``devices`` ("GPU" alone when there is one GPU)."""
    base, _, index = name.partition(".")
    if name in devices:
        return True
    if not index:  # "GPU" names the first of "GPU.0", "GPU.1"
        return any(d.partition(".")[0] == base for d in devices)
    return index == "0" and base in devices  # one GPU is listed as "GPU", and answers to "GPU.0"


def check_ov_device(device: str, parameter: str, where: str, device_id: int | None = None) -> None:
    """Every device an OpenVINO device string names is available, and a virtual device's plugin ships here.

    ``device_id`` is given for OV_GPU, whose device string is made of it: the error then names ``device_id``.
    """
    prefix, _, listed = device.rpartition(":")
    names = [d.strip() for d in listed.split(",") if d.strip()]
    if not prefix and len(names) == 1 and names[0] in OV_VIRTUAL:
        prefix, names = names[0], []
    devices = ("CPU",) if not prefix and names == ["CPU"] else plugins.available_devices("ov")
    listed_text = ", ".join(devices) or "none"
    if prefix and prefix.partition(".")[0] not in OV_VIRTUAL:
        virtual = ", ".join(OV_VIRTUAL)
        raise DeviceError(
            parameter,
            device,
            f"a device (e.g. {names[0] if names else 'CPU'!r}) or a virtual device and its devices (e.g. "
            f"'AUTO:GPU,CPU'): {prefix!r} before ':' is not one of OpenVINO's virtual devices ({virtual}); "
            f"write device={names[0] if len(names) == 1 else prefix!r}",
            where=where,
        )
    if prefix:
        shipped = ov_virtual_devices()
        if shipped is not None and prefix not in shipped:
            example = f"e.g. Backend.OV(device={devices[0]!r})" if devices else "e.g. Backend.OV_CPU()"
            raise DeviceError(
                parameter,
                device,
                f"a device this OpenVINO can run ({listed_text}): the {prefix} plugin does not ship with core.ov "
                f"{plugins.plugin_version('ov')}; name a device, {example}",
                where=where,
            )
    for name in names:
        if _device_known(name, devices):
            continue
        if device_id is not None:
            gpu = any(d.startswith("GPU") for d in devices)
            raise DeviceError(
                "device_id",
                device_id,
                f"the index of an OpenVINO GPU of this machine; core.ov.AvailableDevices() lists {listed_text}"
                + ("" if gpu else " (no GPU: install Intel's GPU runtime, Debian: apt install intel-opencl-icd)"),
                where=where,
            )
        raise DeviceError(
            parameter,
            device,
            f"devices of this machine: core.ov.AvailableDevices() lists {listed_text}, not {name} "
            "(names are case-sensitive)",
            where=where,
        )


# -- OpenVINO properties ---------------------------------------------------------------------------------------------
def _int_text(value: Any, minimum: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= minimum
    if isinstance(value, float):
        return value.is_integer() and value >= minimum
    if isinstance(value, str):
        text = value.strip()  # OpenVINO reads ASCII digits only ("\u0663", an Arabic-Indic 3, is refused by stoi)
        return text.isascii() and text.lstrip("-").isdigit() and int(text) >= minimum
    return False


def _one_of(*allowed: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str) and v in allowed), " / ".join(repr(a) for a in allowed)


_YES_NO = (
    lambda v: (isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)))
    or (isinstance(v, str) and v.upper() in ("YES", "NO", "TRUE", "FALSE")),
    "'YES' / 'NO' (or True / False)",
)

OV_CONFIG_RULES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "NUM_STREAMS": (lambda v: _int_text(v, -2) or v in ("AUTO", "NUMA"), "an int >= 0, or 'AUTO' / 'NUMA'"),
    "INFERENCE_NUM_THREADS": (lambda v: _int_text(v, 0), "an int >= 0 (0: automatic)"),
    "PERFORMANCE_HINT_NUM_REQUESTS": (lambda v: _int_text(v, 0), "an int >= 0"),
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": (lambda v: _int_text(v, 0), "an int >= 0"),
    "INFERENCE_PRECISION_HINT": _one_of("f32", "f16", "bf16", "undefined", "dynamic"),
    "PERFORMANCE_HINT": _one_of("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    "EXECUTION_MODE_HINT": _one_of("PERFORMANCE", "ACCURACY"),
    "SCHEDULING_CORE_TYPE": _one_of("ANY_CORE", "PCORE_ONLY", "ECORE_ONLY"),
    "LOG_LEVEL": _one_of("LOG_NONE", "LOG_ERROR", "LOG_WARNING", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE"),
    "KV_CACHE_PRECISION": _one_of("f32", "f16", "bf16", "u8", "u4", "i8"),
    "CACHE_DIR": ((lambda v: isinstance(v, str)), "a folder path (str)"),
    "ENABLE_CPU_PINNING": _YES_NO,
    "ENABLE_HYPER_THREADING": _YES_NO,
    "CPU_DENORMALS_OPTIMIZATION": _YES_NO,
    "EXCLUSIVE_ASYNC_REQUESTS": _YES_NO,
    "ENABLE_MMAP": _YES_NO,
}
"""The OpenVINO properties whose values are known (read off OpenVINO 2026.4's CPU plugin): a rule and its words.

Values are case-sensitive where OpenVINO's are. Keys not listed are left to OpenVINO (whose refusal is wrapped as a
PluginError naming the backend).
"""


OV_CPU_KEYS = frozenset({
    "CACHE_DIR", "CACHE_MODE", "CPU_DENORMALS_OPTIMIZATION", "CPU_RUNTIME_CACHE_CAPACITY",
    "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE", "DEVICE_ID", "DYNAMIC_QUANTIZATION_GROUP_SIZE", "ENABLE_CPU_PINNING",
    "ENABLE_CPU_RESERVATION", "ENABLE_HYPER_THREADING", "ENABLE_MMAP", "ENABLE_TENSOR_PARALLEL", "ENABLE_WEIGHTLESS",
    "EXCLUSIVE_ASYNC_REQUESTS", "EXECUTION_MODE_HINT", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
    "KEY_CACHE_GROUP_SIZE", "KEY_CACHE_PRECISION", "KEY_CACHE_QUANT_MODE", "KV_CACHE_PRECISION", "LOG_LEVEL",
    "LP_TRANSFORMS_MODE", "MODEL_DISTRIBUTION_POLICY", "MODEL_PTR", "NUM_STREAMS", "PERFORMANCE_HINT",
    "PERFORMANCE_HINT_NUM_REQUESTS", "PERF_COUNT", "SCHEDULING_CORE_TYPE", "SNIPPETS_MODE", "TBB_PARTITIONER",
    "VALUE_CACHE_GROUP_SIZE", "VALUE_CACHE_PRECISION", "VALUE_CACHE_QUANT_MODE", "WEIGHTS_PATH",
})
"""The properties OpenVINO's CPU plugin takes in a ``compile_model`` config, measured on core.ov v17.1 (OpenVINO
2026.4) by passing each name: others ("AFFINITY", "CPU_BIND_THREAD", "COMPILATION_NUM_THREADS", read-only ones such
as "FULL_DEVICE_NAME") are refused with "Unsupported property ... by CPU plugin"."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What VapourSynth passes as a map key: an ASCII identifier (others fail with "not all values are of the same
type")."""


def check_ov_config(config: Mapping[str, Any], where: str, device: str | None = None,
                    parameter: str = "custom_config") -> None:
    """OpenVINO config keys and values are ones VapourSynth passes and OpenVINO takes.

    Keys are ASCII identifiers; values of known keys (``OV_CONFIG_RULES``) have a type and a value OpenVINO takes; on
    ``device`` "CPU" every key is one of the CPU plugin's (``OV_CPU_KEYS``). Other devices' keys are left to OpenVINO.
    """
    for key, value in config.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ConfigError(f"{parameter} key", describe(key), "an OpenVINO property name such as 'NUM_STREAMS' "
                              "(ASCII letters, digits and _, not starting with a digit: VapourSynth passes no other "
                              "key to core.ov)", where=where)
        if device == "CPU" and key not in OV_CPU_KEYS:
            close = difflib.get_close_matches(key.upper(), sorted(OV_CPU_KEYS), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise ConfigError(f"{parameter} key", key, f"a property of OpenVINO's CPU plugin (names are "
                              f"case-sensitive); {hint}it takes {', '.join(sorted(OV_CPU_KEYS))}", where=where)
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{parameter}[{key!r}]", describe(value), "a str, int or float (the values "
                              "core.ov's config passes)", where=where)
        rule = OV_CONFIG_RULES.get(key)
        if rule is not None and not rule[0](value):
            raise ConfigError(f"{parameter}[{key!r}]", describe(value), f"{rule[1]} (OpenVINO's {key})", where=where)



def check_ov_config_function(function: Any, where: str, device: str | None = None) -> None:
    """A forwarded ``config=`` function returns a mapping that ``check_ov_config`` accepts (it is called once here).

    The plugin calls it when the graph is built and reads a dict of str / int / float; anything else, or a function
    that raises, is said here in our words.
    """
    if function is None or not callable(function):
        return  # a non-callable is named by the forwarded arguments' type check
    try:
        result = function()
    except Exception as exc:
        raise ArgumentError("config", describe(function), f"a function that returns OpenVINO's properties as a dict; "
                            f"calling it raised {type(exc).__name__}: {exc}", where=where) from exc
    if not isinstance(result, Mapping):
        raise ArgumentError("config()", describe(result), "a dict of OpenVINO properties, e.g. lambda: "
                            "{'NUM_STREAMS': 2}", where=where)
    check_ov_config(result, where, device, parameter="config()")


OV_GRAPH_LIMITS: tuple[GraphLimit, ...] = (
    EmptyScatterUpdates("OpenVINO", "ORT_CPU (onnxruntime runs it; ORT_CUDA or TRT on NVIDIA)"),
)
"""What OpenVINO's ONNX reader refuses in a graph, measured on core.ov v17.1: a SwinIR exported with
torch.onnx.export(dynamo=True) fails ReadNetwork on its ScatterND nodes (scalar updates) on every precision."""
