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

from ..errors import ClipError, ConfigError, InvalidValueError, ModelError
from ..model import FLOAT, FLOAT16, ModelInfo, TensorInfo, image_input, is_nhwc, require_nchw, shape_text, type_name
from ..tiling import plain_int
from .values import describe

if TYPE_CHECKING:
    import vapoursynth as vs

logger = logging.getLogger(__name__)

__all__ = ["channel_count", "check_output", "choose_output", "clip_list", "image_input", "is_nhwc", "model_path"]


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


def channel_count(channels: object, most: int, where: str) -> int:
    """``channels`` (the planes a build is for) as a plain int 1 .. ``most``; a numpy integer counts, a bool not."""
    count = plain_int(channels)
    if count is None or not 1 <= count <= most:
        raise ConfigError("channels", describe(channels), f"an int 1 .. {most} (the planes the model takes)",
                          where=where)
    return count


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


# -- output ----------------------------------------------------------------------------------------------------------
def check_output(model: ModelInfo, flexible: bool, where: str, *, half: bool = True) -> TensorInfo:
    """The model's image output fits the call: one 4-D float tensor, with 1 or 3 channels unless ``flexible``.

    ``half``: the backend's plugin reads float16 outputs (``Backend.takes_fp16_io``; OpenVINO and NCNN do not).
    Returns it, for the checks a backend family adds (``Backend.check_call``).
    """
    if not isinstance(flexible, bool):
        raise InvalidValueError("flexible", describe(flexible), "True or False", where=where)
    if not model.outputs:
        raise ModelError("network_path", model.path, "a model with an output", where=where)
    out = model.outputs[0]
    require_nchw(out, "output", model, where)
    floats = (FLOAT, FLOAT16) if half else (FLOAT,)
    if out.elem_type not in floats:
        taken = "float32 or float16" if half else f"float32 ({where} reads no other output type; ORT_* and TRT read "\
            "float16 too)"
        raise ModelError(
            f"output {out.name!r} type",
            type_name(out.elem_type),
            f"{taken}: the output becomes a float clip. Cast it in the model (a Cast node to float at the end), or "
            "run the output that is the picture (output=)",
            where=f"{where} {model.path}",
        )
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
    listed = ", ".join(f"{i}: {t.name!r} {shape_text(t)}" for i, t in enumerate(model.outputs))
    if output is not None:
        index = plain_int(output)  # an int, or a numpy integer
        if index is not None:
            if not 0 <= index < len(names):
                raise ModelError("output", output, f"an index 0 .. {len(names) - 1} of the model's outputs ({listed})",
                                 where=where)
            chosen = names[index]
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
