"""vsinfer.validation and the families' own checks: each check on its own.

The device queries are read from the real plugins or stand-ins.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vapoursynth as vs
from onnx import TensorProto, helper

from tests.conftest import ModelFactory, need_plugin
from vsinfer import Backend, plugins, validation
from vsinfer.backends.ncnn import backend as ncnn_backend
from vsinfer.backends.ort import checks as ort_checks
from vsinfer.backends.ov import checks as ov_checks
from vsinfer.backends.ov.checks import OV_CONFIG_RULES, check_ov_config
from vsinfer.errors import (
    ArgumentError,
    ClipError,
    ConfigError,
    DeviceError,
    ModelError,
    UnknownArgumentError,
    UnsupportedOptionError,
)
from vsinfer.model import ModelInfo, TensorInfo, foreign_ops, model_info

ROOT = Path(__file__).resolve().parent.parent


def check_output(backend: Backend, model: ModelInfo, flexible: bool, where: str,
                 kwargs: dict[str, Any] | None = None) -> None:
    """What ``inference`` checks of the output: the generic rule, then the family's own (``check_call``)."""
    output = validation.check_output(model, flexible, where)
    backend.check_call(model, output, flexible, kwargs or {}, where)


def check_kwargs(backend: Backend, kwargs: dict[str, Any], where: str) -> None:
    """What ``inference`` checks of forwarded kwargs: the generic rules, then the family's (``check_plugin_kwargs``)."""
    validation.check_kwargs(backend.namespace, backend.path_argument, kwargs, where)
    backend.check_plugin_kwargs(kwargs, where)


def blank(fmt: int = vs.RGBS, w: int = 32, h: int = 24, length: int = 2) -> vs.VideoNode:
    return vs.core.std.BlankClip(width=w, height=h, format=fmt, length=length)


# -- describe --------------------------------------------------------------------------------------------------------
def test_describe_keeps_short_values_and_shortens_the_rest() -> None:
    describe = validation.describe
    assert describe(3) == 3 and describe("a.onnx") == "a.onnx" and describe(None) is None
    assert repr(validation.describe(np.zeros((2, 3), np.uint8))) == "<numpy.ndarray shape=(2, 3) dtype=uint8>"
    assert repr(validation.describe(blank())) == "<VideoNode RGBS 32x24, 2 frames>"
    audio = vs.core.std.BlankAudio(length=100)
    assert repr(validation.describe(audio)) == "<AudioNode 44100 Hz, 2 channels, 100 samples>"
    assert repr(validation.describe([blank(vs.GRAYS)])) == "[<VideoNode GrayS 32x24, 2 frames>]"
    assert repr(validation.describe(b"x" * 100)) == "<bytes of length 100>"
    assert repr(validation.describe(list(range(100)))) == "<list of 100 items>"
    shown = validation.Shown("a")
    assert validation.describe(shown) == shown and hash(shown) == hash("a")


# -- clip_list -------------------------------------------------------------------------------------------------------
def test_clip_list_accepts_a_clip_a_list_and_a_tuple() -> None:
    a, b = blank(), blank(vs.GRAYS)
    assert validation.clip_list(a, "X") == [a]
    assert validation.clip_list([a, b], "X") == [a, b]
    assert validation.clip_list((a, b), "X") == [a, b]
    assert validation.clip_list([blank(vs.YUV444P8)], "X")[0].format.id == vs.YUV444P8  # unsubsampled YUV is fine


def test_clip_list_never_iterates_an_audio_node(monkeypatch: pytest.MonkeyPatch) -> None:
    # list(AudioNode) yields one node per sample (441,000 for BlankAudio's default length): it must not be tried
    audio = vs.core.std.BlankAudio()

    def no_iteration(*args: Any) -> Any:
        raise AssertionError("the AudioNode was iterated")

    monkeypatch.setattr(vs.AudioNode, "__getitem__", no_iteration, raising=False)
    monkeypatch.setattr(vs.AudioNode, "__len__", no_iteration, raising=False)
    with pytest.raises(ClipError, match=r"X: clips=<AudioNode 44100 Hz, 2 channels, 441000 samples> is not valid"):
        validation.clip_list(audio, "X")


@pytest.mark.parametrize(("clips", "parameter", "text"), [
    (lambda: blank(vs.YUV420P10), "clips[0]", "YUV420P10 has subsampled chroma planes"),
    (lambda: [blank(), blank(vs.YUV410P8)], "clips[1]", "YUV410P8"),
    (lambda: [blank(length=3), blank(vs.GRAYS, length=2)], "clips[1] length", "3 frames, the length of clips[0]"),
    (lambda: [blank(), blank(vs.GRAYS, w=16)], "clips[1] size", "the size of clips[0] (32, 24)"),
    (lambda: vs.core.std.Splice([blank(), blank(vs.GRAYS)], mismatch=True), "clips[0]", "one constant format"),
])
def test_clip_list_refuses(clips: Any, parameter: str, text: str) -> None:
    with pytest.raises(ClipError) as info:
        validation.clip_list(clips(), "X")
    assert info.value.parameter == parameter and text in str(info.value)


# -- model_path ------------------------------------------------------------------------------------------------------
def test_model_path(tmp_path: Path) -> None:
    file = tmp_path / "m.onnx"
    file.write_bytes(b"x")
    assert validation.model_path(str(file), "X") == file
    assert validation.model_path(file, "X") == file

    class Pathish:
        def __fspath__(self) -> bytes:
            return b"/m.onnx"

    with pytest.raises(ModelError, match=r"this os\.PathLike gives bytes"):
        validation.model_path(Pathish(), "X")
    with pytest.raises(ModelError, match=r"X: network_path=' ' is not valid; expected a path to an ONNX file"):
        validation.model_path(" ", "X")


# -- image_input -----------------------------------------------------------------------------------------------------
def info(inputs_: list[TensorInfo], outputs: list[TensorInfo] | None = None) -> ModelInfo:
    out = outputs if outputs is not None else [TensorInfo("y", 1, (1, 3, None, None))]
    return ModelInfo("/m.onnx", 1234, tuple(inputs_), tuple(out))


def test_image_input_returns_the_one_input(make_model: ModelFactory) -> None:
    model = model_info(make_model(3, 3, input_name="x.1"))
    assert validation.image_input(model, "X").name == "x.1"


def test_image_input_reads_the_op_domains_once_per_checksum(make_model: ModelFactory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    model = model_info(make_model(3, 3))
    validation.image_input(model, "X")
    monkeypatch.setattr(onnx, "load_model", lambda *a, **k: pytest.fail("the model was read again"))
    validation.image_input(model, "X")


def test_foreign_ops_sees_subgraphs_and_spares_known_and_local_domains() -> None:
    then = helper.make_graph([helper.make_node("Secret", ["x"], ["t"], domain="acme")], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
        helper.make_node("FusedConv", ["x"], ["z"], domain="com.microsoft"),
        helper.make_node("MyFn", ["x"], ["w"], domain="local.fns"),
    ]
    graph = helper.make_graph(nodes, "g", [], [])
    function = helper.make_function("local.fns", "MyFn", ["a"], ["b"], [helper.make_node("Identity", ["a"], ["b"])],
                                    [helper.make_opsetid("", 17)])
    proto = helper.make_model(graph, functions=[function])
    assert foreign_ops(proto) == ("acme.Secret",)


def test_image_input_prefers_the_ops_model_info_records() -> None:
    model = ModelInfo("/nowhere.onnx", 1, (TensorInfo("x", 1, (1, 3, None, None)),), (), ("acme.Secret",))
    with pytest.raises(ModelError, match=r"it uses acme\.Secret, which no vs-mlrt runtime implements"):
        validation.image_input(model, "X")


# -- check_output ----------------------------------------------------------------------------------------------------
def test_check_output() -> None:
    four = info([TensorInfo("x", 1, (1, 3, None, None))], [TensorInfo("y", 1, (1, 4, None, None))])
    check_output(Backend.ORT_CPU(), four, True, "X")
    check_output(Backend.NCNN(fp16=True), four, True, "X")  # fp16: no crash
    with pytest.raises(ModelError, match="pass flexible=True"):
        check_output(Backend.ORT_CPU(), four, False, "X")
    with pytest.raises(ModelError, match=r"fp16=False is not valid; expected fp16=True for a model with 4 output"):
        check_output(Backend.NCNN(fp16=False), four, True, "X")
    with pytest.raises(ModelError, match="multiple of 4"):  # fp16 switched off by a forwarded argument
        check_output(Backend.NCNN(), four, True, "X", {"fp16": 0})
    five = info([TensorInfo("x", 1, (1, 3, None, None))], [TensorInfo("y", 1, (1, 5, None, None))])
    check_output(Backend.NCNN(fp16=False), five, True, "X")  # measured: 5 channels run


def test_check_output_warns_on_dynamic_channels(caplog: pytest.LogCaptureFixture) -> None:
    dynamic = info([TensorInfo("x", 1, (1, 3, None, None))], [TensorInfo("y", 1, (1, None, None, None))])
    check_output(Backend.NCNN(fp16=False), dynamic, True, "X")
    assert "dynamic channels" in caplog.text


# -- check_kwargs ----------------------------------------------------------------------------------------------------
def test_no_kwargs_never_touch_the_plugin(forbid_plugin_call: list[str]) -> None:
    check_kwargs(Backend.ORT_CPU(), {}, "X")


def test_forbidden_kwargs_never_touch_the_plugin(forbid_plugin_call: list[str]) -> None:
    for name in ("clips", "network_path", "engine_path", "program_path", "flexible_output_prop",
                 "path_is_serialization"):
        with pytest.raises(ArgumentError) as err:
            check_kwargs(Backend.TRT_RTX(), {name: 1}, "X")
        assert err.value.parameter == name


def test_kwargs_checked_against_the_loaded_signature() -> None:
    need_plugin("ort")
    need_plugin("ov")
    check_kwargs(Backend.ORT_CPU(), {"fp16": True, "fp16_blacklist_ops": ["Conv"], "provider": "CPU"}, "X")
    check_kwargs(Backend.ORT_CPU(), {"fp16_blacklist_ops": "Conv", "num_streams": np.int64(2)}, "X")
    check_kwargs(Backend.OV_CPU(), {"config": dict, "device": "CPU"}, "X")
    with pytest.raises(UnknownArgumentError) as err:
        check_kwargs(Backend.OV_CPU(), {"provider": "CPU"}, "X")
    assert isinstance(err.value, UnsupportedOptionError) and "device, num_streams" in str(err.value)
    with pytest.raises(ArgumentError, match=r"an int or a list of them \(core\.ort\.Model takes overlap"):
        check_kwargs(Backend.ORT_CPU(), {"overlap": ["1"]}, "X")
    with pytest.raises(ArgumentError, match=r"an int \(core\.ort\.Model takes fp16 as int\)"):
        check_kwargs(Backend.ORT_CPU(), {"fp16": [1]}, "X")


# -- check_device ----------------------------------------------------------------------------------------------------
class FakePlugin:
    """Stands for a plugin's query functions."""

    def __init__(self, devices: list[str] | None = None, names: int = 0, providers: str = "") -> None:
        self.devices, self.names, self.providers = devices, names, providers

    def AvailableDevices(self) -> list[str]:  # noqa: N802
        return self.devices or []

    def DeviceProperties(self, device_id: int = 0) -> dict[str, str]:  # noqa: N802
        if device_id >= self.names:
            raise vs.Error("get_gpu_device failed")
        return {"device_name": f"gpu{device_id}"}

    def Version(self) -> dict[str, str]:  # noqa: N802
        return {"version": "v17.1", "providers": self.providers, "path": "/nowhere/libvsov.so"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(plugin: FakePlugin) -> None:
        monkeypatch.setattr(plugins, "get_plugin", lambda namespace: plugin)

    plugins.clear_device_cache()
    yield install
    plugins.clear_device_cache()


def test_ncnn_device_ids(fake: Any) -> None:
    fake(FakePlugin(names=2))
    Backend.NCNN(device_id=1).check_device("NCNN")
    with pytest.raises(DeviceError, match=r"NCNN: device_id=2 is not valid; expected 0 \.\. 1: this machine has 2 "
                                          r"Vulkan device\(s\) \(0: gpu0, 1: gpu1\)"):
        Backend.NCNN(device_id=2).check_device("NCNN")


def test_ncnn_without_a_vulkan_loader(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(FakePlugin(names=0))
    monkeypatch.setattr(ncnn_backend, "vulkan_loader_error", lambda: "libvulkan.so.1: cannot open shared object file")
    with pytest.raises(DeviceError) as err:
        Backend.NCNN().check_device("NCNN")
    assert str(err.value) == (
        "NCNN: device_id=0 is not valid; expected a Vulkan device, but no Vulkan device was found (the Vulkan loader "
        "does not load: libvulkan.so.1: cannot open shared object file); install a Vulkan driver (Debian: apt "
        "install libvulkan1 mesa-vulkan-drivers)"
    )


def test_ncnn_without_a_vulkan_device_in_a_real_process() -> None:
    """The real ncnn plugin with a Vulkan loader that finds no driver: a DeviceError, no crash, Model not called."""
    need_plugin("ncnn")
    code = (
        "from vsinfer import Backend\n"
        "try:\n    Backend.NCNN().check_device('NCNN')\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    env = os.environ | {"VK_ICD_FILENAMES": "/nonexistent/none.json", "VK_DRIVER_FILES": "/nonexistent/none.json"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DeviceError NCNN: device_id=0 is not valid; expected a Vulkan device, but no "
                                  "Vulkan device was found"), proc.stdout


def test_ncnn_devices_of_this_machine() -> None:
    need_plugin("ncnn")
    plugins.clear_device_cache()
    names = plugins.device_names("ncnn")
    assert names, "need_plugin('ncnn') found a Vulkan device, device_names none"
    Backend.NCNN(device_id=len(names) - 1).check_device("NCNN")
    with pytest.raises(DeviceError, match=rf"device_id={len(names)} is not valid; expected 0 \.\. {len(names) - 1}"):
        Backend.NCNN(device_id=len(names)).check_device("NCNN")


def test_ov_devices(fake: Any, tmp_path: Path) -> None:
    fake(FakePlugin(devices=["CPU", "GPU.0", "GPU.1"]))
    Backend.OV_GPU(device_id=1).check_device("OV_GPU")
    Backend.OV(device="GPU").check_device("OV")
    with pytest.raises(DeviceError, match=r"OV_GPU: device_id=2 is not valid; expected the index of an OpenVINO GPU "
                                          r"of this machine; core.ov.AvailableDevices\(\) lists CPU, GPU.0, GPU.1$"):
        Backend.OV_GPU(device_id=2).check_device("OV_GPU")
    fake(FakePlugin(devices=["CPU", "GPU"]))  # a single GPU is listed without its index
    plugins.clear_device_cache()
    Backend.OV_GPU().check_device("OV_GPU")
    with pytest.raises(DeviceError, match="NPU"):
        Backend.OV_NPU().check_device("OV_NPU")
    assert ov_checks.ov_virtual_devices() is None  # the fake's folder does not exist: nothing can be said
    Backend.OV(device="AUTO").check_device("OV")
    (tmp_path / "libvsov.so").write_bytes(b"")
    (tmp_path / "libopenvino_hetero_plugin.so").write_bytes(b"")
    plugin = FakePlugin(devices=["CPU", "GPU"])
    plugin.Version = lambda: {"version": "v17.1", "path": str(tmp_path / "libvsov.so")}  # type: ignore[method-assign]
    fake(plugin)
    assert ov_checks.ov_virtual_devices() == ("HETERO",)
    Backend.OV(device="HETERO:GPU,CPU").check_device("OV")
    with pytest.raises(DeviceError, match=r"OV: device='AUTO' is not valid; expected a device this OpenVINO can run "
                                          r"\(CPU, GPU\): the AUTO plugin does not ship with core\.ov v17\.1"):
        Backend.OV(device="AUTO").check_device("OV")
    Backend.OV().check_device("OV")  # the default device, CPU, runs without the AUTO plugin
    with pytest.raises(DeviceError, match=r"not GPU\.3"):
        Backend.OV(device="HETERO:GPU.3,CPU").check_device("OV")


def test_ov_gpu_missing_says_how_to_install(fake: Any) -> None:
    fake(FakePlugin(devices=["CPU"]))
    with pytest.raises(DeviceError, match=r"lists CPU \(no GPU: install Intel's GPU runtime"):
        Backend.OV_GPU().check_device("OV_GPU")


def test_ov_cpu_needs_no_device_query(forbid_plugin_call: list[str]) -> None:
    Backend.OV_CPU(custom_config={"NUM_STREAMS": "AUTO"}).check_device("OV_CPU")


def test_ort_providers(fake: Any) -> None:
    fake(FakePlugin(providers="CUDA,DML"))
    assert ort_checks.providers() == ("CPU", "CUDA", "DML")
    Backend.ORT_DML().check_device("ORT_DML")
    with pytest.raises(DeviceError, match=r"provider='COREML' is not valid; expected a provider compiled into this "
                                          r"core.ort build \(CPU, CUDA, DML\)"):
        Backend.ORT_COREML().check_device("ORT_COREML")


def test_gpu_ids_only_checked_when_a_device_is_listed(fake: Any) -> None:
    fake(FakePlugin(names=0))  # no CUDA: the engine may still be built; the plugin's own error is wrapped later
    Backend.TRT_RTX(device_id=3).check_device("TRT_RTX")
    plugins.clear_device_cache()
    fake(FakePlugin(names=1))
    with pytest.raises(DeviceError, match=r"device_id=3 is not valid; expected 0 \.\. 0: this machine has 1 GPU"):
        Backend.TRT_RTX(device_id=3).check_device("TRT_RTX")


def test_real_plugins_device_queries_never_call_model() -> None:
    for namespace in ("ov", "ort"):
        need_plugin(namespace)
    plugins.clear_device_cache()
    assert "CPU" in plugins.available_devices("ov")
    assert ort_checks.providers()[0] == "CPU"
    assert ov_checks.ov_virtual_devices() is not None


# -- OpenVINO properties ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value"), [
    ("NUM_STREAMS", 2), ("NUM_STREAMS", "2"), ("NUM_STREAMS", "AUTO"), ("NUM_STREAMS", -1), ("NUM_STREAMS", 2.0),
    ("INFERENCE_PRECISION_HINT", "f16"), ("PERFORMANCE_HINT", "THROUGHPUT"), ("ENABLE_CPU_PINNING", "yes"),
    ("ENABLE_CPU_PINNING", 1), ("INFERENCE_NUM_THREADS", "4"), ("CACHE_DIR", "/tmp"), ("SOME_NEW_KEY", "x"),
])
def test_ov_config_accepted(key: str, value: Any) -> None:
    check_ov_config({key: value}, "OV_CPU")


@pytest.mark.parametrize(("key", "value"), [
    ("NUM_STREAMS", "lots"), ("NUM_STREAMS", -3), ("INFERENCE_PRECISION_HINT", "f8"),
    ("INFERENCE_PRECISION_HINT", "fp16"), ("INFERENCE_PRECISION_HINT", 1), ("PERFORMANCE_HINT", "latency"),
    ("ENABLE_CPU_PINNING", 2), ("ENABLE_CPU_PINNING", "maybe"), ("INFERENCE_NUM_THREADS", -1),
    ("PERFORMANCE_HINT_NUM_REQUESTS", "x"), ("LOG_LEVEL", 0), ("SCHEDULING_CORE_TYPE", "x"), ("CACHE_DIR", 1),
])
def test_ov_config_refused(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        check_ov_config({key: value}, "OV_CPU")
    assert err.value.parameter == f"custom_config[{key!r}]" and f"{value!r}" in str(err.value)


@pytest.mark.parametrize(("key", "value", "accepted"), [
    ("NUM_STREAMS", "lots", False), ("NUM_STREAMS", "AUTO", True), ("INFERENCE_PRECISION_HINT", "f8", False),
    ("INFERENCE_PRECISION_HINT", "f32", True), ("ENABLE_CPU_PINNING", "maybe", False),
    ("ENABLE_CPU_PINNING", "NO", True), ("PERFORMANCE_HINT", "fast", False), ("PERFORMANCE_HINT", "LATENCY", True),
])
def test_ov_config_rules_agree_with_openvino(key: str, value: Any, accepted: bool, make_model: ModelFactory) -> None:
    """The rules say what OpenVINO itself says, on the real plugin."""
    need_plugin("ov")
    assert OV_CONFIG_RULES[key][0](value) is accepted
    clip = blank(length=1)
    try:
        vs.core.ov.Model(clips=[clip], network_path=str(make_model(3, 3)), device="CPU",
                         config=lambda: {key: value}).get_frame(0)
        openvino_accepted = True
    except vs.Error:
        openvino_accepted = False
    assert openvino_accepted is accepted


# -- fp16 block list -------------------------------------------------------------------------------------------------
def test_block_list_entries_warn_only_when_they_mean_nothing(make_model: ModelFactory,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    import logging

    model = model_info(make_model(3, 3))  # one Conv node named "/body/conv0/Conv"
    with caplog.at_level(logging.WARNING):
        # an op type absent from this model (the backend serves other models too) and a node name: no warning
        ort = Backend.ORT_CPU(fp16=True, fp16_blacklist_ops=["Resize", "/body/conv0/Conv"])
        ort.check_call(model, model.outputs[0], False, {}, "ORT_CPU")
        assert caplog.text == ""
        Backend.OV_CPU(fp16=True, fp16_blacklist_ops=["Resise", "Conv"]).check_call(model, model.outputs[0], False, {},
                                                                                    "OV_CPU")
        assert "'Resise' is neither an ONNX op type nor a node name of OV_CPU" in caplog.text
        caplog.clear()
        Backend.OV_CPU(fp16=True, fp16_blacklist_ops=["Resise", "Conv"]).check_call(model, model.outputs[0], False, {},
                                                                                    "OV_CPU")
        assert caplog.text == ""  # once per model and list


# -- issue 29: numpy numbers, graph limits -------------------------------------------------------------------------
def test_numpy_integers_are_taken_wherever_ints_are(make_model: ModelFactory) -> None:
    """Scripts compute sizes with numpy: the same call with numpy integers gives the same arguments and picture."""
    from tests.conftest import clip_from_planes, pattern, planes_of

    need_plugin("ort")
    model = make_model(3, 3)
    clip = clip_from_planes(pattern(3, 24, 32), vs.RGBS)
    plain = Backend.ORT_CPU().inference(clip, model, 2, (16, 12), output=0)
    numbers = Backend.ORT_CPU().inference(clip, model, np.int64(2), np.array([16, 12]), output=np.int64(0))
    np.testing.assert_array_equal(planes_of(numbers), planes_of(plain))
    tiled = Backend.ORT_CPU().inference(clip, model, np.int32(2), tiles=np.array([2, 2], np.uint8),
                                        multiple=np.int64(4))
    assert (tiled.width, tiled.height) == (32, 24)
    ncnn = Backend.NCNN(device_id=np.uint8(0), num_streams=np.int64(2))
    assert ncnn == Backend.NCNN(device_id=0, num_streams=2) and type(ncnn.device_id) is int
    assert hash(ncnn) == hash(Backend.NCNN(device_id=0, num_streams=2))
    cuda = Backend.ORT_CUDA(device_id=np.array([0, 1]), device_weights=np.array([2, 1]))
    assert (cuda.device_id, cuda.device_weights) == ((0, 1), (2, 1))
    assert Backend.TRT(static_shape=False, opt_shapes=np.array([64, 48])).opt_shapes == (64, 48)
    assert Backend.NCNN(device_id=(np.int64(0),)).device_id == 0
    assert validation.channel_count(np.int64(3), 64, "x") == 3


@pytest.mark.parametrize("value", [np.bool_(True), np.float64(1.0), np.array([1.0]), True])
def test_numpy_values_that_are_not_ints_stay_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="device_id"):
        Backend.NCNN(device_id=value)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="channels"):
        validation.channel_count(value, 64, "x")


def _scatter_of_empty(path: Path) -> Path:
    """The ScatterND torch.onnx.export(dynamo=True) writes for a mask's slice assignment: it scatters nothing."""
    import onnx
    from onnx import numpy_helper

    inits = [numpy_helper.from_array(np.zeros((0, 3, 16, 16), np.float32), "empty")] + [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in (("three", 3), ("zero", 0), ("one", 1), ("ax", [1]))]
    nodes = [helper.make_node("Shape", ["x"], ["dims"]), helper.make_node("Gather", ["dims", "one"], ["c"], axis=0),
             helper.make_node("Sub", ["c", "three"], ["n"]), helper.make_node("Range", ["zero", "n", "one"], ["r"]),
             helper.make_node("Unsqueeze", ["r", "ax"], ["where"]),  # no rows: indices [0, 1], computed
             helper.make_node("ScatterND", ["x", "where", "empty"], ["y"], name="scatter")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 16, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_empty_scatter_limit_is_what_openvino_refuses_and_onnxruntime_runs(tmp_path: Path) -> None:
    """The small graph reproduces the dynamo SwinIR's failure: raw core.ov refuses it, raw core.ort runs it (and it
    changes nothing); OV_CPU refuses it in our words, before the plugin."""
    need_plugin("ov")
    need_plugin("ort")
    path = _scatter_of_empty(tmp_path / "scatter.onnx")
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=1, color=[0.25, 0.5, 0.75])
    with pytest.raises(vs.Error, match="Rank of updates must be rank of inputs"):
        vs.core.ov.Model(clip, str(path)).get_frame(0)
    out = vs.core.ort.Model(clip, str(path)).get_frame(0)
    assert float(np.asarray(out[2])[0, 0]) == pytest.approx(0.75)
    with pytest.raises(ModelError, match="scatter an empty constant") as info:
        Backend.OV_CPU().inference(clip, path)
    assert "ORT_CPU" in str(info.value) and "dynamo=False" in str(info.value)
    Backend.ORT_CPU().inference(clip, path).get_frame(0)  # other families declare no such limit


def test_a_scatter_of_real_updates_is_not_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    need_plugin("ov")
    inits = [numpy_helper.from_array(np.zeros((1, 3, 16, 16), np.float32), "updates"),
             numpy_helper.from_array(np.zeros((1, 1), np.int64), "where")]
    graph = helper.make_graph([helper.make_node("ScatterND", ["x", "where", "updates"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 16, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "real.onnx")
    clip = vs.core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=1)
    Backend.OV_CPU().inference(clip, tmp_path / "real.onnx").get_frame(0)


def _topk_of_all(path: Path) -> Path:
    import onnx
    from onnx import numpy_helper

    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("flat_shape", [1, 3, -1]), ("two", [2]), ("three", [3]))]
    nodes = [helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
             helper.make_node("Shape", ["flat"], ["dims"]), helper.make_node("Slice", ["dims", "two", "three"], ["k"]),
             helper.make_node("TopK", ["flat", "k"], ["top", "at"], axis=-1, name="topk_all"),
             helper.make_node("ReduceMax", ["top"], ["most"], axes=[-1], keepdims=1),
             helper.make_node("Unsqueeze", ["most", "three"], ["most4"]),
             helper.make_node("Add", ["x", "most4"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_the_topk_limit_is_what_tensorrt_rtx_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """K is the tile's area here: TensorRT-RTX builds it at 32x32 (K 1024) and refuses 64x64 (K 4096 > 3840) in its
    own words when the limit is not declared; declared, the build is refused first, naming a tile that builds."""
    from tests.conftest import need_module
    from vsinfer.backends.trt import TRT_RTX
    from vsinfer.errors import BuildError, TilingError

    need_module("tensorrt_rtx")
    path = _topk_of_all(tmp_path / "topk.onnx")
    with pytest.raises(TilingError, match=r"takes K=4096 at 64x64; use a smaller tile, e.g. tilesize=\(56, 56\)"):
        TRT_RTX(fp16=False).build_engine(path, 3, (64, 64))
    assert TRT_RTX(fp16=False).build_engine(path, 3, (56, 56)).is_file()  # the tile named: K 3136
    monkeypatch.setattr(TRT_RTX, "graph_limits", ())
    with pytest.raises(BuildError, match=r"K exceeds the maximum value allowed \(3840\)"):
        TRT_RTX(fp16=False).build_engine(path, 3, (64, 64))
