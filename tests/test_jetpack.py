"""vs-jetpack's own helpers (vsscale.ArtCNN, Waifu2x, DPIR, vsdenoise.dpir) on vsinfer backends via as_jetpack.

The helpers' models cannot be downloaded here: stand-in ONNX models with the real models' channels and scale
are written where the helpers look (vs-jetpack's global cache, pointed at a temp folder). Each helper runs on
``as_jetpack(<vsinfer backend>)`` and on vs-jetpack's own backend of the same family; the outputs must agree.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import helper, numpy_helper

import vsinfer.backends.call as call_module
from tests.conftest import clip_from_planes, need_module, need_plugin, planes_of
from vsinfer import Backend
from vsinfer.errors import ConfigError, InvalidValueError
from vsinfer.jetpack import as_jetpack, check_jetpack_version

vsscale = need_module("vsscale")  # vs-jetpack: a skip with the reason, or a failure where CI requires jetpack

import vsscale.mlrt.backend.base as peer_base  # noqa: E402
import vsscale.mlrt.settings as peer_settings  # noqa: E402
from vsscale import DPIR, ArtCNN, Waifu2x  # noqa: E402
from vsscale.mlrt import Backend as Peer  # noqa: E402

W, H = 48, 32  # multiples of 8: DPIR pads to 8, Waifu2x to 4 (their padding is theirs, not under test here)


# -- stand-in models ------------------------------------------------------------------------------------------
def _averaging(cout: int, cin: int, seed: int) -> np.ndarray:
    """3x3 kernels with positive weights summing to 1 per output channel: outputs stay within [0, 1]."""
    w = np.random.default_rng(seed).random((cout, cin, 3, 3)).astype(np.float32) + 0.1
    return w / w.sum(axis=(1, 2, 3), keepdims=True)


def _save(path: Path, cin: int, cout: int, scale: int, seed: int) -> None:
    """Conv(cin -> cout * scale^2, 3x3) then DepthToSpace(scale): an upscaler (scale 2) or a 1x filter."""
    nodes = [helper.make_node("Conv", ["input", "W"], ["conv" if scale > 1 else "output"], pads=[1] * 4)]
    if scale > 1:
        nodes.append(helper.make_node("DepthToSpace", ["conv"], ["output"], blocksize=scale, mode="DCR"))
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, cin, "h", "w"])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, cout, "H", "W"])],
        [numpy_helper.from_array(_averaging(cout * scale * scale, cin, seed), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


# provider folder, model file stem -> (input channels, output channels, scale)
STAND_INS = {
    ("artcnn", "ArtCNN_R8F64"): (1, 1, 2),
    ("artcnn", "ArtCNN_R8F64_Chroma"): (3, 2, 1),
    ("waifu2x", "cunet_art_scale2x"): (3, 3, 2),
    ("dpir", "drunet_color"): (4, 3, 1),
    ("dpir", "drunet_gray"): (2, 1, 1),
    ("dpir", "drunet_deblocking_color"): (4, 3, 1),
    ("dpir", "drunet_deblocking_gray"): (2, 1, 1),
}

_SETTINGS_CACHES = ("get_global_cache", "get_cache", "get_onnx_folder", "get_artifacts_folder")


def _clear_peer_caches() -> None:
    for name in _SETTINGS_CACHES:
        getattr(peer_settings, name).cache_clear()


@pytest.fixture(scope="module")
def jetpack_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """vs-jetpack's global cache in a temp folder, holding the stand-in models; its local one is not consulted."""
    root = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root))
        mp.setenv("VSSCALE_GLOBAL", "true")
        _clear_peer_caches()
        onnx_folder = peer_settings.get_onnx_folder()
        assert onnx_folder.is_relative_to(root)
        for i, ((provider, stem), (cin, cout, scale)) in enumerate(STAND_INS.items()):
            _save(onnx_folder / provider / "v0-standin" / f"{stem}.onnx", cin, cout, scale, seed=i)
        yield root
    _clear_peer_caches()


@pytest.fixture(autouse=True)
def _env(jetpack_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(jetpack_cache))
    monkeypatch.setenv("VSSCALE_GLOBAL", "true")


# -- spies ----------------------------------------------------------------------------------------------------
@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Records vsinfer's Backend.inference calls and vs-jetpack's own plugin calls (Backend.inference)."""
    seen: dict[str, list[Any]] = {"vsinfer": [], "jetpack": []}

    def spy(owner: type, key: str) -> None:
        real = owner.inference  # type: ignore[attr-defined]

        def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
            seen[key].append(self)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(owner, "inference", recorded)

    spy(Backend, "vsinfer")
    spy(peer_base.Backend, "jetpack")
    return seen


# family -> (vsinfer backend, vs-jetpack's backend of that family, plugin check)
FAMILIES: dict[str, tuple[Callable[[], Backend], Callable[[], Any], Callable[[], None]]] = {
    "ORT_CPU": (Backend.ORT_CPU, Peer.ORT_CPU, lambda: need_plugin("ort")),
    "OV_CPU": (Backend.OV_CPU, Peer.OV_CPU, lambda: need_plugin("ov")),
    "NCNN": (Backend.NCNN, Peer.NCNN, lambda: need_plugin("ncnn")),  # and a Vulkan device
}


def _clip(fmt: int, seed: int = 3, w: int = W, h: int = H) -> vs.VideoNode:
    num_planes = vs.core.get_video_format(fmt).num_planes
    planes = np.random.default_rng(seed).random((num_planes, h, w), dtype=np.float32)
    clip = clip_from_planes(planes, vs.RGBS if num_planes == 3 else vs.GRAYS, length=1)
    return clip if clip.format.id == fmt else vs.core.resize.Point(clip, format=fmt, matrix_s="709")


def _yuv420() -> vs.VideoNode:
    return vs.core.resize.Bicubic(_clip(vs.RGBS), format=vs.YUV420PS, matrix_s="709")


# helper case -> f(backend) -> output clip
CASES: dict[str, Callable[[Any], vs.VideoNode]] = {
    "ArtCNN GRAY": lambda b: ArtCNN.R8F64(backend=b).supersample(_clip(vs.GRAYS), 2),
    "ArtCNN YUV420 luma": lambda b: ArtCNN.R8F64(backend=b).supersample(_yuv420(), 2),
    "ArtCNN _Chroma": lambda b: ArtCNN.R8F64_Chroma(backend=b).scale(_yuv420()),
    "Waifu2x": lambda b: Waifu2x(backend=b).supersample(_clip(vs.RGBS), 2),
    "DPIR RGB": lambda b: DPIR.DrunetDenoise(10, backend=b).scale(_clip(vs.RGBS)),
    "DPIR GRAY": lambda b: DPIR.DrunetDenoise(10, backend=b).scale(_clip(vs.GRAYS)),
    "dpir.DEBLOCK": lambda b: _deblock(_clip(vs.RGBS), b),
}


def _deblock(clip: vs.VideoNode, backend: Any) -> vs.VideoNode:
    from vsdenoise import dpir

    return dpir.DEBLOCK(clip, 20, backend=backend)


def _compare(ours: vs.VideoNode, theirs: vs.VideoNode) -> None:
    assert (ours.format.name, ours.width, ours.height) == (theirs.format.name, theirs.width, theirs.height)
    a, b = ours.get_frame(0), theirs.get_frame(0)
    for p in range(ours.format.num_planes):
        np.testing.assert_allclose(np.asarray(a[p]), np.asarray(b[p]), atol=2e-3, rtol=0, err_msg=f"plane {p}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("case", list(CASES))
def test_helper_on_vsinfer_matches_its_own_backend(case: str, family: str, calls: dict[str, list[Any]]) -> None:
    ours_cls, peer_cls, need = FAMILIES[family]
    need()
    backend = as_jetpack(ours_cls())
    assert isinstance(backend, getattr(Peer, family))
    ours = CASES[case](backend)
    assert calls["vsinfer"] and not calls["jetpack"]  # vsinfer ran, vs-jetpack's plugin call did not
    ran = calls["vsinfer"][-1]
    assert type(ran) is type(backend.vsinfer_backend)
    calls["vsinfer"].clear()
    theirs = CASES[case](peer_cls())
    assert calls["jetpack"] and not calls["vsinfer"]
    _compare(ours, theirs)


def test_the_helpers_replace_keeps_vsinfer(calls: dict[str, list[Any]]) -> None:
    """ArtCNN adds ORT's fp16 block list with dataclasses.replace; DPIR adds its own; vsinfer still runs."""
    need_plugin("ort")
    scaler = ArtCNN.R8F64(backend=as_jetpack(Backend.ORT_CPU(fp16=True)))
    assert scaler.backend.fp16_blacklist_ops == ("ConstantOfShape", "Resize")
    assert scaler.backend.vsinfer_backend == Backend.ORT_CPU(fp16=True, fp16_blacklist_ops=["Resize",
                                                                                          "ConstantOfShape"])
    deblock = DPIR.DrunetDeblock(10, backend=as_jetpack(Backend.ORT_CPU(fp16=True)))
    assert deblock.backend.vsinfer_backend.fp16_blacklist_ops == ("ConstantOfShape", "Conv_123", "Resize")
    scaler.supersample(_clip(vs.GRAYS), 2)
    deblock.scale(_clip(vs.RGBS))
    assert [type(b).__name__ for b in calls["vsinfer"]] == ["ORT_CPU", "ORT_CPU"] and not calls["jetpack"]
    assert calls["vsinfer"][1].fp16_blacklist_ops == ("ConstantOfShape", "Conv_123", "Resize")


def test_helper_kwargs_reach_vsinfer_through_replace(calls: dict[str, list[Any]]) -> None:
    """A helper's extra kwargs become dataclasses.replace(backend, **kwargs): vsinfer validates and runs them."""
    need_plugin("ort")
    scaler = ArtCNN.R8F64(backend=as_jetpack(Backend.ORT_CPU()), fp16=False, num_streams=2)
    assert scaler.backend.vsinfer_backend == Backend.ORT_CPU(fp16=False, num_streams=2)
    scaler.supersample(_clip(vs.GRAYS), 2)
    assert calls["vsinfer"][-1] == Backend.ORT_CPU(fp16=False, num_streams=2)
    with pytest.raises(ConfigError, match="num_streams=0"):
        ArtCNN.R8F64(backend=as_jetpack(Backend.ORT_CPU()), num_streams=0)


def test_block_list_without_fp16_is_ignored_like_jetpack_does() -> None:
    """DPIR adds "Conv_123" to every backend's block list, fp16 or not; vsinfer would reject that, so it is dropped."""
    backend = DPIR.DrunetDenoise(10, backend=as_jetpack(Backend.ORT_CPU(fp16=False))).backend
    assert backend.vsinfer_backend == Backend.ORT_CPU(fp16=False)
    ncnn = DPIR.DrunetDenoise(10, backend=as_jetpack(Backend.NCNN())).backend
    assert ncnn.fp16_blacklist_ops == ("Conv_123",)  # vs-jetpack's NCNN field, ignored by it and by us
    assert ncnn.vsinfer_backend == Backend.NCNN(fp16_blacklist_ops=["Conv_123"])
    assert ncnn.vsinfer_backend.get_args(_clip(vs.RGBS)) == Backend.NCNN().get_args(_clip(vs.RGBS))


def test_class_and_instance_forms() -> None:
    """The helpers accept a class (instantiated with their kwargs) as well as an instance."""
    made = as_jetpack(Backend.OV_CPU)
    assert made.vsinfer_backend == Backend.OV_CPU()
    assert as_jetpack(made) is made
    scaler = ArtCNN.R8F64(backend=type(made), num_streams=2)
    assert scaler.backend.vsinfer_backend == Backend.OV_CPU(num_streams=2)
    assert hash(made) == hash(as_jetpack(Backend.OV_CPU()))
    with pytest.raises(InvalidValueError, match="backend="):
        as_jetpack(Peer.ORT_CPU())  # type: ignore[arg-type]


def test_static_shape_is_read_from_the_vsinfer_field() -> None:
    need_plugin("ort")
    backend = as_jetpack(Backend.TRT_RTX(static_shape=False))
    assert backend.static_shape is False and isinstance(backend, Peer.TRT)
    assert as_jetpack(Backend.TRT()).static_shape is True


def test_none_is_vsinfers_autoselect(calls: dict[str, list[Any]]) -> None:
    """The helpers' own backend=None needs pyopencl (and an OpenCL driver); as_jetpack(None) does not."""
    if importlib.util.find_spec("pyopencl") is None:
        with pytest.raises(ModuleNotFoundError, match="pyopencl"):
            ArtCNN.R8F64()
    chosen = Backend.autoselect()
    need_plugin(chosen.namespace)
    backend = as_jetpack(None)
    assert backend.vsinfer_backend == chosen
    out = ArtCNN.R8F64(backend=backend).supersample(_clip(vs.GRAYS), 2)
    assert (out.width, out.height) == (2 * W, 2 * H)
    planes_of(out)
    assert calls["vsinfer"] and not calls["jetpack"]


@pytest.mark.parametrize("version", ["2.1.0", "2.2.5", "2.3.0", "3.0"])
def test_untested_jetpack_version_is_a_clear_error(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version if name == "vsjetpack" else real(name))
    with pytest.raises(InvalidValueError, match=f"vsjetpack version='{version}'.*>=2.2.6,<2.3"):
        as_jetpack(Backend.ORT_CPU())


def test_installed_version_is_in_range() -> None:
    assert check_jetpack_version().startswith("2.2.")


class StopAtPluginError(Exception):
    """Raised by the stand-in plugin: the test ends where the GPU would be needed."""


@pytest.mark.slow
def test_trt_rtx_engine_is_built_by_vsinfer(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path, jetpack_cache: Path
) -> None:
    """ArtCNN on as_jetpack(TRT_RTX) builds its engine into vsinfer's store; running it needs a GPU."""
    need_module("tensorrt_rtx")
    need_plugin("trt_rtx")
    import vsinfer.backends.trt.builder as trt_module
    from vsinfer.identity import DeviceInfo

    monkeypatch.setattr(trt_module, "plugin_device", lambda namespace, device_id: DeviceInfo("Test RTX 4090", "8.9"))
    seen: list[dict[str, Any]] = []

    class Plugin:
        def Model(self, **args: Any) -> Any:  # noqa: N802 (the plugin's name)
            seen.append(args)
            raise StopAtPluginError

    monkeypatch.setattr(call_module, "get_plugin", lambda namespace: Plugin())
    scaler = ArtCNN.R8F64(backend=as_jetpack(Backend.TRT_RTX()))
    with pytest.raises(StopAtPluginError):
        scaler.supersample(_clip(vs.GRAYS), 2)
    engine = Path(seen[0]["engine_path"])
    assert engine.is_file() and engine.is_relative_to(isolated_cache)
    assert seen[0]["tilesize"] == [W, H]
    assert not list(jetpack_cache.rglob("*.engine"))  # vs-jetpack's own builder wrote nothing


def test_dataclass_replace_on_every_family() -> None:
    """Each family's wrapper survives replace() with each of its fields (what helpers' **kwargs do)."""
    for name in ("ORT_CPU", "ORT_CUDA", "OV_CPU", "OV_GPU", "OV_NPU", "NCNN", "TRT", "TRT_RTX", "MIGX"):
        backend = as_jetpack(getattr(Backend, name)())
        assert isinstance(backend, getattr(Peer, name)) and isinstance(backend, peer_base.Backend)
        again = dataclasses.replace(backend, num_streams=2)
        assert again.vsinfer_backend == dataclasses.replace(backend.vsinfer_backend, num_streams=2)


def test_the_jetpack_extra_runs_vsscales_model_download_cli() -> None:
    """vs-jetpack's helpers tell users to run `vsscale onnx download`: [jetpack] installs what it imports."""
    import shutil
    import subprocess

    vsscale = shutil.which("vsscale")
    assert vsscale is not None, "vsjetpack's vsscale command is not on PATH (pip install 'vsinfer[jetpack]')"
    proc = subprocess.run([vsscale, "onnx", "download", "--help"], capture_output=True, text=True, timeout=120,
                          check=False)  # --help only: nothing is downloaded
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Download ONNX models" in proc.stdout + proc.stderr  # rich prints the help on stderr when not a tty
