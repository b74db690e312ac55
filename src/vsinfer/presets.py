"""Presets: named intents ("fast", "exact", "default") resolved on this machine into a backend.

``Backend.preset("exact")`` is ``Backend.autoselect()`` with the fields that intent sets. Fields the chosen
class lacks are skipped, so a preset works on every machine.

Each class says what an intent means for it (``Backend.preset_fields``); by default:

* ``default``: autoselect's choice with its defaults.

* ``fast``: half precision (fp16 on, bf16 off); on GPU backends (``on_gpu``) two inference streams, the vs-mlrt
  recommendation for keeping a GPU busy; CPU backends keep their defaults (OpenVINO picks its own streams,
  measured faster than a fixed count in benchmarks/vs_peer.py).
* ``exact``: float32 everywhere, for comparisons: fp16 and bf16 off (OpenVINO's precision hint f32), no TF32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .select import autoselect, explain_autoselect

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = ["PRESETS", "preset", "preset_fields"]

PRESETS: Mapping[str, str] = {
    "default": "autoselect's choice with its defaults",
    "fast": "fp16 on, bf16 off; two streams on GPU backends",
    "exact": "float32 everywhere (fp16 / bf16 off, OpenVINO hint f32, no TF32)",
}
"""Preset name -> what it sets."""


def preset_fields(name: str, cls: type[Backend]) -> dict[str, Any]:
    """The fields preset ``name`` sets on ``cls`` (before dropping those ``cls`` lacks): its ``preset_fields`` hook."""
    if name not in PRESETS:
        raise ConfigError("name", name, f"one of {sorted(PRESETS)}", where="Backend.preset")
    return cls.preset_fields(name)


def preset(name: str, device_id: int = 0) -> Backend:
    """The backend autoselect picks on this machine for GPU ``device_id``, configured for intent ``name``."""
    fields = preset_fields(name, explain_autoselect(device_id).cls)
    return autoselect(device_id, **fields)
