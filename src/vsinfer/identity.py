"""The identity of a build: a canonical, versioned record of everything that changes the engine's bytes.

Never ``repr()`` and never set order: the record is made of plain JSON values (sorted keys, lists in a fixed
order) so the same inputs give the same identity in every process, whatever ``PYTHONHASHSEED`` is. Its CRC32
names the artifact; the record itself goes into the sidecar, where a collision or a stale file shows.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "IDENTITY_VERSION",
    "RUNTIME_ONLY_FIELDS",
    "DeviceInfo",
    "ShapeProfile",
    "build_fields",
    "canonical",
    "plugin_device",
]

logger = logging.getLogger(__name__)

IDENTITY_VERSION = 1
"""Bumped whenever the meaning of an identity record changes; old artifacts then stop matching."""

RUNTIME_ONLY_FIELDS = frozenset({"device_id", "device_weights", "num_streams",
                                 "use_cuda_graph", "verbosity", "force_rebuild",
                                 "max_threads", "fp16_guard"})
"""Backend fields that do not change an engine's bytes (device_id: the device's name and compute
capability count instead, so identical GPUs share engines)."""


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data: enums as ints, tuples / sequences as lists, mappings as sorted dicts."""
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, set | frozenset):
        return sorted(canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}: {value!r}")


def build_fields(backend: DataclassInstance) -> dict[str, Any]:
    """The backend's build-relevant fields, canonical, by name."""
    return {f.name: canonical(getattr(backend, f.name)) for f in fields(backend) if f.name not in RUNTIME_ONLY_FIELDS}


@dataclass(frozen=True)
class DeviceInfo:
    """The GPU an engine is built for, as far as it changes the engine."""

    name: str
    """Device name, e.g. "NVIDIA GeForce RTX 4090"; "unknown" when it could not be read."""
    compute_capability: str | None = None
    """"major.minor", or None when unknown."""

    def slug(self) -> str:
        """A file-name-safe form, for the timing cache's name."""
        text = f"{self.name}-{self.compute_capability or 'x'}"
        return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)


@dataclass(frozen=True)
class ShapeProfile:
    """The optimization profile of an engine's input, as (width, height) pairs."""

    min: tuple[int, int]
    """Smallest tile the engine accepts."""
    opt: tuple[int, int]
    """Tile the engine is tuned for."""
    max: tuple[int, int]
    """Largest tile the engine accepts."""

    def covers(self, tile: tuple[int, int]) -> bool:
        """True when ``tile`` lies between min and max on both axes."""
        return all(lo <= t <= hi for lo, t, hi in zip(self.min, tile, self.max, strict=True))

    def nchw(self, channels: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) as NCHW shapes."""
        return tuple((1, channels, h, w) for w, h in (self.min, self.opt, self.max))  # type: ignore[return-value]


_device_cache: dict[tuple[str, int], DeviceInfo] = {}


def plugin_device(namespace: str, device_id: int) -> DeviceInfo:
    """The device ``core.<namespace>.DeviceProperties(device_id)`` reports (never an nvidia-smi subprocess).

    When the plugin is missing or cannot see a device (building on a machine without the GPU), the device
    is "unknown": the engine is then keyed to that, with a logged warning.
    """
    key = (namespace, device_id)
    if key in _device_cache:
        return _device_cache[key]
    from .plugins import as_text, get_plugin

    try:
        props = get_plugin(namespace).DeviceProperties(device_id=device_id)
        values = {k: as_text(v) for k, v in props.items()}
        # AMD: core.migx names the gfx target "gcn_arch_name" (its major / minor are HIP's, less precise)
        capability = values.get("gcn_arch_name") or (f"{values['major']}.{values['minor']}" if "major" in values
                                                     else None)
        info = DeviceInfo(str(values["name"]), None if capability is None else str(capability))
    except Exception as exc:  # no plugin, no CUDA driver, no such device: all mean "not known here"
        logger.warning("could not read device %d from core.%s (%s); engines are keyed to an unknown device",
                       device_id, namespace, exc)
        info = DeviceInfo("unknown")
    _device_cache[key] = info
    return info
