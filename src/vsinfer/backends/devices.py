"""Several devices for one ``inference``: device ids normalized, the frames dealt out, the outputs put back in order.

Frames go to the devices in a fixed cycle: with ``device_weights=(2, 1)`` device 0 renders frames 0, 1, 3, 4, ...
and device 1 frames 2, 5, ...; every input clip is selected the same way, so a multi-clip (temporal) model sees
its frames together. Each device's output is split back into one stream per position in the cycle and the streams
interleaved, so the output has the input's length, order and frame properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["SeveralDevices", "device_tuple", "first_device", "join_frames", "split_frames", "weight_tuple"]

MAX_DEVICES = 64
"""More device ids than any machine has; a longer tuple is a mistake."""


@dataclass(frozen=True, kw_only=True)
class SeveralDevices:
    """Mixin fields of the families whose plugin takes a ``device_id``: one device, or several to deal frames to."""

    device_id: int | tuple[int, ...] = 0
    """Device index as the plugin counts them (CUDA, HIP, Vulkan, DirectX, OpenVINO's ``GPU.<n>``), or several,
    e.g. (0, 1): the frames are dealt out over them (see ``device_weights``)."""
    device_weights: tuple[int, ...] | None = None
    """With several ``device_id``: frames each device renders per cycle, e.g. (2, 1) for a GPU twice as fast as the
    other; None deals the frames evenly."""


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def device_tuple(value: Any, where: str) -> int | tuple[int, ...]:
    """``device_id`` normalized: an int stays; a sequence of distinct ids becomes a tuple (a single id: the int)."""
    if _is_id(value):  # numpy integers arrive here as ints (backends.fields.plain_numbers); a float is no id
        return int(value)
    if isinstance(value, str | bytes | bool) or not isinstance(value, Sequence):
        hint = " (a bool is not an int)" if isinstance(value, bool) else " (a float is not an int)" if isinstance(
            value, float) else ""
        raise ConfigError("device_id", value, f"an int >= 0{hint}, or a tuple of them for several devices, e.g. "
                          "(0, 1)", where=where)
    ids = tuple(value)
    if not ids or len(ids) > MAX_DEVICES or not all(_is_id(i) for i in ids):
        raise ConfigError("device_id", value, f"a tuple of 1 .. {MAX_DEVICES} ints >= 0, e.g. (0, 1)", where=where)
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError("device_id", value, f"each device once ({', '.join(map(str, twice))} is named twice); to "
                          "keep one device busier, give it more num_streams or a larger device_weights entry",
                          where=where)
    return ids[0] if len(ids) == 1 else ids


def first_device(device_id: int | tuple[int, ...]) -> int:
    """The device a builder keys its artifact to: the only one, or the first (``prebuild`` builds per device)."""
    return device_id if isinstance(device_id, int) else device_id[0]


def weight_tuple(value: Any, devices: int, where: str) -> tuple[int, ...] | None:
    """``device_weights`` normalized: None, or one int >= 1 per device (at most 16: the length of a dealing cycle)."""
    if value is None:
        return None
    ok = (not isinstance(value, str | bytes) and isinstance(value, Sequence) and len(value) == devices
          and all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 16 for w in value))
    if not ok:
        raise ConfigError("device_weights", value, f"None or {devices} ints 1 .. 16, one per device_id (e.g. (2, 1): "
                          "the first device gets two frames for every one of the second)", where=where)
    return tuple(value)


def _offsets(weights: Sequence[int]) -> list[list[int]]:
    """Each device's positions in the dealing cycle: (2, 1) -> [[0, 1], [2]]."""
    out, start = [], 0
    for w in weights:
        out.append(list(range(start, start + w)))
        start += w
    return out


def split_frames(clips: Sequence[vs.VideoNode], weights: Sequence[int]) -> list[list[vs.VideoNode]]:
    """The clips each device renders: every clip selected at that device's positions of the cycle."""
    import vapoursynth as vs

    cycle = sum(weights)
    return [[vs.core.std.SelectEvery(c, cycle, offsets, modify_duration=False) for c in clips]
            for offsets in _offsets(weights)]


def join_frames(outputs: Sequence[Sequence[vs.VideoNode]], weights: Sequence[int], length: int) -> list[vs.VideoNode]:
    """The devices' outputs (each a list of clips: one per output, or per plane) back in the input's frame order."""
    import vapoursynth as vs

    joined = []
    for k in range(len(outputs[0])):
        streams = []
        for device, w in enumerate(weights):
            out = outputs[device][k]
            streams += [out] if w == 1 else [vs.core.std.SelectEvery(out, w, [j], modify_duration=False)
                                             for j in range(w)]
        both = vs.core.std.Interleave(streams, extend=True, modify_duration=False)
        joined.append(both if both.num_frames == length else vs.core.std.Trim(both, 0, length - 1))
    return joined
