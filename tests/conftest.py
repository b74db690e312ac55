"""Shared test helpers: tiny ONNX models, clips from arrays, plugin requirements."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import vsinfer.backends.call as call_module
import vsinfer.plugins as plugins_module

REQUIREMENTS = {
    "ort": "the vs-mlrt plugin core.ort", "ov": "the vs-mlrt plugin core.ov",
    "ncnn": "the vs-mlrt plugin core.ncnn and a Vulkan device", "trt": "core.trt and TensorRT (tensorrt)",
    "trt_rtx": "core.trt_rtx and TensorRT-RTX (tensorrt_rtx)", "migx": "core.migx and migraphx-driver (ROCm)",
    "jetpack": "vs-jetpack (vsscale, vsdenoise)", "ffmpeg": "the programs ffmpeg and ffprobe",
    "ray": "the Python module ray", "root": "running as root (mounting tmpfs, chown)",
    "export": "torch and spandrel (the export extra: make test-export)",
}
"""The names VSINFER_REQUIRE takes: plugin namespaces, and what other tests need."""

REQUIRED = {name.strip() for name in os.environ.get("VSINFER_REQUIRE", "").split(",") if name.strip()}
"""What must run on this machine: a test that needs one of these fails instead of skipping (CI sets it)."""


HOME_VARIABLES = ("HOME", "XDG_CACHE_HOME", "MESA_SHADER_CACHE_DIR")
"""Where a run writes outside its test folders unless told otherwise: Mesa's shader cache (lavapipe, under
$XDG_CACHE_HOME or ~/.cache), onnxruntime's device id (~/.cache/Microsoft/DeveloperTools), vs-jetpack's models."""

_saved_environment: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a VSINFER_REQUIRE name that would require nothing; point the run's home and caches at a temp folder.

    The folder is the session's (collection and module fixtures write there too); ``isolated_cache`` gives each
    test its own HOME and XDG_CACHE_HOME. Mesa's shader cache stays the session's: lavapipe compiles once a run.
    A MESA_SHADER_CACHE_DIR the caller set is kept: a warm cache there saves lavapipe's compiles (one NCNN zoo
    cell here: 9-14 s cold, 3-5 s warm).
    """
    import tempfile

    unknown = sorted(REQUIRED - REQUIREMENTS.keys())
    if unknown:
        raise pytest.UsageError(f"VSINFER_REQUIRE={os.environ.get('VSINFER_REQUIRE')!r} names {unknown}; expected "
                                f"names from {sorted(REQUIREMENTS)}")
    home = Path(tempfile.mkdtemp(prefix="vsinfer-tests-home-"))
    _saved_environment.update({name: os.environ.get(name) for name in HOME_VARIABLES})
    _saved_environment["_folder"] = str(home)
    os.environ.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
                       "MESA_SHADER_CACHE_DIR": os.environ.get("MESA_SHADER_CACHE_DIR") or str(home / "mesa")})


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the caller's environment back and remove the session's home."""
    import shutil

    folder = _saved_environment.pop("_folder", None)
    for name, value in _saved_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_environment.clear()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def missing(requirement: str | None, reason: str) -> NoReturn:
    """The one place a test gives up for a lack of this machine: a skip with ``reason``, or a failure when
    VSINFER_REQUIRE names ``requirement``. ``None``: a condition that no machine is required to meet (the test
    covers the other case). Works at module level too. The skip is reported at the test's line (tracebackhide).
    """
    __tracebackhide__ = True
    if requirement is not None and requirement not in REQUIREMENTS:
        raise ValueError(f"requirement={requirement!r} is not valid; expected one of {sorted(REQUIREMENTS)} or None")
    if requirement in REQUIRED:
        pytest.fail(f"{reason}, but VSINFER_REQUIRE says {requirement} must run here")
    pytest.skip(reason, allow_module_level=True)


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
    __tracebackhide__ = True
    from vsinfer.plugins import is_loaded

    reason: str | None = f"the vs-mlrt plugin core.{namespace} is not loaded on this machine"
    if is_loaded(namespace):
        reason = vulkan_missing() if namespace == "ncnn" else None
    if reason is not None:
        missing(namespace, reason)


MODULE_KEYS = {"tensorrt_rtx": "trt_rtx", "tensorrt": "trt", "vsscale": "jetpack", "vsdenoise": "jetpack",
               "vstools": "jetpack", "ray": "ray"}
"""The VSINFER_REQUIRE name of a Python module (a runtime's builder module counts as that runtime)."""

INSTALL = {"tensorrt_rtx": "pip install 'vsinfer[trt-rtx]'", "vsscale": "pip install 'vsinfer[jetpack]'",
           "vsdenoise": "pip install 'vsinfer[jetpack]'", "ray": "pip install 'vsinfer[farm]'",
           "tensorrt": "pip install tensorrt on a machine with an NVIDIA GPU"}
"""How to get a module, for the skip's reason."""


def need_module(module: str) -> ModuleType:
    """The module imported (``import a.b`` for "a.b"); skip with the reason when it is missing, or fail where
    VSINFER_REQUIRE names its runtime. A module that is there but fails to import is an error, never a skip."""
    __tracebackhide__ = True
    top = module.partition(".")[0]
    if importlib.util.find_spec(top) is None:
        hint = f": {INSTALL[top]}" if top in INSTALL else ""
        missing(MODULE_KEYS.get(top), f"the Python module {top} is not installed{hint}")
    return importlib.import_module(module)


PROGRAM_KEYS = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "migraphx-driver": "migx"}
"""The VSINFER_REQUIRE name of a program."""


def need_program(program: str) -> str:
    """The program's path on PATH; skip with the reason when it is missing, or fail where VSINFER_REQUIRE names it."""
    __tracebackhide__ = True
    import shutil

    path = shutil.which(program)
    if path is None:
        hint = ": apt-get install -y ffmpeg" if PROGRAM_KEYS.get(program) == "ffmpeg" else ""
        missing(PROGRAM_KEYS.get(program), f"the program {program} is not on PATH{hint}")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache root, and its own HOME and XDG_CACHE_HOME (children inherit them): nothing
    a test runs writes under the user's home (Mesa's shader cache is the session's, see pytest_configure)."""
    root = tmp_path_factory.mktemp("cache")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VSINFER_CACHE_DIR", str(root))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
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

    monkeypatch.setattr(call_module, "get_plugin", trap)
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
