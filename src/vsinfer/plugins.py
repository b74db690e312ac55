"""Lazy access to the vs-mlrt plugins, and "which arguments does the loaded plugin accept".

VapourSynth R81 rejects unknown keyword arguments even when their value is None, and older plugin builds
lack newer options. So every call goes through ``select_args``: a default the plugin lacks is dropped, an
option the user set that the plugin lacks is an error naming the option and the plugin's version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import PluginNotFoundError, UnsupportedOptionError

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = [
    "DISTRIBUTIONS",
    "EXTRAS",
    "MAX_DEVICE_IDS",
    "Param",
    "PluginFacts",
    "PluginStatus",
    "accepted_args",
    "as_text",
    "available_devices",
    "clear_device_cache",
    "declare",
    "device_names",
    "device_properties",
    "get_plugin",
    "gpu_plugins",
    "is_loaded",
    "parse_signature",
    "plugin_info",
    "plugin_status",
    "plugin_version",
    "read_once",
    "runtime_keys",
    "select_args",
]

logger = logging.getLogger(__name__)

@dataclass(frozen=True, kw_only=True)
class PluginFacts:
    """What a backend family declares about one vs-mlrt plugin it runs on (in its own ``PLUGINS``)."""

    namespace: str
    """The plugin namespace (``core.<namespace>``)."""
    extra: str
    """The vsinfer pip extra that installs it."""
    wheel: str
    """The PyPI wheel that ships it."""
    runtime_keys: tuple[str, ...] = ()
    """``Version()`` keys naming the runtime it runs on (``"onnxruntime_version"``): timings are keyed by them."""
    gpu_vendor: str | None = None
    """The GPU vendor whose devices its ``DeviceProperties`` lists ("nvidia", "amd"): a source for GPU probing."""


EXTRAS: dict[str, str] = {}
"""Plugin namespace -> the vsinfer pip extra that installs it (declared by the families: ``declare``)."""
DISTRIBUTIONS: dict[str, str] = {}
"""Plugin namespace -> the PyPI wheel that ships it (declared by the families)."""
_RUNTIME_KEYS: dict[str, tuple[str, ...]] = {}
_GPU_VENDORS: dict[str, str | None] = {}


def declare(*facts: PluginFacts) -> None:
    """Record the plugins a family runs on (``vsinfer.backends.registry.add_family`` calls it)."""
    for fact in facts:
        EXTRAS[fact.namespace] = fact.extra
        DISTRIBUTIONS[fact.namespace] = fact.wheel
        _RUNTIME_KEYS[fact.namespace] = fact.runtime_keys
        _GPU_VENDORS[fact.namespace] = fact.gpu_vendor


def gpu_plugins(vendor: str) -> tuple[str, ...]:
    """The declared plugins whose ``DeviceProperties`` lists ``vendor``'s GPUs, in declaration order."""
    return tuple(n for n, v in _GPU_VENDORS.items() if v == vendor)


def runtime_keys() -> tuple[str, ...]:
    """The ``Version()`` keys that name what the declared plugins run on, "version" (the plugin's own) first."""
    return tuple(dict.fromkeys(("version", *(k for keys in _RUNTIME_KEYS.values() for k in keys))))


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


def as_text(value: Any) -> str:
    """A value read from a plugin as text: bytes decoded, arrays joined with commas."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list | tuple):
        return ",".join(as_text(v) for v in value)
    return str(value)


def plugin_info(namespace: str) -> dict[str, str] | None:
    """``core.<namespace>.Version()`` as text, or None when the plugin is missing or has no Version()."""
    try:
        info = get_plugin(namespace).Version()
    except Exception:  # a missing plugin, or one without Version(): nothing to report
        return None
    return {k: as_text(v) for k, v in info.items()}


def plugin_version(namespace: str) -> str:
    """The plugin's own version string (``Version()["version"]``), or "unknown"."""
    return (plugin_info(namespace) or {}).get("version", "unknown")


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


@dataclass(frozen=True)
class PluginStatus:
    """What can be known about one vs-mlrt plugin without running a model."""

    namespace: str
    """The plugin namespace."""
    loaded: bool
    """Whether ``core.<namespace>`` exists."""
    version: str | None
    """The plugin's own version, when loaded."""
    info: Mapping[str, str]
    """Its ``Version()`` dict (runtime versions, compiled-in providers...), when loaded."""
    devices: tuple[str, ...]
    """Devices it reports (ov ``AvailableDevices``), when it has such a function."""
    error: str | None
    """Why it is not loaded: not installed, or the loader's error for its library."""


def _load_error(namespace: str) -> str:
    """Why ``core.<namespace>`` is missing: the wheel is not installed, or its library does not load."""
    import ctypes
    from importlib import metadata

    dist = DISTRIBUTIONS.get(namespace)
    extra = EXTRAS.get(namespace, namespace)
    try:
        files = metadata.files(dist) if dist else None
    except metadata.PackageNotFoundError:
        return f"not installed (pip install 'vsinfer[{extra}]')"
    for file in files or ():
        if file.suffix in (".so", ".dll", ".dylib") and "plugins" in file.parts and "vs" in file.name:
            try:
                ctypes.CDLL(str(file.locate()))
            except OSError as exc:
                return f"{dist} is installed but its library does not load: {exc}"
    return f"{dist} is installed but VapourSynth did not load core.{namespace}"


def plugin_status(namespace: str) -> PluginStatus:
    """Loaded or not, version, ``Version()`` info, devices, and the load error when it failed."""
    try:
        plugin = get_plugin(namespace)
    except PluginNotFoundError:
        return PluginStatus(namespace, False, None, {}, (), _load_error(namespace))
    info = plugin_info(namespace) or {}
    devices = _available_devices(namespace, plugin) if hasattr(plugin, "AvailableDevices") else ()
    return PluginStatus(namespace, True, info.get("version"), info, devices, None)


# -- devices, read from the plugins' own query functions (never from Model) --------------------------------------
MAX_DEVICE_IDS = 64
"""Device ids probed with ``DeviceProperties``: 0, 1, ... until one fails, at most this many."""

_device_cache: dict[tuple[str, str], tuple[str, ...]] = {}


_properties_cache: dict[tuple[str, int], dict[str, Any] | None] = {}


def clear_device_cache() -> None:
    """Forget the device lists and properties read so far (they are read once per process)."""
    _device_cache.clear()
    _properties_cache.clear()


def read_once(namespace: str, what: str, plugin: Any, read: Callable[[], tuple[str, ...]]) -> tuple[str, ...]:
    """``read()`` once per process and plugin query ``what``; a stand-in plugin (not a vs.Plugin) is never cached."""
    import vapoursynth as vs

    key = (namespace, what)
    if key in _device_cache:
        return _device_cache[key]
    value = read()
    if isinstance(plugin, vs.Plugin):
        _device_cache[key] = value
    return value


def _available_devices(namespace: str, plugin: Any) -> tuple[str, ...]:
    def read() -> tuple[str, ...]:
        try:
            found = plugin.AvailableDevices()  # VapourSynth returns a lone value itself, not a one-key dict
        except Exception as exc:  # a broken device runtime only means "no devices"
            logger.debug("core.%s.AvailableDevices failed: %s", namespace, exc)
            return ()
        found = found.get("devices", ()) if isinstance(found, dict) else found
        return tuple(as_text(d) for d in ([found] if isinstance(found, str | bytes) else found))

    return read_once(namespace, "AvailableDevices", plugin, read)


def available_devices(namespace: str) -> tuple[str, ...]:
    """The devices ``core.<namespace>.AvailableDevices()`` reports (OpenVINO: "CPU", "GPU.0", ...), read once."""
    return _available_devices(namespace, get_plugin(namespace))


def device_names(namespace: str) -> tuple[str, ...]:
    """The name of each device ``core.<namespace>.DeviceProperties`` knows, by id (0, 1, ...), read once.

    The probe stops at the first id the plugin refuses; a plugin whose runtime finds no device (ncnn without a
    Vulkan driver, trt without CUDA) gives an empty tuple. Model is never called.
    """
    import vapoursynth as vs

    plugin = get_plugin(namespace)

    def read() -> tuple[str, ...]:
        names: list[str] = []
        for device_id in range(MAX_DEVICE_IDS):
            try:
                props = plugin.DeviceProperties(device_id=device_id)
            except vs.Error as exc:
                logger.debug("core.%s.DeviceProperties(%d): %s", namespace, device_id, exc)
                break
            names.append(as_text(props.get("device_name", props.get("name", f"device {device_id}"))))
        return tuple(names)

    return read_once(namespace, "DeviceProperties", plugin, read)


def device_properties(namespace: str, device_id: int) -> dict[str, Any] | None:
    """``core.<namespace>.DeviceProperties(device_id=...)``, or None when the plugin or the device is missing.

    Read once per process and device (one call asks for them several times: NCNN's precision by device); a
    stand-in plugin (not a ``vs.Plugin``) is never cached.
    """
    import vapoursynth as vs

    key = (namespace, device_id)
    if key in _properties_cache:
        found = _properties_cache[key]
        return None if found is None else dict(found)
    try:
        plugin = get_plugin(namespace)
        props: dict[str, Any] | None = dict(plugin.DeviceProperties(device_id=device_id))
    except (vs.Error, AttributeError, PluginNotFoundError):
        plugin, props = None, None
    if isinstance(plugin, vs.Plugin):
        _properties_cache[key] = props
    return None if props is None else dict(props)
