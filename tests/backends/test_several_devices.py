"""One ``inference`` over several devices: real, on two Vulkan devices (lavapipe listed twice), in a child process
(the Vulkan loader reads ``VK_ICD_FILENAMES`` once per process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import vapoursynth as vs

from tests.conftest import ModelFactory, missing, need_plugin
from tests.trt_fixtures import builds, known_device  # noqa: F401 (fixtures: the injected device, the build counter)
from vsinfer import Backend
from vsinfer.backends.devices import join_frames, split_frames
from vsinfer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LAVAPIPE = Path("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    need_plugin("ncnn")
    if not LAVAPIPE.is_file():
        missing("ncnn", f"no {LAVAPIPE}: install mesa-vulkan-drivers (lavapipe) for the two-device test")
    folder = tmp_path_factory.mktemp("icd")
    names = [folder / "lvp_a.json", folder / "lvp_b.json"]
    for name in names:
        shutil.copy(LAVAPIPE, name)
    files = ":".join(map(str, names))
    return os.environ | {"VK_ICD_FILENAMES": files, "VK_DRIVER_FILES": files}


def run_child(env: dict[str, str], models: dict[str, str]) -> Any:
    env = env | {"VSINFER_CACHE_DIR": os.environ["VSINFER_CACHE_DIR"]}  # this test's cache, not the user's
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("several_devices_child.py")),
                           json.dumps(models)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_ncnn_on_two_devices_gives_the_one_device_output(two_devices: dict[str, str],
                                                          make_model: ModelFactory) -> None:
    models = {"rgb": str(make_model(3, 3)), "planes": str(make_model(3, 5)), "pair": str(make_model(6, 3))}
    found = run_child(two_devices, models)
    assert len(found["devices"]) == 2, found["devices"]
    for case in (found["rgb"], found["weighted"], found["pair"], *found["flexible"]):
        assert case["length"] == [7, 7] and case["max_diff"] == 0.0 and case["props_equal"]
        assert case["order"] == list(range(7))  # every frame in its place, with its own properties
    assert len(found["flexible"]) == 5
    refused = found["refused"]
    assert refused is not None and "device_id" in refused and "5" in refused and "2 Vulkan device(s)" in refused


@pytest.mark.parametrize(("weights", "length"), [
    (w, n) for w in [(1, 1), (2, 1), (1, 3), (1, 1, 1)] for n in (1, 2, 5, 12)
    if n >= sum(w)  # fewer frames than one cycle run on the first device alone
])
def test_dealing_and_joining_keep_every_frame_in_place(weights: tuple[int, ...], length: int) -> None:
    """The frame bookkeeping alone (no plugin): numbered frames dealt out and joined come back in order."""
    frames = [vs.core.std.BlankClip(width=8, height=8, format=vs.GRAYS, length=1, color=[n]) for n in range(length)]
    clip = vs.core.std.Splice(frames)
    parts = split_frames([clip], weights)
    assert sum(p[0].num_frames for p in parts) == length
    (joined,) = join_frames([[p[0]] for p in parts], weights, length)
    assert joined.num_frames == length
    assert [joined.get_frame(n)[0][0, 0] for n in range(length)] == [float(n) for n in range(length)]


@pytest.mark.parametrize(("kw", "words"), [
    ({"device_id": (0, 0)}, "named twice"),
    ({"device_id": ()}, "a tuple of 1"),
    ({"device_id": (0, -1)}, "ints >= 0"),
    ({"device_id": "01"}, "an int >= 0"),
    ({"device_id": (0, 1), "device_weights": (1,)}, "one per device_id"),
    ({"device_id": (0, 1), "device_weights": (0, 1)}, "ints 1 .. 16"),
])
def test_device_tuples_are_checked_at_construction(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Backend.NCNN(**kw)


def test_one_device_in_a_tuple_is_that_device() -> None:
    assert Backend.TRT(device_id=(1,)) == Backend.TRT(device_id=1)
    assert Backend.NCNN(device_id=[0, 1]).device_id == (0, 1)


def test_a_family_without_devices_refuses_a_device_id() -> None:
    with pytest.raises(TypeError, match="device_id"):
        Backend.ORT_CPU(device_id=(0, 1))  # type: ignore[call-arg]


def test_frame_weights() -> None:
    assert Backend.NCNN(device_id=(0, 1)).frame_weights() == (1, 1)
    assert Backend.NCNN(device_id=(0, 1), device_weights=(3, 1)).frame_weights() == (3, 1)
    assert Backend.NCNN().frame_weights() == (1,)


# -- stand-ins for the GPU families (no CUDA / ROCm here) ---------------------------------------------------------
class RecordingOrt:
    """core.ort standing in for a CUDA machine: Model passes the clip through and records its arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def Model(self, **args: Any) -> vs.VideoNode:  # noqa: N802 (the plugin's name)
        self.calls.append({k: v for k, v in args.items() if k != "clips"})
        return args["clips"][0]


def test_one_plugin_node_per_device_with_its_id(monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory) -> None:
    import vsinfer.backends.call as call_module
    from vsinfer.backends.ort import backend as ort_backend

    need_plugin("ort")
    fake = RecordingOrt()
    monkeypatch.setattr(call_module, "get_plugin", lambda namespace: fake)
    monkeypatch.setattr(ort_backend, "ort_providers", lambda: ("CPU", "CUDA"))
    clip = vs.core.std.BlankClip(width=16, height=8, format=vs.RGBS, length=5)
    out = Backend.ORT_CUDA(device_id=(0, 1), fp16=False).inference(clip, make_model(3, 3))
    assert sorted(call["device_id"] for call in fake.calls) == [0, 1] and out.num_frames == 5


def test_identical_gpus_share_one_engine_different_ones_build_their_own(
    monkeypatch: pytest.MonkeyPatch, make_model: ModelFactory, builds: list[Path]  # noqa: F811
) -> None:
    import vsinfer.backends.trt.builder as builder
    from vsinfer.identity import DeviceInfo

    need_plugin("trt_rtx")
    model = make_model(3, 3)
    monkeypatch.setattr(builder, "plugin_device", lambda namespace, device_id: DeviceInfo("RTX 4090", "8.9"))
    Backend.TRT_RTX(device_id=(0, 1), fp16=False).prebuild(model, 3, (32, 16))
    assert len(builds) == 1  # two identical GPUs: one engine
    models = {0: DeviceInfo("RTX 4090", "8.9"), 1: DeviceInfo("RTX 3060", "8.6")}
    monkeypatch.setattr(builder, "plugin_device", lambda namespace, device_id: models[device_id])
    Backend.TRT_RTX(device_id=(0, 1), fp16=False).prebuild(model, 3, (32, 16))
    assert len(builds) == 2  # the 3060 builds its own; the 4090's is reused


def test_autoselect_all_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsinfer import select
    from vsinfer.backends.registry import Environment
    from vsinfer.plugins import PluginStatus

    ncnn = PluginStatus("ncnn", True, "v17.1", {"version": "v17.1"}, (), None)
    environment = Environment("amd", "linux", {"ncnn": ncnn}, gpu_count=2)
    monkeypatch.setattr(select, "current_environment", lambda device_id=0: environment)
    monkeypatch.setattr(Backend.NCNN, "devices_present", classmethod(lambda cls: ("gpu a", "gpu b", "gpu c")))
    assert Backend.autoselect(devices="all") == Backend.NCNN(device_id=(0, 1, 2))
    assert Backend.autoselect() == Backend.NCNN(device_id=0)
    monkeypatch.setattr(Backend.NCNN, "devices_present", classmethod(lambda cls: ()))
    assert Backend.autoselect(devices="all") == Backend.NCNN(device_id=(0, 1))  # the vendor's GPU count
    with pytest.raises(ConfigError, match="devices"):
        Backend.autoselect(devices="every")  # type: ignore[arg-type]
