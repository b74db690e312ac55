"""Keyword arguments forwarded to the plugin: known names of the loaded plugin, right types, ranges known to all.

What only one family knows (ort's providers, OpenVINO's devices, ncnn's Vulkan devices) is checked by that family
(``Backend.check_plugin_kwargs``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

from .. import plugins
from ..errors import ArgumentError, UnknownArgumentError
from .values import describe

__all__ = ["MAX_NUM_STREAMS", "check_kwargs"]

MAX_NUM_STREAMS = 64
"""Upper bound of ``num_streams``: each stream holds its own copy of the model and its buffers, and a value like
``10**6`` makes the plugin allocate for minutes until memory runs out (measured: 11 minutes, 4.9 GB, then killed)."""

_FORBIDDEN = {
    "clips": "pass the clips as the first argument of inference(); they cannot be forwarded",
    "network_path": "pass the model as the second argument of inference(); it cannot be forwarded",
    "engine_path": "inference() builds the engine and passes its path; it cannot be forwarded",
    "program_path": "inference() compiles the program and passes its path; it cannot be forwarded",
    "flexible_output_prop": "pass flexible=True to inference() instead",
    "path_is_serialization": "inference() passes a file path; it cannot be forwarded",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral)  # a bool is accepted for the plugins' int flags


def _is_float(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _type_rule(vs_type: str) -> tuple[Callable[[Any], bool], str] | None:
    import vapoursynth as vs

    rules: dict[str, tuple[Callable[[Any], bool], str]] = {
        "int": (_is_int, "an int"),
        "float": (_is_float, "a number"),
        "data": (lambda v: isinstance(v, str | bytes | bytearray), "a str"),
        "func": (callable, "a function"),
        "vnode": (lambda v: isinstance(v, vs.VideoNode), "a vs.VideoNode"),
        "anode": (lambda v: isinstance(v, vs.AudioNode), "a vs.AudioNode"),
        "vframe": (lambda v: isinstance(v, vs.VideoFrame), "a vs.VideoFrame"),
        "aframe": (lambda v: isinstance(v, vs.AudioFrame), "a vs.AudioFrame"),
    }
    return rules.get(vs_type)


def _check_type(name: str, value: Any, param: plugins.Param, namespace: str, where: str) -> None:
    rule = _type_rule(param.type)
    if rule is None:
        return
    test, words = rule
    spelled = f"core.{namespace}.Model takes {name} as {param.type}{'[]' if param.array else ''}"
    if param.array:
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not all(test(v) for v in items):
            raise ArgumentError(name, describe(value), f"{words} or a list of them ({spelled})", where=where)
    elif isinstance(value, list | tuple) or not test(value):
        hint = f", not a string (write {value.strip()} without quotes)" if (
            isinstance(value, str) and param.type == "int" and value.strip().lstrip("-").isdigit()) else ""
        raise ArgumentError(name, describe(value), f"{words}{hint} ({spelled})", where=where)


def check_kwargs(namespace: str, path_argument: str, kwargs: Mapping[str, Any], where: str) -> None:
    """Forwarded plugin kwargs: known names of ``core.<namespace>.Model``, right types, not clips / the model path.

    ``num_streams`` and ``device_id`` are range-checked too.
    """
    if not kwargs:
        return
    for name, value in kwargs.items():
        reason = _FORBIDDEN.get(name)
        if reason is None and name == path_argument:
            reason = _FORBIDDEN["network_path"]
        if reason is not None:
            raise ArgumentError(name, describe(value), f"no such keyword: {reason}", where=where)
    accepted = plugins.accepted_args(namespace)
    for name, value in kwargs.items():
        param = accepted.get(name)
        if param is None:
            usable = [n for n in accepted if n not in _FORBIDDEN and n != path_argument
                      and n not in ("overlap", "tilesize")]
            raise UnknownArgumentError(name, describe(value), f"core.{namespace}.Model",
                                       plugins.plugin_version(namespace), usable, where=where)
        _check_type(name, value, param, namespace, where)
    streams = kwargs.get("num_streams")
    if streams is not None and not 1 <= int(streams) <= MAX_NUM_STREAMS:
        raise ArgumentError("num_streams", streams, f"an int 1 .. {MAX_NUM_STREAMS}", where=where)
    if "device_id" in kwargs and int(kwargs["device_id"]) < 0:
        raise ArgumentError("device_id", kwargs["device_id"], "an int >= 0", where=where)
