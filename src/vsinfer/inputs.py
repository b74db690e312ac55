"""Validation of what a user hands ``inference``: clips, model path, model shape, forwarded kwargs, devices.

Every check raises a vsinfer error before the plugin's ``Model`` is called, naming the parameter, the value
received (or a short description of it: never a numpy array's or a node's full repr) and what was expected.
Device checks read the plugins' own query functions (``AvailableDevices``, ``DeviceProperties``, ``Version``),
once per process; none of them calls ``Model``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import plugins
from .errors import (
    ArgumentError,
    ClipError,
    ConfigError,
    DeviceError,
    InvalidValueError,
    ModelError,
    UnknownArgumentError,
)

if TYPE_CHECKING:
    import vapoursynth as vs

    from .backends.base import Backend
    from .model import ModelInfo, TensorInfo

__all__ = [
    "KNOWN_DOMAINS",
    "OV_CONFIG_RULES",
    "STANDARD_DOMAINS",
    "VULKAN_HINT",
    "Shown",
    "check_block_list",
    "check_device",
    "check_kwargs",
    "check_output",
    "check_ov_config",
    "clip_list",
    "describe",
    "foreign_ops",
    "image_input",
    "model_path",
]

logger = logging.getLogger(__name__)

VULKAN_HINT = "install a Vulkan driver (Debian: apt install libvulkan1 mesa-vulkan-drivers)"
"""What to do when ncnn finds no Vulkan device."""


# -- short descriptions of values ------------------------------------------------------------------------------------
class Shown:
    """A value shown by a short description in an error message (its ``repr`` is the description)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        """Keep ``text``, shown as is."""
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shown) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _node_text(node: Any) -> str:
    import vapoursynth as vs

    if isinstance(node, vs.AudioNode):
        return f"<AudioNode {node.sample_rate} Hz, {node.num_channels} channels, {node.num_samples} samples>"
    fmt = node.format
    name = "variable format" if fmt is None or fmt.color_family == vs.UNDEFINED else fmt.name
    size = "variable size" if node.width == 0 or node.height == 0 else f"{node.width}x{node.height}"
    return f"<VideoNode {name} {size}, {node.num_frames} frames>"


def describe(value: Any) -> Any:
    """``value`` itself when its repr is short, else a ``Shown`` description (nodes, arrays, long bytes / text)."""
    import vapoursynth as vs

    if isinstance(value, vs.VideoNode | vs.AudioNode):
        return Shown(_node_text(value))
    cls = type(value)
    if cls.__module__ == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        return Shown(f"<numpy.{cls.__name__} shape={tuple(value.shape)} dtype={value.dtype}>")
    if isinstance(value, bytes | bytearray) and len(value) > 64:
        return Shown(f"<{cls.__name__} of length {len(value)}>")
    if isinstance(value, str) and len(value) > 200:
        return Shown(repr(value[:80]) + f"... ({len(value)} characters)")
    if isinstance(value, list | tuple) and any(describe(v) is not v for v in value[:8]):
        if len(value) > 8:
            return Shown(f"<{cls.__name__} of {len(value)} items>")
        items = ", ".join(repr(describe(v)) for v in value)
        return Shown(f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})")
    if isinstance(value, Mapping) and any(describe(v) is not v for v in list(value.values())[:8]):
        return Shown(f"<{cls.__name__} with keys {list(value)[:8]!r}>")
    try:
        text = repr(value)
    except Exception:  # a repr that fails is still a value to name
        text = ""
    if not text or len(text) > 120 or "\n" in text:
        if isinstance(value, list | tuple | set | frozenset | Mapping):
            return Shown(f"<{cls.__name__} of {len(value)} items>")
        return Shown(f"<{cls.__module__}.{cls.__qualname__} object>")
    return value


# -- clips -----------------------------------------------------------------------------------------------------------
def _not_clips_hint(value: Any) -> str:
    import vapoursynth as vs

    if value is None:
        return ""
    if isinstance(value, str | bytes | os.PathLike):
        return "; a file name is not a clip: load it first, e.g. core.bs.VideoSource(path)"
    if isinstance(value, vs.AudioNode):
        return "; this is an AudioNode: the models take video"
    if type(value).__module__ == "numpy":
        return "; a numpy array is not a clip: make one, e.g. with core.std.BlankClip and ModifyFrame"
    if isinstance(value, Mapping):
        return "; a dict is not a clip list"
    return f"; got a {type(value).__name__}"


def clip_list(clips: object, where: str) -> list[vs.VideoNode]:
    """The input clips as a list of constant-format, unsubsampled video nodes of one size and length.

    Only a ``vs.VideoNode`` or a list / tuple of them is accepted: anything else (an AudioNode in particular, whose
    iteration would yield every sample as a node) is refused without being iterated.
    """
    import vapoursynth as vs

    if isinstance(clips, vs.VideoNode):
        nodes: list[Any] = [clips]
    elif isinstance(clips, list | tuple):
        nodes = list(clips)
    else:
        expected = "a vs.VideoNode or a list of vs.VideoNode" + _not_clips_hint(clips)
        raise ClipError("clips", describe(clips), expected, where=where)
    if not nodes:
        raise ClipError("clips", clips, "one or more vs.VideoNode (the list is empty)", where=where)
    for i, node in enumerate(nodes):
        if not isinstance(node, vs.VideoNode):
            raise ClipError(f"clips[{i}]", describe(node), "a vs.VideoNode" + _not_clips_hint(node), where=where)
        fmt = node.format
        if fmt is None or fmt.color_family == vs.UNDEFINED or fmt.num_planes == 0:
            raise ClipError(
                f"clips[{i}]",
                describe(node),
                "a clip with one constant format (this one's format changes from frame to frame); convert it "
                "first, e.g. core.resize.Bicubic(clip, format=vs.RGBS)",
                where=where,
            )
        if node.width == 0 or node.height == 0:
            raise ClipError(
                f"clips[{i}]",
                describe(node),
                "a clip with one constant frame size (this one's size changes from frame to frame); resize it "
                "first, e.g. core.resize.Bicubic(clip, width, height)",
                where=where,
            )
        if fmt.subsampling_w or fmt.subsampling_h:
            raise ClipError(
                f"clips[{i}]",
                describe(node),
                f"a clip without chroma subsampling ({fmt.name} has subsampled chroma planes, each plane must be "
                "the frame size); convert it first, e.g. core.resize.Bicubic(clip, format=vs.YUV444PS) or to RGB",
                where=where,
            )
        first = nodes[0]
        if (node.width, node.height) != (first.width, first.height):
            raise ClipError(
                f"clips[{i}] size",
                (node.width, node.height),
                f"the size of clips[0] {(first.width, first.height)}",
                where=where,
            )
        if node.num_frames != first.num_frames:
            raise ClipError(
                f"clips[{i}] length",
                node.num_frames,
                f"{first.num_frames} frames, the length of clips[0] (trim or extend the clips to one length)",
                where=where,
            )
    return nodes


# -- model -----------------------------------------------------------------------------------------------------------
def model_path(network_path: object, where: str) -> Path:
    """``network_path`` as a Path to an existing file (a str or an ``os.PathLike`` of str)."""
    if isinstance(network_path, bytes | bytearray):
        raise ModelError("network_path", describe(network_path),
                         "a str or pathlib.Path to an ONNX file; bytes are not a path (decode them: path.decode())",
                         where=where)
    if not isinstance(network_path, str | os.PathLike):
        raise ModelError("network_path", describe(network_path), "a str or pathlib.Path to an ONNX file",
                         where=where)
    text = os.fspath(network_path)
    if not isinstance(text, str):
        raise ModelError("network_path", describe(network_path), "a path of str (this os.PathLike gives bytes)",
                         where=where)
    if not text.strip():
        raise ModelError("network_path", text, "a path to an ONNX file, not an empty string", where=where)
    path = Path(text)
    if path.is_dir():
        raise ModelError("network_path", text, "an ONNX file, not a directory", where=where)
    if not path.is_file():
        raise ModelError("network_path", text, "an existing ONNX file", where=where)
    return path


STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training"})
"""The ONNX standard operator domains."""

KNOWN_DOMAINS = frozenset({
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",  # onnxruntime
    "org.openvinotoolkit",  # OpenVINO
    "trt.plugins",  # TensorRT plugins
})
"""Domains outside the standard that one of the runtimes implements: left to that runtime to judge."""


def _graph_ops(graph: Any, local: frozenset[str]) -> set[str]:
    from onnx import AttributeProto

    found: set[str] = set()
    for node in graph.node:
        if node.domain not in STANDARD_DOMAINS | KNOWN_DOMAINS | local:
            found.add(f"{node.domain}.{node.op_type}")
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                found |= _graph_ops(attr.g, local)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    found |= _graph_ops(sub, local)
    return found


def foreign_ops(proto: Any) -> tuple[str, ...]:
    """The ops of an ONNX ``ModelProto`` (subgraphs included) that no vs-mlrt runtime implements, as "domain.op".

    An op is foreign when its domain is neither an ONNX standard domain, nor a runtime's own (``KNOWN_DOMAINS``),
    nor the domain of one of the model's local functions.
    """
    local = frozenset(f.domain for f in proto.functions)
    found = _graph_ops(proto.graph, local)
    for function in proto.functions:
        for node in function.node:
            if node.domain not in STANDARD_DOMAINS | KNOWN_DOMAINS | local:
                found.add(f"{node.domain}.{node.op_type}")
    return tuple(sorted(found))


_foreign_memo: dict[int, tuple[str, ...]] = {}
_foreign_lock = threading.Lock()


def _model_foreign_ops(model: ModelInfo) -> tuple[str, ...]:
    """``foreign_ops`` of the model: from ModelInfo when it records them, else read once per process and checksum."""
    recorded = model.foreign_ops
    if recorded is not None:
        return tuple(recorded)
    with _foreign_lock:
        if model.checksum in _foreign_memo:
            return _foreign_memo[model.checksum]
    import onnx

    try:
        proto = onnx.load_model(model.path, load_external_data=False)
    except Exception as exc:  # read_model parsed it already; a file changed since is caught there next time
        logger.debug("could not re-read %s for its op domains: %s", model.path, exc)
        return ()
    ops = foreign_ops(proto)
    with _foreign_lock:
        _foreign_memo[model.checksum] = ops
    return ops


def _type_name(elem_type: int) -> str:
    from .model import BFLOAT16, FLOAT, FLOAT16

    names = {FLOAT: "float32", FLOAT16: "float16", BFLOAT16: "bfloat16"}
    if elem_type in names:
        return names[elem_type]
    try:
        import onnx

        return str(onnx.TensorProto.DataType.Name(elem_type)).lower()
    except Exception:  # an element type onnx does not know
        return f"onnx type {elem_type}"


def _shape_text(tensor: TensorInfo) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in tensor.shape) + "]"


def image_input(model: ModelInfo, where: str) -> TensorInfo:
    """The model's one image input: 4-D NCHW, float32 or float16, batch 1; the model uses only runnable ops."""
    from .model import FLOAT, FLOAT16

    if len(model.inputs) != 1:
        listed = ", ".join(f"{t.name!r} {_shape_text(t)}" for t in model.inputs) or "none"
        raise ModelError(
            "network_path",
            model.path,
            f"a model with one image input: inference() feeds all clips, plane by plane, into a single NCHW input, "
            f"but this model has {len(model.inputs)} inputs ({listed})",
            where=where,
        )
    tensor = model.inputs[0]
    _require_nchw(tensor, "input", model, where)
    if tensor.elem_type not in (FLOAT, FLOAT16):
        raise ModelError(
            f"input {tensor.name!r} type",
            _type_name(tensor.elem_type),
            "float32 or float16: the clips are fed as floats",
            where=f"{where} {model.path}",
        )
    if tensor.shape[0] not in (None, 1):
        raise ModelError(
            f"input {tensor.name!r} batch",
            tensor.shape[0],
            "1 or dynamic: each tile is one picture",
            where=f"{where} {model.path}",
        )
    ops = _model_foreign_ops(model)
    if ops:
        raise ModelError(
            "network_path",
            model.path,
            f"a model of ONNX standard ops (domains ai.onnx, ai.onnx.ml) or of a runtime's own domains "
            f"({', '.join(sorted(KNOWN_DOMAINS))}); it uses {', '.join(ops)}, which no vs-mlrt runtime implements",
            where=where,
        )
    return tensor


def _require_nchw(tensor: TensorInfo, role: str, model: ModelInfo, where: str) -> None:
    """``tensor`` (the model's image ``role``: "input" or "output") has the 4 dims of an NCHW image."""
    if len(tensor.shape) != 4:
        raise ModelError(
            f"{role} {tensor.name!r} shape",
            Shown(_shape_text(tensor)),
            f"4 dims (batch, channels, height, width): an image {role}; this one has {len(tensor.shape)}",
            where=f"{where} {model.path}",
        )


# -- output ----------------------------------------------------------------------------------------------------------
def check_output(
    backend: Backend, model: ModelInfo, flexible: bool, where: str, kwargs: Mapping[str, Any] | None = None
) -> None:
    """The model's output fits the call, and the backend's plugin is not known to crash on it.

    One 4-D output tensor, with 1 or 3 channels unless ``flexible``; ``kwargs`` (the forwarded plugin arguments)
    are read for the options they override (ncnn ``fp16``).
    """
    if not isinstance(flexible, bool):
        raise InvalidValueError("flexible", describe(flexible), "True or False", where=where)
    if not model.outputs:
        raise ModelError("network_path", model.path, "a model with an output", where=where)
    out = model.outputs[0]
    _require_nchw(out, "output", model, where)
    channels = out.channels
    if not flexible and channels is not None and channels not in (1, 3):
        raise ModelError(
            f"output {out.name!r} channels",
            channels,
            "1 (GRAY) or 3 (RGB) for one output clip; pass flexible=True to get one GRAY clip per output channel",
            where=f"{where} {model.path}",
        )
    if flexible and backend.namespace == "ncnn":
        fp16 = (kwargs or {}).get("fp16", getattr(backend, "fp16", True))
        if fp16:
            return
        if channels is None:
            logger.warning("%s: output %r of %s has dynamic channels; core.ncnn 17.1 crashes the process on float32 "
                           "flexible output whose channel count is a multiple of 4", where, out.name, model.path)
        elif channels % 4 == 0:
            raise ModelError(
                "fp16",
                False,
                f"fp16=True for a model with {channels} output channels and flexible=True: core.ncnn 17.1 crashes "
                "the process (segfault) on float32 flexible output whose channel count is a multiple of 4; use "
                "NCNN(fp16=True) or another backend (ORT_CPU, OV_CPU)",
                where=f"{where} {model.path}",
            )


# -- fp16 block list -------------------------------------------------------------------------------------------------
_block_lists_seen: set[tuple[int, tuple[str, ...]]] = set()


def check_block_list(backend: Backend, model: ModelInfo, where: str) -> None:
    """Warn (once per model and list) about ``fp16_blacklist_ops`` entries that mean nothing for this model.

    For the backends whose plugin converts the model itself (ort, ov), which ignore such entries silently. One
    backend description serves several models, so an ONNX op type this model lacks is fine; an entry that is
    neither an ONNX op type nor a node name of the model is logged as a warning naming it (the same rule and
    words as the converter vsinfer runs for TRT, ``engine.convert.split_block_list``). Never an error.
    """
    names = tuple(getattr(backend, "fp16_blacklist_ops", None) or ())
    if not names or backend.namespace not in ("ort", "ov"):
        return
    key = (model.checksum, names)
    if key in _block_lists_seen:
        return
    _block_lists_seen.add(key)
    import onnx

    from .engine.convert import split_block_list

    try:
        proto = onnx.load_model(model.path, load_external_data=False)
    except Exception as exc:  # the warning is a courtesy: never stop a run for it
        logger.debug("could not read %s for its block list: %s", model.path, exc)
        return
    split_block_list(proto, list(names), f"{where} {model.path}")


# -- forwarded keyword arguments -------------------------------------------------------------------------------------
_FORBIDDEN = {
    "clips": "pass the clips as the first argument of inference(); they cannot be forwarded",
    "network_path": "pass the model as the second argument of inference(); it cannot be forwarded",
    "engine_path": "inference() builds the engine and passes its path; it cannot be forwarded",
    "program_path": "inference() compiles the program and passes its path; it cannot be forwarded",
    "flexible_output_prop": "pass flexible=True to inference() instead",
    "path_is_serialization": "inference() passes a file path; it cannot be forwarded",
}


def _is_int(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Integral)  # a bool is accepted for the plugins' int flags


def _is_float(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _type_rule(vs_type: str) -> tuple[Callable[[Any], bool], str] | None:
    import vapoursynth as vs

    rules: dict[str, tuple[Callable[[Any], bool], str]] = {
        "int": (_is_int, "an int"),
        "float": (_is_float, "a number"),
        "data": (lambda v: isinstance(v, str | bytes | bytearray), "a str"),
        "func": (callable, "a function"),
        "vnode": (lambda v: isinstance(v, vs.VideoNode), "a vs.VideoNode"),
        "anode": (lambda v: isinstance(v, vs.AudioNode), "a vs.AudioNode"),
        "vframe": (lambda v: isinstance(v, vs.VideoFrame), "a vs.VideoFrame"),
        "aframe": (lambda v: isinstance(v, vs.AudioFrame), "a vs.AudioFrame"),
    }
    return rules.get(vs_type)


def _check_type(name: str, value: Any, param: plugins.Param, namespace: str, where: str) -> None:
    rule = _type_rule(param.type)
    if rule is None:
        return
    test, words = rule
    spelled = f"core.{namespace}.Model takes {name} as {param.type}{'[]' if param.array else ''}"
    if param.array:
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not all(test(v) for v in items):
            raise ArgumentError(name, describe(value), f"{words} or a list of them ({spelled})", where=where)
    elif isinstance(value, list | tuple) or not test(value):
        hint = f", not a string (write {value.strip()} without quotes)" if (
            isinstance(value, str) and param.type == "int" and value.strip().lstrip("-").isdigit()) else ""
        raise ArgumentError(name, describe(value), f"{words}{hint} ({spelled})", where=where)


def check_kwargs(backend: Backend, kwargs: Mapping[str, Any], where: str) -> None:
    """Forwarded plugin kwargs: known names of the loaded plugin, right types, not clips / the model path.

    Values whose range is known are checked too: ``num_streams``, ``device_id`` (ncnn), ``provider`` (ort) and
    ``device`` (ov).
    """
    if not kwargs:
        return
    from .backends.fields import MAX_NUM_STREAMS

    namespace = backend.namespace
    for name, value in kwargs.items():
        reason = _FORBIDDEN.get(name)
        if reason is None and name == backend.path_argument:
            reason = _FORBIDDEN["network_path"]
        if reason is not None:
            raise ArgumentError(name, describe(value), f"no such keyword: {reason}", where=where)
    accepted = plugins.accepted_args(namespace)
    for name, value in kwargs.items():
        param = accepted.get(name)
        if param is None:
            usable = [n for n in accepted if n not in _FORBIDDEN and n != backend.path_argument
                      and n not in ("overlap", "tilesize")]
            raise UnknownArgumentError(name, describe(value), f"core.{namespace}.Model",
                                       plugins.plugin_version(namespace), usable, where=where)
        _check_type(name, value, param, namespace, where)
    streams = kwargs.get("num_streams")
    if streams is not None and not 1 <= int(streams) <= MAX_NUM_STREAMS:
        raise ArgumentError("num_streams", streams, f"an int 1 .. {MAX_NUM_STREAMS}", where=where)
    if "device_id" in kwargs and int(kwargs["device_id"]) < 0:
        raise ArgumentError("device_id", kwargs["device_id"], "an int >= 0", where=where)
    if namespace == "ort" and "provider" in kwargs:
        provider = plugins.as_text(kwargs["provider"])
        providers = plugins.ort_providers()
        if provider not in ("", *providers):
            raise ArgumentError("provider", kwargs["provider"],
                                f"a provider of this core.ort build: {', '.join(repr(p) for p in providers)} "
                                "(names are case-sensitive)", where=where)
    if namespace == "ov" and "device" in kwargs:
        _check_ov_device(plugins.as_text(kwargs["device"]), "device", where)
    if namespace == "ncnn" and "device_id" in kwargs:
        _check_vulkan_device(int(kwargs["device_id"]), where)


# -- devices ---------------------------------------------------------------------------------------------------------
def check_device(backend: Backend, where: str) -> None:
    """The backend's device exists on this machine, and OV ``custom_config`` values are ones OpenVINO takes.

    ov devices, ort providers, ncnn Vulkan devices, and the device id of trt / trt_rtx / migx when the plugin lists
    at least one device. Uses the plugins' query functions only (read once per process), never ``Model``.
    """
    namespace = backend.namespace
    if namespace == "ov":
        device_name = getattr(backend, "device_name", None)
        if callable(device_name):
            device_id = getattr(backend, "device_id", None) if getattr(backend, "fixed_device", None) else None
            _check_ov_device(str(device_name()), "device", where, device_id)
        check_ov_config(getattr(backend, "custom_config", None) or {}, where)
    elif namespace == "ort":
        provider = str(getattr(type(backend), "provider", "") or "")
        if provider not in ("", "CPU"):
            providers = plugins.ort_providers()
            if provider not in providers:
                raise DeviceError(
                    "provider",
                    provider,
                    f"a provider compiled into this core.ort build ({', '.join(providers)}); {where} needs one "
                    f"with {provider} (pip install 'vsinfer[ort-cuda]' for CUDA; DML on Windows, COREML on macOS)",
                    where=where,
                )
    elif namespace == "ncnn":
        _check_vulkan_device(int(getattr(backend, "device_id", 0)), where)
    elif namespace in ("trt", "trt_rtx", "migx"):
        device_id = int(getattr(backend, "device_id", 0))
        names = plugins.device_names(namespace)
        if names and device_id >= len(names):  # no device at all: the plugin says why (no driver), wrapped
            raise DeviceError("device_id", device_id, _id_range(names, "GPU"), where=where)


def _id_range(names: tuple[str, ...], kind: str) -> str:
    listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    return f"0 .. {len(names) - 1}: this machine has {len(names)} {kind} device(s) ({listed})"


def _check_vulkan_device(device_id: int, where: str) -> None:
    names = plugins.device_names("ncnn")
    if not names:
        loader = plugins.vulkan_loader_error()
        detail = f" (the Vulkan loader does not load: {loader})" if loader else ""
        raise DeviceError("device_id", device_id, f"a Vulkan device, but no Vulkan device was found{detail}; "
                          f"{VULKAN_HINT}", where=where)
    if device_id >= len(names):
        raise DeviceError("device_id", device_id, _id_range(names, "Vulkan"), where=where)


def _device_known(name: str, devices: tuple[str, ...]) -> bool:
    """``name`` ("GPU", "GPU.1") is one of OpenVINO's ``devices`` ("GPU" alone when there is one GPU)."""
    base, _, index = name.partition(".")
    if name in devices:
        return True
    if not index:  # "GPU" names the first of "GPU.0", "GPU.1"
        return any(d.partition(".")[0] == base for d in devices)
    return index == "0" and base in devices  # one GPU is listed as "GPU", and answers to "GPU.0"


def _check_ov_device(device: str, parameter: str, where: str, device_id: int | None = None) -> None:
    """Every device an OpenVINO device string names is available, and a virtual device's plugin ships here.

    ``device_id`` is given for OV_GPU, whose device string is made of it: the error then names ``device_id``.
    """
    prefix, _, listed = device.rpartition(":")
    names = [d.strip() for d in listed.split(",") if d.strip()]
    if not prefix and len(names) == 1 and names[0] in plugins.OV_VIRTUAL:
        prefix, names = names[0], []
    devices = ("CPU",) if not prefix and names == ["CPU"] else plugins.available_devices("ov")
    listed_text = ", ".join(devices) or "none"
    if prefix:
        shipped = plugins.ov_virtual_devices()
        if shipped is not None and prefix not in shipped:
            example = f"e.g. Backend.OV(device={devices[0]!r})" if devices else "e.g. Backend.OV_CPU()"
            raise DeviceError(
                parameter,
                device,
                f"a device this OpenVINO can run ({listed_text}): the {prefix} plugin does not ship with core.ov "
                f"{plugins.plugin_version('ov')}; name a device, {example}",
                where=where,
            )
    for name in names:
        if _device_known(name, devices):
            continue
        if device_id is not None:
            gpu = any(d.startswith("GPU") for d in devices)
            raise DeviceError(
                "device_id",
                device_id,
                f"the index of an OpenVINO GPU of this machine; core.ov.AvailableDevices() lists {listed_text}"
                + ("" if gpu else " (no GPU: install Intel's GPU runtime, Debian: apt install intel-opencl-icd)"),
                where=where,
            )
        raise DeviceError(
            parameter,
            device,
            f"devices of this machine: core.ov.AvailableDevices() lists {listed_text}, not {name} "
            "(names are case-sensitive)",
            where=where,
        )


# -- OpenVINO properties ---------------------------------------------------------------------------------------------
def _int_text(value: Any, minimum: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= minimum
    if isinstance(value, float):
        return value.is_integer() and value >= minimum
    if isinstance(value, str):
        text = value.strip()
        return text.lstrip("-").isdigit() and int(text) >= minimum
    return False


def _one_of(*allowed: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str) and v in allowed), " / ".join(repr(a) for a in allowed)


_YES_NO = (
    lambda v: (isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)))
    or (isinstance(v, str) and v.upper() in ("YES", "NO", "TRUE", "FALSE")),
    "'YES' / 'NO' (or True / False)",
)

OV_CONFIG_RULES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "NUM_STREAMS": (lambda v: _int_text(v, -2) or v in ("AUTO", "NUMA"), "an int >= 0, or 'AUTO' / 'NUMA'"),
    "INFERENCE_NUM_THREADS": (lambda v: _int_text(v, 0), "an int >= 0 (0: automatic)"),
    "PERFORMANCE_HINT_NUM_REQUESTS": (lambda v: _int_text(v, 0), "an int >= 0"),
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": (lambda v: _int_text(v, 0), "an int >= 0"),
    "INFERENCE_PRECISION_HINT": _one_of("f32", "f16", "bf16", "undefined", "dynamic"),
    "PERFORMANCE_HINT": _one_of("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    "EXECUTION_MODE_HINT": _one_of("PERFORMANCE", "ACCURACY"),
    "SCHEDULING_CORE_TYPE": _one_of("ANY_CORE", "PCORE_ONLY", "ECORE_ONLY"),
    "LOG_LEVEL": _one_of("LOG_NONE", "LOG_ERROR", "LOG_WARNING", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE"),
    "KV_CACHE_PRECISION": _one_of("f32", "f16", "bf16", "u8", "u4", "i8"),
    "CACHE_DIR": ((lambda v: isinstance(v, str)), "a folder path (str)"),
    "ENABLE_CPU_PINNING": _YES_NO,
    "ENABLE_HYPER_THREADING": _YES_NO,
    "CPU_DENORMALS_OPTIMIZATION": _YES_NO,
    "EXCLUSIVE_ASYNC_REQUESTS": _YES_NO,
    "ENABLE_MMAP": _YES_NO,
}
"""The OpenVINO properties whose values are known (read off OpenVINO 2026.4's CPU plugin): a rule and its words.

Values are case-sensitive where OpenVINO's are. Keys not listed are left to OpenVINO (whose refusal is wrapped as a
PluginError naming the backend).
"""


def check_ov_config(config: Mapping[str, Any], where: str) -> None:
    """OpenVINO ``custom_config`` values of known keys have a type and a value OpenVINO takes."""
    for key, value in config.items():
        rule = OV_CONFIG_RULES.get(key)
        if rule is not None and not rule[0](value):
            raise ConfigError(f"custom_config[{key!r}]", describe(value), f"{rule[1]} (OpenVINO's {key})", where=where)
