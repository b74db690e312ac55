"""Run in a child process whose Vulkan loader sees lavapipe twice: NCNN on (0, 1) against NCNN on 0, frame by frame.

argv: a JSON object {"rgb": model 3->3, "planes": model 3->5 (flexible), "pair": model 6->3 (two clips)}. Prints one
JSON object with what it found (tests/backends/test_several_devices.py asserts on it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import vapoursynth as vs

from vsinfer import Backend
from vsinfer.errors import DeviceError

core = vs.core
FRAMES = 7  # odd: the devices get 4 and 3 frames


def source(seed: int) -> vs.VideoNode:
    """A clip whose every frame differs, in pixels and in a frame property."""
    frames = [core.std.BlankClip(width=40, height=24, format=vs.RGBS, length=1,
                                 color=[(seed + i) % 10 / 10, 0.5, (i * 3 % 7) / 7]) for i in range(FRAMES)]
    clip = core.std.Splice(frames)

    def mark(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed * 100 + n)
        for p in range(out.format.num_planes):
            plane = np.asarray(out[p])
            plane += rng.random(plane.shape, dtype=np.float32) * 0.2
        out.props["vsinferTestFrame"] = n
        return out

    return core.std.ModifyFrame(clip, clip, mark)


def frames(node: vs.VideoNode) -> list[tuple[Any, dict[str, Any]]]:
    out = []
    for n in range(node.num_frames):
        f = node.get_frame(n)
        planes = np.stack([np.asarray(f[p], dtype=np.float32) for p in range(f.format.num_planes)])
        out.append((planes, {k: v for k, v in f.props.items() if not k.startswith("_")}))
    return out


def same(a: vs.VideoNode, b: vs.VideoNode) -> dict[str, Any]:
    fa, fb = frames(a), frames(b)
    diff = max(float(np.max(np.abs(x[0] - y[0]))) for x, y in zip(fa, fb, strict=True))
    props = all(x[1] == y[1] for x, y in zip(fa, fb, strict=True))
    return {"length": [a.num_frames, b.num_frames], "max_diff": diff, "props_equal": props,
            "order": [x[1].get("vsinferTestFrame") for x in fb]}


def main() -> None:
    models = json.loads(sys.argv[1])
    result: dict[str, Any] = {"devices": list(Backend.NCNN.devices_present())}
    clip = source(1)
    one, two = Backend.NCNN(device_id=0), Backend.NCNN(device_id=(0, 1))
    result["rgb"] = same(one.inference(clip, models["rgb"]), two.inference(clip, models["rgb"]))
    weighted = Backend.NCNN(device_id=(0, 1), device_weights=(2, 1))
    result["weighted"] = same(one.inference(clip, models["rgb"]), weighted.inference(clip, models["rgb"]))
    flex_one = one.inference(clip, models["planes"], flexible=True)
    flex_two = two.inference(clip, models["planes"], flexible=True)
    result["flexible"] = [same(a, b) for a, b in zip(flex_one, flex_two, strict=True)]
    pair = [clip, source(4)]
    result["pair"] = same(one.inference(pair, models["pair"]), two.inference(pair, models["pair"]))
    try:
        Backend.NCNN(device_id=(0, 5)).inference(clip, models["rgb"])
        result["refused"] = None
    except DeviceError as exc:
        result["refused"] = str(exc)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
