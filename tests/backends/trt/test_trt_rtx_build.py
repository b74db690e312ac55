"""Real engine builds with tensorrt_rtx on this CPU machine (it builds without a GPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import vsinfer.backends.trt.builder as builder_module
from tests.conftest import ModelFactory, need_module
from tests.gpu_standins import RTX_4090, Machine
from tests.trt_fixtures import per_device
from vsinfer import Backend
from vsinfer.backends.trt.builder import EngineBuilder
from vsinfer.errors import BuildError, ConfigError, DeviceError, ModelError, TilingError
from vsinfer.identity import DeviceInfo


@pytest.fixture(autouse=True)
def _rtx() -> None:
    need_module("tensorrt_rtx")


def test_static_build_then_cache_hit(make_model: ModelFactory, builds: list[Path], isolated_cache: Path) -> None:
    model = make_model(3, 3)
    engine = Backend.TRT_RTX().build_engine(model, 3, (64, 48))
    assert engine.parent == isolated_cache / "trt" and engine.suffix == ".engine" and engine.stat().st_size > 1000
    sidecar = json.loads(engine.with_suffix(".json").read_text())
    assert sidecar["size"] == engine.stat().st_size
    assert sidecar["identity"]["profile"] == {"min": [64, 48], "opt": [64, 48], "max": [64, 48]}
    assert sidecar["identity"]["io"] == "fp16" and sidecar["identity"]["device"]["name"] == "Test RTX 4090"
    assert len(builds) == 1
    assert Backend.TRT_RTX().build_engine(model, 3, (64, 48)) == engine
    assert len(builds) == 1  # the second call builds nothing


@pytest.mark.parametrize(
    "runtime_change",
    [{"num_streams": 4}, {"use_cuda_graph": False}, {"verbosity": 4}, {"device_id": 1}, {"max_threads": 2}],
)
def test_runtime_fields_do_not_rebuild(
    make_model: ModelFactory, builds: list[Path], runtime_change: dict[str, Any]
) -> None:
    model = make_model(3, 3)
    first = Backend.TRT_RTX().build_engine(model, 3, (32, 32))
    assert Backend.TRT_RTX(**runtime_change).build_engine(model, 3, (32, 32)) == first
    assert len(builds) == 1


@pytest.mark.parametrize(
    "build_change",
    [
        {"fp16": False},
        {"builder_optimization_level": 1},
        {"bf16": True},
        {"fp16_blacklist_ops": ["Conv"]},
        {"tf32": True},
    ],
)
def test_build_fields_make_a_new_engine(
    make_model: ModelFactory, builds: list[Path], build_change: dict[str, Any]
) -> None:
    model = make_model(3, 3)
    first = Backend.TRT_RTX().build_engine(model, 3, (32, 32))
    second = Backend.TRT_RTX(**build_change).build_engine(model, 3, (32, 32))
    assert second != first and second.exists() and first.exists()
    assert len(builds) == 2


def test_static_engine_rebuilt_per_tilesize(make_model: ModelFactory, builds: list[Path]) -> None:
    model = make_model(3, 3)
    a = Backend.TRT_RTX().build_engine(model, 3, (32, 32))
    b = Backend.TRT_RTX().build_engine(model, 3, (48, 32))
    assert a != b and len(builds) == 2


def test_dynamic_engine_covers_every_tile_up_to_max(make_model: ModelFactory, builds: list[Path]) -> None:
    model = make_model(3, 3)
    backend = Backend.TRT_RTX(fp16=False, static_shape=False, max_shapes=(128, 96))
    engines = {backend.build_engine(model, 3, tile) for tile in [(32, 32), (64, 48), (128, 96), (17, 5)]}
    assert len(engines) == 1 and len(builds) == 1
    identity = json.loads(next(iter(engines)).with_suffix(".json").read_text())["identity"]
    assert identity["profile"] == {"min": [1, 1], "opt": [128, 96], "max": [128, 96]} and identity["io"] == "fp32"
    with pytest.raises(TilingError, match=r"tilesize=\(256, 96\) is not valid; expected within the dynamic"):
        backend.build_engine(model, 3, (256, 96))


def test_dynamic_without_max_uses_the_tile(make_model: ModelFactory, builds: list[Path]) -> None:
    model = make_model(3, 3)
    engine = Backend.TRT_RTX(static_shape=False, min_shapes=(16, 16)).build_engine(model, 3, (64, 64))
    identity = json.loads(engine.with_suffix(".json").read_text())["identity"]
    assert identity["profile"] == {"min": [16, 16], "opt": [64, 64], "max": [64, 64]}


def test_block_list_with_slashes_in_node_names(
    make_model: ModelFactory, builds: list[Path], isolated_cache: Path
) -> None:
    model = make_model(3, 3)  # its Conv node is called "/body/conv0/Conv"
    engine = Backend.TRT_RTX(fp16_blacklist_ops=["/body/conv0/Conv"]).build_engine(model, 3, (32, 32))
    assert engine.exists()
    converted = list((isolated_cache / "onnx").glob("*.onnx"))
    assert len(converted) == 1 and "/" not in converted[0].name and "body" not in converted[0].name


def test_unknown_block_list_entry_is_a_warning(make_model: ModelFactory, builds: list[Path],
                                               caplog: pytest.LogCaptureFixture) -> None:
    engine = Backend.TRT_RTX(fp16_blacklist_ops=["NoSuchOp", "Softmax"]).build_engine(make_model(3, 3), 3, (32, 32))
    assert engine.exists() and len(builds) == 1
    assert "fp16_blacklist_ops: 'NoSuchOp' is neither an ONNX op type nor a node name" in caplog.text
    assert "Softmax" not in caplog.text.split("ignored")[0]  # a valid op type this model lacks is fine


def test_input_name_not_input(make_model: ModelFactory, builds: list[Path]) -> None:
    model = make_model(1, 1, input_name="lq_image")
    engine = Backend.TRT_RTX().build_engine(model, 1, (32, 32))  # default "input": the model's only input is used
    assert json.loads(engine.with_suffix(".json").read_text())["identity"]["input"] == "lq_image"
    assert Backend.TRT_RTX().build_engine(model, 1, (32, 32), input_name="lq_image") == engine


def test_channels_must_match(make_model: ModelFactory) -> None:
    with pytest.raises(ModelError, match=r"channels=1 is not valid; expected 3"):
        Backend.TRT_RTX().build_engine(make_model(3, 3), 1, (32, 32))


def test_parser_errors_are_in_the_message(tmp_path: Path) -> None:
    """A model of standard ops that TensorRT's parser still refuses (an input never defined): its words reach us.

    (A model of unknown ops is refused earlier, by vsinfer's own check, before any builder runs.)
    """
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "undefined_weight"], ["output"])],
        "bad",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    from vsinfer.errors import BuildError

    with pytest.raises(BuildError, match=r"TensorRT-RTX could not parse .*bad.onnx: .*Mul.*not registered"):
        Backend.TRT_RTX(fp16=False).build_engine(path, 3, (8, 8))


def test_builder_options_visible_on_the_real_config(make_model: ModelFactory) -> None:
    backend = Backend.TRT_RTX(
        workspace=64 << 20,
        tactic_dram=32 << 20,
        tf32=True,
        strict_nans=True,
        sparse_weights=True,
        weight_streaming=True,
        edge_mask_convolutions=False,
        jit_convolutions=True,
        builder_optimization_level=1,
        max_aux_streams=2,
        max_num_tactics=5,
        tiling_optimization_level=2,
        l2_limit_for_tiling=1 << 20,
        avg_timing_iterations=4,
        max_threads=3,
    )
    eb = EngineBuilder(backend)
    trt = eb.trt
    builder = trt.Builder(trt.Logger())
    eb.configure_builder(builder)
    network = builder.create_network(0)
    config = builder.create_builder_config()
    eb.configure_builder_config(config, network)
    assert config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE) == 64 << 20
    assert config.get_memory_pool_limit(trt.MemoryPoolType.TACTIC_DRAM) == 32 << 20
    for flag in ("TF32", "STRICT_NANS", "SPARSE_WEIGHTS", "WEIGHT_STREAMING"):
        assert config.get_flag(getattr(trt.BuilderFlag, flag)), flag
    sources = config.get_tactic_sources()
    assert not sources & (1 << int(trt.TacticSource.EDGE_MASK_CONVOLUTIONS))
    assert sources & (1 << int(trt.TacticSource.JIT_CONVOLUTIONS))
    assert config.builder_optimization_level == 1
    assert config.max_aux_streams == 2
    assert config.max_num_tactics == 5
    assert config.tiling_optimization_level == trt.TilingOptimizationLevel.MODERATE
    assert config.l2_limit_for_tiling == 1 << 20
    assert config.avg_timing_iterations == 4
    assert builder.max_threads == 3
    # and the defaults turn the flags off again
    defaults = EngineBuilder(Backend.TRT_RTX())
    config2 = builder.create_builder_config()
    defaults.configure_builder_config(config2, network)
    assert not config2.get_flag(trt.BuilderFlag.TF32)
    assert config2.get_tactic_sources() & (1 << int(trt.TacticSource.EDGE_MASK_CONVOLUTIONS))


def test_inference_is_refused_before_the_plugin_without_a_cuda_driver(
    make_model: ModelFactory, machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CUDA driver (before: core.trt_rtx.Model said "cudaGetDeviceCount failed: CUDA driver version is
    insufficient", a PluginError; now a DeviceError before Model, naming what is needed). The engine is built
    first: TensorRT-RTX builds without a GPU, and a build machine runs scripts to make engines."""
    import vapoursynth as vs

    import vsinfer.plugins
    from tests.conftest import clip_from_planes, need_plugin, pattern

    need_plugin("trt_rtx")
    monkeypatch.setattr(vsinfer.plugins, "device_names", lambda namespace: ())  # the plugin lists no device
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    with pytest.raises(DeviceError, match=r"TRT_RTX: device_id=0 is not valid; expected a CUDA device TRT_RTX can "
                                          r"run on: core.trt_rtx v\S+ needs an NVIDIA driver for CUDA 13.0 or newer "
                                          r"\(R580 or newer\), and no CUDA driver loads here"):
        Backend.TRT_RTX().inference(clip, make_model(3, 3))
    machine.cuda([RTX_4090], version=12080)
    with pytest.raises(DeviceError, match=r"uses the CUDA 13\.\d runtime, .* driver supports CUDA 12\.8: update"):
        Backend.TRT_RTX().inference(clip, make_model(3, 3))


# -- compute-capability targets (TensorRT-RTX's defaults leave Turing out) -------------------------------------------
def _configured(backend: Backend.TRT_RTX, device: DeviceInfo) -> list[str]:  # type: ignore[name-defined]
    eb = EngineBuilder(backend, device=device)
    trt = eb.trt
    builder = trt.Builder(trt.Logger())
    config = builder.create_builder_config()
    eb.configure_builder_config(config, builder.create_network(0))
    return [str(config.get_compute_capability(i)).rsplit(".", 1)[-1] for i in range(config.num_compute_capabilities)]


def test_targets_the_device_in_hand() -> None:
    """A Turing card gets an SM75 engine (before: no target set, TensorRT-RTX's defaults, without SM75)."""
    assert _configured(Backend.TRT_RTX(), DeviceInfo("NVIDIA GeForce RTX 2080 Ti", "7.5")) == ["SM75"]
    assert _configured(Backend.TRT_RTX(), DeviceInfo("NVIDIA GeForce RTX 4090", "8.9")) == ["SM89"]
    assert _configured(Backend.TRT_RTX(compute_capabilities=["8.9", "sm_75", "8.9"]),
                       DeviceInfo("NVIDIA GeForce RTX 4090", "8.9")) == ["SM75", "SM89"]


def test_targets_belong_to_the_identity(make_model: ModelFactory, builds: list[Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model(3, 3)
    per_device(monkeypatch, {0: DeviceInfo("NVIDIA GeForce RTX 2080 Ti", "7.5"), 1: DeviceInfo("RTX 4090", "8.9")})
    turing = Backend.TRT_RTX().build_engine(model, 3, (32, 32))
    assert json.loads(turing.with_suffix(".json").read_text())["identity"]["targets"] == ["7.5"]
    both = Backend.TRT_RTX(compute_capabilities=("8.9", "7.5")).build_engine(model, 3, (32, 32))
    identity = json.loads(both.with_suffix(".json").read_text())["identity"]
    assert identity["targets"] == ["7.5", "8.9"] and identity["fields"]["compute_capabilities"] == ["7.5", "8.9"]
    assert both != turing and Backend.TRT_RTX(device_id=1).build_engine(model, 3, (32, 32)) not in (turing, both)
    assert len(builds) == 3


def test_a_gpu_tensorrt_rtx_cannot_build_for(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    per_device(monkeypatch, {0: DeviceInfo("NVIDIA H100 80GB HBM3", "9.0")})
    with pytest.raises(DeviceError, match=r"a GPU TensorRT-RTX \S+ builds for \(compute capability 7.5, .*8.9.*\); "
                                          r"NVIDIA H100 80GB HBM3 is 9.0"):
        Backend.TRT_RTX().build_engine(make_model(3, 3), 3, (32, 32))
    with pytest.raises(ConfigError, match=r"compute_capabilities=\('9.0',\) is not valid; expected compute "
                                          r"capabilities TensorRT-RTX"):
        Backend.TRT_RTX(compute_capabilities=["9.0"]).build_engine(make_model(3, 3), 3, (32, 32))


@pytest.mark.parametrize("value", ["8.9", [], ["ampere"], [8.9]])
def test_compute_capabilities_values(value: object) -> None:
    with pytest.raises(ConfigError, match="compute_capabilities="):
        Backend.TRT_RTX(compute_capabilities=value)  # type: ignore[arg-type]


def test_build_errors_kept_when_the_process_logger_is_not_ours(make_model: ModelFactory,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's TensorRT logger may be core.trt's (it registered first): the build's errors still reach us."""
    import tensorrt_rtx

    class Elsewhere(tensorrt_rtx.ILogger):  # type: ignore[misc]
        def __init__(self) -> None:
            tensorrt_rtx.ILogger.__init__(self)

        def log(self, severity: object, msg: str) -> None:
            pass  # printed by the plugin, not seen by vsinfer

        def take_errors(self) -> list[str]:
            return []

    elsewhere = Elsewhere()
    monkeypatch.setattr(builder_module, "_process_logger", lambda trt: elsewhere)
    monkeypatch.setattr(EngineBuilder, "setup_optimization_profile", lambda *a: None)  # a dynamic model, no profile
    with pytest.raises(BuildError, match=r"failed to build an engine for .*: .*optimization profile"):
        Backend.TRT_RTX(static_shape=False).build_engine(make_model(3, 3), 3, (32, 32))


def test_trt_rtx_builds_on_its_device(make_model: ModelFactory, machine: Machine,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.gpu_standins import RTX_2080

    cuda = machine.cuda([RTX_4090, RTX_2080])
    per_device(monkeypatch, {0: DeviceInfo(RTX_4090.name, "8.9"), 1: DeviceInfo(RTX_2080.name, "7.5")})
    real = EngineBuilder._build

    def recorded(self: EngineBuilder, *args: object) -> None:
        cuda.builds.append(cuda.current())
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(EngineBuilder, "_build", recorded)
    engine = Backend.TRT_RTX(device_id=1).build_engine(make_model(3, 3), 3, (32, 32))
    assert cuda.builds == [1] and json.loads(engine.with_suffix(".json").read_text())["identity"]["targets"] == ["7.5"]


def test_version_mismatch_names_the_tensorrt_rtx_pip_line(make_model: ModelFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import tensorrt_rtx

    installed = re.escape(".".join(tensorrt_rtx.__version__.split(".")[:3]))
    monkeypatch.setattr(builder_module, "plugin_runtime_version", lambda namespace: "99.8.0")
    pattern = (rf"builder module tensorrt_rtx {installed} is not the TensorRT-RTX 99\.8\.0 that core\.trt_rtx links"
               r".*pip install 'tensorrt-rtx(-cu\d+)?==99\.8\.0\.\*'$")
    with pytest.raises(BuildError, match=pattern):
        Backend.TRT_RTX().build_engine(make_model(3, 3), 3, (32, 32))
