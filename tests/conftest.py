"""Shared test helpers: tiny ONNX models, clips from arrays, plugin requirements."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import vsinfer.backends.base as base_module
import vsinfer.plugins as plugins_module

REQUIRED = {ns for ns in os.environ.get("VSINFER_REQUIRE", "").split(",") if ns}


def vulkan_missing() -> str | None:
    """Why core.ncnn cannot run here (no Vulkan device), or None when one answers: vsinfer's own device probe."""
    from vsinfer.backends.ncnn import VULKAN_HINT
    from vsinfer.plugins import device_names

    return None if device_names("ncnn") else f"core.ncnn finds no Vulkan device; {VULKAN_HINT}"


def vspipe() -> tuple[str, dict[str, str]]:
    """The vspipe next to this Python (pip install vapoursynth puts it there) and an environment that finds it."""
    import shutil
    import sys

    bin_dir = Path(sys.executable).parent
    exe = shutil.which("vspipe", path=str(bin_dir)) or shutil.which("vspipe")
    if exe is None:
        pytest.fail("vspipe is not installed next to this Python (pip install vapoursynth provides it)")
    return exe, os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def need_plugin(namespace: str) -> None:
    """Skip (with the reason) when core.<namespace> is not loaded, or fail if CI requires it here.

    ncnn also needs a Vulkan device (lavapipe on a machine without a GPU).
    """
    from vsinfer.plugins import is_loaded

    reason: str | None = f"the vs-mlrt plugin core.{namespace} is not loaded on this machine"
    if is_loaded(namespace):
        reason = vulkan_missing() if namespace == "ncnn" else None
    if reason is None:
        return
    if namespace in REQUIRED:
        pytest.fail(f"{reason}, but VSINFER_REQUIRE says it must run here")
    pytest.skip(reason)


MODULE_KEYS = {"tensorrt_rtx": "trt_rtx", "tensorrt": "trt"}
"""VSINFER_REQUIRE names runtimes by plugin namespace; the builder module of a runtime counts as that name."""


def need_module(module: str) -> None:
    """Skip (with the reason) when a Python module is missing, or fail if CI requires it here."""
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    reason = f"the Python module {module} is not installed"
    if MODULE_KEYS.get(module, module) in REQUIRED:
        pytest.fail(f"{reason}, but VSINFER_REQUIRE says it must run here")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache root."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(root))
    return root


def conv_model(
    path: Path,
    cin: int,
    cout: int,
    *,
    k: int = 3,
    input_name: str = "input",
    elem_type: int = TensorProto.FLOAT,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> Path:
    """A one-Conv model NCHW -> NCHW ('same' padding); ``size`` (w, h) makes the spatial dims static."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((cout, cin, k, k)) * 0.2).astype(np.float32)
    bias = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    if elem_type == TensorProto.FLOAT16:
        weight, bias = weight.astype(np.float16), bias.astype(np.float16)
    h, w = (size[1], size[0]) if size else ("h", "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", [input_name, "W", "B"], ["output"], pads=[k // 2] * 4, name="/body/conv0/Conv")],
        "conv",
        [helper.make_tensor_value_info(input_name, elem_type, [1, cin, h, w])],
        [helper.make_tensor_value_info("output", elem_type, [1, cout, h, w])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def reference(model: Path, inp: np.ndarray) -> np.ndarray:
    """The model's output computed by onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    session = ReferenceEvaluator(str(model))
    name = session.input_names[0]
    return np.asarray(session.run(None, {name: inp})[0])


def clip_from_planes(planes: np.ndarray, fmt: int, length: int = 2):  # type: ignore[no-untyped-def]
    """A clip whose every frame holds ``planes`` (C, H, W) in format ``fmt``."""
    import vapoursynth as vs

    c, h, w = planes.shape
    blank = vs.core.std.BlankClip(width=w, height=h, format=fmt, length=length)
    assert blank.format.num_planes == c

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(c):
            np.asarray(out[p])[:] = planes[p]
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)


def planes_of(clip, n: int = 0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Frame ``n`` of ``clip`` as a float32 (C, H, W) array."""
    frame = clip.get_frame(n)
    return np.stack([np.asarray(frame[p]).astype(np.float32) for p in range(frame.format.num_planes)])


def pattern(c: int, h: int, w: int, seed: int = 1) -> np.ndarray:
    """Smooth-ish float32 test content in [0, 1]."""
    rng = np.random.default_rng(seed)
    return rng.random((c, h, w), dtype=np.float32)


@pytest.fixture
def forbid_plugin_call(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test if any code path reaches a plugin; yields the list of attempted calls."""
    calls: list[str] = []

    def trap(namespace: str) -> object:
        calls.append(namespace)
        raise AssertionError(f"core.{namespace} was reached although the error should come first")

    monkeypatch.setattr(base_module, "get_plugin", trap)
    monkeypatch.setattr(plugins_module, "get_plugin", trap)
    yield calls
    assert calls == []


ModelFactory = Callable[..., Path]


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """conv_model writing into the test's tmp_path: make_model(cin, cout, name=..., **kw)."""
    counter = iter(range(1000))

    def factory(cin: int, cout: int, **kw: object) -> Path:
        return conv_model(tmp_path / f"model{next(counter)}.onnx", cin, cout, **kw)  # type: ignore[arg-type]

    return factory
