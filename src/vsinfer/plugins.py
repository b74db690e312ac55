"""Lazy access to the vs-mlrt plugins, and "which arguments does the loaded plugin accept".

VapourSynth R81 rejects unknown keyword arguments even when their value is None, and older plugin builds
lack newer options. So every call goes through ``select_args``: a default the plugin lacks is dropped, an
option the user set that the plugin lacks is an error naming the option and the plugin's version.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import PluginNotFoundError, UnsupportedOptionError

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = [
    "EXTRAS",
    "Param",
    "accepted_args",
    "get_plugin",
    "is_loaded",
    "parse_signature",
    "plugin_version",
    "select_args",
]

logger = logging.getLogger(__name__)

EXTRAS: Mapping[str, str] = {
    "ort": "ort",
    "ov": "ov",
    "ncnn": "ncnn",
    "trt": "trt",
    "trt_rtx": "trt-rtx",
    "migx": "migx",
}
"""Plugin namespace -> the vsinfer pip extra that installs it."""


@dataclass(frozen=True)
class Param:
    """One argument of a VapourSynth function signature."""

    name: str
    """Argument name."""
    type: str
    """VapourSynth type name: int, float, data, vnode, func, ..."""
    array: bool
    """True for ``type[]`` arguments."""
    optional: bool
    """True for ``:opt`` arguments."""


def parse_signature(signature: str) -> dict[str, Param]:
    """Parse ``"clips:vnode[];network_path:data;overlap:int[]:opt;..."`` into Params by name."""
    params: dict[str, Param] = {}
    for item in signature.split(";"):
        if not item:
            continue
        name, type_, *flags = item.split(":")
        array = type_.endswith("[]")
        params[name] = Param(name, type_.removesuffix("[]"), array, "opt" in flags)
    return params


def get_plugin(namespace: str) -> vs.Plugin:
    """``core.<namespace>``, or PluginNotFoundError naming the pip extra to install."""
    import vapoursynth as vs

    try:
        return getattr(vs.core, namespace)
    except AttributeError as exc:
        raise PluginNotFoundError(namespace, EXTRAS.get(namespace, namespace)) from exc


def is_loaded(namespace: str) -> bool:
    """True when ``core.<namespace>`` is loaded."""
    try:
        get_plugin(namespace)
    except PluginNotFoundError:
        return False
    return True


def plugin_version(namespace: str) -> str:
    """The plugin's own version string (``Version()["version"]``), or "unknown"."""
    try:
        info = get_plugin(namespace).Version()
    except Exception:  # a plugin without Version() still has a name we can report
        return "unknown"
    value = info.get("version", "unknown")
    return value.decode() if isinstance(value, bytes) else str(value)


def accepted_args(namespace: str, function: str = "Model") -> dict[str, Param]:
    """The arguments ``core.<namespace>.<function>`` accepts, read from its signature."""
    return parse_signature(getattr(get_plugin(namespace), function).signature)


def select_args(
    namespace: str, args: Mapping[str, Any], user_set: Collection[str], function: str = "Model"
) -> dict[str, Any]:
    """Keep the arguments the loaded plugin accepts.

    A name in ``user_set`` that the plugin lacks raises UnsupportedOptionError; any other missing name is
    a default the plugin does not know and is dropped (logged at debug).
    """
    accepted = accepted_args(namespace, function)
    kept: dict[str, Any] = {}
    for name, value in args.items():
        if name in accepted:
            kept[name] = value
        elif name in user_set:
            raise UnsupportedOptionError(name, value, f"core.{namespace}", plugin_version(namespace))
        else:
            logger.debug("core.%s.%s has no %r; not passing the default %r", namespace, function, name, value)
    return kept
