"""Device checks every GPU family shares: a device index against the devices the plugin lists."""

from __future__ import annotations

from .. import plugins
from ..errors import DeviceError

__all__ = ["check_device_index", "id_range"]


def check_device_index(namespace: str, device_id: int, where: str, kind: str = "GPU") -> None:
    """``device_id`` is one of the devices ``core.<namespace>.DeviceProperties`` lists (when it lists any).

    A plugin that lists none (no driver) is left to say why itself; its error is wrapped by ``inference``.
    """
    names = plugins.device_names(namespace)
    if names and device_id >= len(names):
        raise DeviceError("device_id", device_id, id_range(names, kind), where=where)


def id_range(names: tuple[str, ...], kind: str) -> str:
    """"0 .. n-1: this machine has n <kind> device(s) (0: name, ...)"."""
    listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    return f"0 .. {len(names) - 1}: this machine has {len(names)} {kind} device(s) ({listed})"
