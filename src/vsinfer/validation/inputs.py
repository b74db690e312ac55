"""Validation of what a user hands ``inference``: clips, model path, model shape and output.

Every check raises a vsinfer error before the plugin's ``Model`` is called, naming the parameter, the value
received (or a short description of it) and what was expected.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClipError, InvalidValueError, ModelError
from ..model import BFLOAT16, FLOAT, FLOAT16, KNOWN_DOMAINS, ModelInfo, TensorInfo
from .values import Shown, describe

if TYPE_CHECKING:
    import vapoursynth as vs

logger = logging.getLogger(__name__)

__all__ = ["check_output", "choose_output", "clip_list", "image_input", "is_nhwc", "model_path"]


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
                "the frame size); most 3-channel models expect RGB: clip = clip.resize.Bicubic(format=vs.RGBS, "
                "matrix_in_s='709'); a 1-channel (luma) model takes core.std.ShufflePlanes(clip, 0, vs.GRAY)",
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


def _type_name(elem_type: int) -> str:
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
    ops = model.foreign_ops
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
    if is_nhwc(tensor):
        raise ModelError(
            f"{role} {tensor.name!r} layout",
            Shown(f"NHWC {_shape_text(tensor)}"),
            f"NCHW (batch, channels, height, width), the layout every vs-mlrt plugin feeds and reads: this {role} has "
            f"its {tensor.shape[3]} channels last (a TensorFlow / Keras export). Re-export it channels-first (tf2onnx: "
            "--inputs-as-nchw and --outputs-as-nchw), or add Transpose nodes (perm 0,2,3,1 before, 0,3,1,2 after)",
            where=f"{where} {model.path}",
        )


def is_nhwc(tensor: TensorInfo) -> bool:
    """Whether a 4-D image tensor has its channels last: dim 3 is 1 .. 4 and dim 1 is dynamic or larger than 4."""
    if len(tensor.shape) != 4:
        return False
    second, last = tensor.shape[1], tensor.shape[3]
    return last is not None and 1 <= last <= 4 and (second is None or second > 4)


# -- output ----------------------------------------------------------------------------------------------------------
def check_output(model: ModelInfo, flexible: bool, where: str) -> TensorInfo:
    """The model's image output fits the call: one 4-D tensor, with 1 or 3 channels unless ``flexible``.

    Returns it, for the checks a backend family adds (``Backend.check_call``).
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
    return out


def choose_output(model: ModelInfo, output: str | int | None, where: str) -> str | None:
    """The output to run when the model has several (None: it has one and ``output`` names no other).

    ``output`` is a name or an index. Unset, a model with exactly one 4-D image output (beside smaller ones, e.g.
    FBCNN's quality factor) runs on that output, said in one INFO line; any other choice is a ModelError that lists
    the outputs and says how to pick one.
    """
    names = [t.name for t in model.outputs]
    listed = ", ".join(f"{i}: {t.name!r} {_shape_text(t)}" for i, t in enumerate(model.outputs))
    if output is not None:
        if isinstance(output, int) and not isinstance(output, bool):
            if not 0 <= output < len(names):
                raise ModelError("output", output, f"an index 0 .. {len(names) - 1} of the model's outputs ({listed})",
                                 where=where)
            chosen = names[output]
        elif isinstance(output, str) and output in names:
            chosen = output
        else:
            raise ModelError("output", describe(output), f"the name or index of one of the model's outputs ({listed})",
                             where=where)
        return None if names == [chosen] else chosen
    if len(names) <= 1:
        return None
    images = [t for t in model.outputs if len(t.shape) == 4]
    if len(images) != 1:
        raise ModelError("output", None, f"output= naming one of the model's outputs ({listed}): the plugins run one "
                         "output, and this model has several images", where=f"{where} {model.path}")
    logger.info("%s: %s has %d outputs; running its image output %r (output= picks another)", where, model.path,
                len(names), images[0].name)
    return images[0].name
