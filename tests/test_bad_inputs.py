"""Every wrong input gets a clear vsinfer error before the plugin; nothing crashes, hangs or is left in the cache.

One table, ``CASES``: each row is a kind of wrong input a VapourSynth user could pass (to ``inference``, to a
backend's fields, or forwarded to the plugin), with the error type and three pieces of text its message must hold:
the parameter, the value received (or a short description of it) and what was expected. For every row:

- the error is raised and has that type (a ``vsinfer.errors`` class);
- the message names the parameter, the value and the expectation;
- the plugin's ``Model`` is never called (a spy on ``core.<ns>``: the device queries the checks use pass through);
- the cache folder holds nothing afterwards but records of facts (``FACTS``: no engine, no converted model, no
  lock file).

Rows that could crash or hang the process (an AudioNode, inputs the ncnn plugin segfaults on, no Vulkan device)
run in a subprocess with a timeout. ``python -m tests.test_bad_inputs`` runs every row in its own process and prints
the count: clear / unclear / leaked / crash / silent (see ``classify``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import conv_model

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
"""Seconds a subprocess row may take before it counts as a hang."""

NO_VULKAN = {"VK_ICD_FILENAMES": "/nonexistent/vsinfer-no-icd.json", "VK_DRIVER_FILES": "/nonexistent/none.json"}
"""Environment under which the Vulkan loader finds no driver: ncnn then has no device (as without libvulkan1)."""


# -- what a row builds ----------------------------------------------------------------------------------------------
class Ctx:
    """Clips and small ONNX models for one row, written into its own folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._count = 0

    def _path(self, stem: str) -> Path:
        self._count += 1
        return self.tmp / f"{stem}{self._count}.onnx"

    # clips (BlankClip: the values never matter, the errors come first)
    @staticmethod
    def clip(fmt: Any = None, w: int = 32, h: int = 24, length: int = 2) -> Any:
        import vapoursynth as vs

        return vs.core.std.BlankClip(width=w, height=h, format=fmt or vs.RGBS, length=length)

    def rgb(self, **kw: Any) -> Any:
        return self.clip(None, **kw)

    def gray(self, **kw: Any) -> Any:
        import vapoursynth as vs

        return self.clip(vs.GRAYS, **kw)

    def variable_format(self) -> Any:
        import vapoursynth as vs

        return vs.core.std.Splice([self.rgb(), self.clip(vs.YUV444PS)], mismatch=True)

    def variable_size(self) -> Any:
        import vapoursynth as vs

        return vs.core.std.Splice([self.rgb(), self.rgb(w=64, h=48)], mismatch=True)

    # models
    def model(self, cin: int = 3, cout: int = 3, **kw: Any) -> Path:
        return conv_model(self._path("conv"), cin, cout, **kw)

    def graph(self, nodes: list[Any], inputs: list[Any], outputs: list[Any], initializers: list[Any] | None = None,
              domains: dict[str, int] | None = None, check: bool = True) -> Path:
        import onnx
        from onnx import helper

        graph = helper.make_graph(nodes, "g", inputs, outputs, initializers or [])
        opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = 8
        if check:
            onnx.checker.check_model(model)
        path = self._path("graph")
        onnx.save(model, path)
        return path

    def identity(self, elem_in: int, shape_in: list[Any], elem_out: int | None = None,
                 shape_out: list[Any] | None = None) -> Path:
        from onnx import helper

        elem_out = elem_in if elem_out is None else elem_out
        op = helper.make_node("Identity", ["x"], ["y"]) if elem_out == elem_in else helper.make_node(
            "Cast", ["x"], ["y"], to=elem_out)
        return self.graph([op], [helper.make_tensor_value_info("x", elem_in, shape_in)],
                          [helper.make_tensor_value_info("y", elem_out, shape_out or shape_in)])

    def two_inputs(self) -> Path:
        from onnx import TensorProto, helper

        info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, "h", "w"]) for n in ("a", "b")]
        return self.graph([helper.make_node("Add", ["a", "b"], ["out"])], info,
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])])

    def no_inputs(self) -> Path:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        value = numpy_helper.from_array(np.zeros((1, 3, 4, 4), np.float32), "v")
        return self.graph([helper.make_node("Constant", [], ["out"], value=value)], [],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 4, 4])])

    def custom_op(self) -> Path:
        from onnx import TensorProto, helper

        shape = [1, 3, "h", "w"]
        return self.graph([helper.make_node("MagicUpscale", ["x"], ["y"], domain="com.example.vision")],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
                          domains={"com.example.vision": 1}, check=False)

    def output_3d(self) -> Path:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
        return self.graph([helper.make_node("Squeeze", ["x", "axes"], ["y"])],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, "h", "w"])], [axes])

    def overflowing(self, cout: int) -> Path:
        """3 -> ``cout`` channels whose intermediate values overflow float16 (the fp16 guard then wants float32)."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        weight = numpy_helper.from_array(np.full((cout, 3, 1, 1), 0.3, np.float32), "W")
        big, small = (numpy_helper.from_array(np.array(v, np.float32), n) for v, n in ((1e6, "big"), (1e-6, "small")))
        nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
                 helper.make_node("Mul", ["c", "big"], ["m"], name="up"),
                 helper.make_node("Mul", ["m", "small"], ["y"], name="down")]
        return self.graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, "h", "w"])],
                          [weight, big, small])

    def garbage(self) -> Path:
        path = self.tmp / "garbage.onnx"
        path.write_bytes(b"\x00\xff not a protobuf \xff" * 10)
        return path

    def empty_file(self) -> Path:
        path = self.tmp / "empty.onnx"
        path.write_bytes(b"")
        return path

    # round 4 (issue 29)
    def resize(self, factor: float) -> Path:
        """A model whose output is ``factor`` x its input (a Resize by scales)."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        scales = numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), "scales")
        return self.graph([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "H", "W"])], [scales])

    def tf_nhwc(self) -> Path:
        """A TensorFlow-style export: NHWC input and output with every dim dynamic, Transposes around an NCHW body."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        weight = numpy_helper.from_array(np.full((3, 3, 1, 1), 0.1, np.float32), "W")
        nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
                 helper.make_node("Conv", ["t", "W"], ["c"]),
                 helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])]
        return self.graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "h", "w", "c"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "h2", "w2", "c2"])], [weight])

    def initializers_as_inputs(self) -> Path:
        """An IR 3 / opset 7 export: the Conv weight is an initializer and also a graph input."""
        import numpy as np
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        weight = numpy_helper.from_array(np.full((3, 3, 1, 1), 0.1, np.float32), "W")
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "W"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"]),
             helper.make_tensor_value_info("W", TensorProto.FLOAT, [3, 3, 1, 1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], [weight])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
        model.ir_version = 3
        onnx.checker.check_model(model)
        path = self._path("ir3")
        onnx.save(model, path)
        return path

    def without_its_data(self, keep: int = 0) -> Path:
        """A model saved with external data whose data file is gone (copied without it), or cut to ``keep`` bytes."""
        import onnx

        folder = self.tmp / f"ext{self._count}"
        folder.mkdir()
        onnx.save_model(onnx.load(self.model()), folder / "m.onnx", save_as_external_data=True,
                        all_tensors_to_one_file=True, location="m.data", size_threshold=0)
        data = folder / "m.data"
        if keep:
            data.write_bytes(data.read_bytes()[:keep])
        else:
            data.unlink()
        return folder / "m.onnx"

    def empty_scatter(self) -> Path:
        """What torch.onnx.export(dynamo=True) writes for a slice assignment of a mask: a ScatterND of an empty
        constant at computed indices (OpenVINO's reader takes the constant for a scalar and refuses the node;
        onnxruntime runs it). A 16x16 input, as the mask's shapes are static in such exports."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        inits = [numpy_helper.from_array(np.zeros((0, 3, 16, 16), np.float32), "empty")] + [
            numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("three", 3), ("zero", 0), ("one", 1),
                                                                           ("ax", [1]))]
        nodes = [helper.make_node("Shape", ["x"], ["dims"]), helper.make_node("Gather", ["dims", "one"], ["c"], axis=0),
                 helper.make_node("Sub", ["c", "three"], ["n"]), helper.make_node("Range", ["zero", "n", "one"], ["r"]),
                 helper.make_node("Unsqueeze", ["r", "ax"], ["where"]),
                 helper.make_node("ScatterND", ["x", "where", "empty"], ["y"], name="mask_scatter")]
        return self.graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 16, 16])], inits)

    def topk_of_all(self) -> Path:
        """A model with a TopK over every pixel of a plane: K is the tile's area (4096 at 64x64; TensorRT: <= 3840)."""
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        inits = [numpy_helper.from_array(np.array([1, 3, -1], np.int64), "flat_shape"),
                 numpy_helper.from_array(np.array([2], np.int64), "two"),
                 numpy_helper.from_array(np.array([3], np.int64), "three")]
        nodes = [helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
                 helper.make_node("Shape", ["flat"], ["flat_dims"]),
                 helper.make_node("Slice", ["flat_dims", "two", "three"], ["k"]),
                 helper.make_node("TopK", ["flat", "k"], ["top", "at"], axis=-1, name="topk_all"),
                 helper.make_node("ReduceMax", ["top"], ["most"], axes=[-1], keepdims=1),
                 helper.make_node("Unsqueeze", ["most", "three"], ["most4"]),
                 helper.make_node("Add", ["x", "most4"], ["y"])]
        return self.graph(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], inits)

    def script(self, text: str) -> Path:
        """A .vpy script with ``text``."""
        path = self.tmp / f"script{self._count}.vpy"
        self._count += 1
        path.write_text(text)
        return path


def backend(name: str, **fields: Any) -> Any:
    from vsinfer import Backend

    return getattr(Backend, name)(**fields)


def run(name: str, clips: Callable[[Ctx], Any], model: Callable[[Ctx], Any], /, *args: Any,
        fields: dict[str, Any] | None = None, **kw: Any) -> Callable[[Ctx], Any]:
    """A row's action: ``Backend.<name>(**fields).inference(clips(ctx), model(ctx), *args, **kw)``."""

    def call(ctx: Ctx) -> Any:
        return backend(name, **(fields or {})).inference(clips(ctx), model(ctx), *args, **kw)

    return call


def make(name: str, **fields: Any) -> Callable[[Ctx], Any]:
    """A row's action: only construct ``Backend.<name>(**fields)``."""
    return lambda ctx: backend(name, **fields)


def build(name: str, model: Callable[[Ctx], Any], channels: Any, tilesize: Any, /,
          fields: dict[str, Any] | None = None, **kw: Any) -> Callable[[Ctx], Any]:
    """A row's action: ``Backend.<name>(**fields).build_engine(model(ctx), channels, tilesize, **kw)``."""
    return lambda ctx: backend(name, **(fields or {})).build_engine(model(ctx), channels, tilesize, **kw)



def fp16_report(model: Callable[[Ctx], Any], clip: Callable[[Ctx], Any] | None = None) -> Callable[[Ctx], Any]:
    """A row's action: ``vsinfer.fp16.report(model(ctx), clip=clip(ctx))``."""
    from vsinfer.fp16 import report

    return lambda ctx: report(model(ctx), clip=None if clip is None else clip(ctx))


def vpy_clip(text: str) -> Callable[[Ctx], Any]:
    """A row's action: what ``vsinfer fp16-check --clip`` does with a script holding ``text``."""
    from vsinfer.cli.measure import load_vpy_output

    return lambda ctx: load_vpy_output(ctx.script(text))

def fmt(name: str) -> Callable[[Ctx], Any]:
    """A BlankClip of format ``vs.<name>``."""
    return lambda ctx: ctx.clip(getattr(__import__("vapoursynth"), name))


def nhwc(shape_in: list[Any], shape_out: list[Any] | None = None) -> Callable[[Ctx], Any]:
    """A model whose input (or, with ``shape_out``, output) has its channels last."""
    def make_model(ctx: Ctx) -> Any:
        from onnx import TensorProto, helper

        if shape_out is None:
            return ctx.identity(TensorProto.FLOAT, shape_in)
        node = helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])
        return ctx.graph([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_out)])

    return make_model


def rgb(ctx: Ctx) -> Any:
    return ctx.rgb()


def conv33(ctx: Ctx) -> Any:
    return ctx.model(3, 3)


@dataclass(frozen=True)
class Case:
    """One kind of wrong input."""

    id: str
    call: Callable[[Ctx], Any]
    error: str
    """Name of the vsinfer.errors class expected."""
    parameter: str
    value: str
    expected: str
    isolate: bool = False
    """Run in a subprocess with a timeout: the input could crash or hang the process."""
    plugins: tuple[str, ...] = ()
    """Plugins the row needs loaded (its check reads their devices, or the input reaches them if unchecked)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment of the subprocess."""
    absent: tuple[str, ...] = ()
    """Text the message must not hold (an array's repr...)."""



CASES: list[Case] = [
    # -- clips ------------------------------------------------------------------------------------------------------
    Case("clips-none", run("ORT_CPU", lambda c: None, conv33), "ClipError", "clips", "clips=None",
         "a vs.VideoNode or a list of vs.VideoNode"),
    Case("clips-str", run("ORT_CPU", lambda c: "clip.mkv", conv33), "ClipError", "clips", "'clip.mkv'",
         "a file name is not a clip"),
    Case("clips-path", run("ORT_CPU", lambda c: Path("clip.mkv"), conv33), "ClipError", "clips", "clip.mkv",
         "a file name is not a clip"),
    Case("clips-int", run("ORT_CPU", lambda c: 3, conv33), "ClipError", "clips", "clips=3", "got a int"),
    Case("clips-numpy", run("ORT_CPU", lambda c: __import__("numpy").zeros((24, 32, 3), "float32"), conv33),
         "ClipError", "clips", "<numpy.ndarray shape=(24, 32, 3) dtype=float32>", "a numpy array is not a clip",
         absent=("array(",)),
    Case("clips-audio", run("ORT_CPU", lambda c: __import__("vapoursynth").core.std.BlankAudio(), conv33),
         "ClipError", "clips", "<AudioNode 44100 Hz", "this is an AudioNode", isolate=True),
    Case("clips-audio-in-list", run("ORT_CPU", lambda c: [__import__("vapoursynth").core.std.BlankAudio()], conv33),
         "ClipError", "clips[0]", "<AudioNode", "this is an AudioNode", isolate=True),
    Case("clips-empty-list", run("ORT_CPU", lambda c: [], conv33), "ClipError", "clips", "clips=[]",
         "one or more vs.VideoNode"),
    Case("clips-empty-tuple", run("ORT_CPU", lambda c: (), conv33), "ClipError", "clips", "clips=()",
         "one or more vs.VideoNode"),
    Case("clips-dict", run("ORT_CPU", lambda c: {"a": c.rgb()}, conv33), "ClipError", "clips", "clips=",
         "a dict is not a clip list", absent=("\n",)),
    Case("clips-generator", run("ORT_CPU", lambda c: (x for x in [c.rgb()]), conv33), "ClipError", "clips",
         "generator", "a vs.VideoNode or a list"),
    Case("clips-item-str", run("ORT_CPU", lambda c: [c.rgb(), "x.mkv"], conv33), "ClipError", "clips[1]", "'x.mkv'",
         "a vs.VideoNode"),
    Case("clips-item-none", run("ORT_CPU", lambda c: [None], conv33), "ClipError", "clips[0]", "None",
         "a vs.VideoNode"),
    Case("clips-variable-format", run("ORT_CPU", lambda c: c.variable_format(), conv33), "ClipError", "clips[0]",
         "<VideoNode variable format 32x24", "one constant format", absent=("0 planes",)),
    Case("clips-variable-size", run("ORT_CPU", lambda c: c.variable_size(), conv33), "ClipError", "clips[0]",
         "variable size", "one constant frame size"),
    Case("clips-yuv420", run("ORT_CPU", lambda c: c.clip(__import__("vapoursynth").YUV420P8), conv33),
         "ClipError", "clips[0]", "YUV420P8", "without chroma subsampling"),
    Case("clips-yuv422-ov", run("OV_CPU", lambda c: c.clip(__import__("vapoursynth").YUV422P10), conv33),
         "ClipError", "clips[0]", "YUV422P10", "without chroma subsampling"),
    Case("clips-yuv420-second", run("NCNN", lambda c: [c.gray(), c.clip(__import__("vapoursynth").YUV420PS)],
                                    lambda c: c.model(4, 3)),
         "ClipError", "clips[1]", "YUV420PS", "without chroma subsampling"),
    Case("clips-sizes-differ", run("ORT_CPU", lambda c: [c.rgb(), c.gray(h=20)], lambda c: c.model(4, 3)),
         "ClipError", "clips[1] size", "(32, 20)", "the size of clips[0] (32, 24)"),
    Case("clips-lengths-differ", run("ORT_CPU", lambda c: [c.rgb(length=5), c.gray(length=7)],
                                     lambda c: c.model(4, 3)),
         "ClipError", "clips[1] length", "=7", "5 frames, the length of clips[0]"),
    Case("clips-lengths-differ-ov", run("OV_CPU", lambda c: [c.rgb(length=5), c.gray(length=4)],
                                        lambda c: c.model(4, 3)),
         "ClipError", "clips[1] length", "=4", "5 frames"),
    Case("clips-too-few-planes", run("ORT_CPU", rgb, lambda c: c.model(4, 3)), "ClipError", "clips",
         "3 planes in total", "4 planes, the channels of input 'input'"),
    Case("clips-too-many-planes", run("OV_CPU", lambda c: [c.rgb(), c.gray()], conv33), "ClipError", "clips",
         "4 planes in total", "3 planes"),
    Case("clips-gray-for-rgb", run("NCNN", lambda c: c.gray(), conv33), "ClipError", "clips", "1 planes in total",
         "3 planes"),
    Case("clips-trt-variable-format", run("TRT_RTX", lambda c: c.variable_format(), conv33), "ClipError",
         "clips[0]", "variable format", "one constant format"),
    # -- network_path -----------------------------------------------------------------------------------------------
    Case("path-int", run("ORT_CPU", rgb, lambda c: 123), "ModelError", "network_path", "network_path=123",
         "a str or pathlib.Path to an ONNX file"),
    Case("path-none", run("ORT_CPU", rgb, lambda c: None), "ModelError", "network_path", "network_path=None",
         "a str or pathlib.Path"),
    Case("path-bytes", run("OV_CPU", rgb, lambda c: b"model.onnx"), "ModelError", "network_path", "b'model.onnx'",
         "bytes are not a path"),
    Case("path-list", run("ORT_CPU", rgb, lambda c: ["m.onnx"]), "ModelError", "network_path", "['m.onnx']",
         "a str or pathlib.Path"),
    Case("path-missing", run("ORT_CPU", rgb, lambda c: c.tmp / "nope.onnx"), "ModelError", "network_path",
         "nope.onnx", "an existing ONNX file"),
    Case("path-missing-trt", run("TRT_RTX", rgb, lambda c: str(c.tmp / "nope.onnx")), "ModelError", "network_path",
         "nope.onnx", "an existing ONNX file"),
    Case("path-directory", run("ORT_CPU", rgb, lambda c: c.tmp), "ModelError", "network_path", "network_path='/",
         "an ONNX file, not a directory"),
    Case("path-empty-string", run("NCNN", rgb, lambda c: ""), "ModelError", "network_path", "network_path=''",
         "not an empty string"),
    Case("path-garbage", run("NCNN", rgb, lambda c: c.garbage()), "ModelError", "network_path", "garbage.onnx",
         "an ONNX model file (it could not be parsed)"),
    Case("path-empty-file", run("ORT_CPU", rgb, lambda c: c.empty_file()), "ModelError", "network_path",
         "empty.onnx", "ONNX model file"),
    # -- the model --------------------------------------------------------------------------------------------------
    Case("model-two-inputs", run("ORT_CPU", rgb, lambda c: c.two_inputs()), "ModelError", "network_path", "graph",
         "one image input: inference() feeds all clips"),
    Case("model-two-inputs-lists-them", run("OV_CPU", rgb, lambda c: c.two_inputs()), "ModelError", "network_path",
         "graph", "this model has 2 inputs ('a' [1, 3, ?, ?], 'b' [1, 3, ?, ?])"),
    Case("model-no-inputs", run("ORT_CPU", rgb, lambda c: c.no_inputs()), "ModelError", "network_path", "graph",
         "this model has 0 inputs"),
    Case("model-3d-input", run("ORT_CPU", rgb, lambda c: c.identity(1, [1, 3, "w"])), "ModelError",
         "input 'x' shape", "[1, 3, ?]", "4 dims (batch, channels, height, width)"),
    Case("model-2d-input-ncnn", run("NCNN", rgb, lambda c: c.identity(1, [3, "w"])), "ModelError",
         "input 'x' shape", "[3, ?]", "4 dims", isolate=True),
    Case("model-int64-input", run("ORT_CPU", rgb, lambda c: c.identity(7, [1, 3, "h", "w"], 1)), "ModelError",
         "input 'x' type", "int64", "float32 or float16"),
    Case("model-uint8-input-ov", run("OV_CPU", rgb, lambda c: c.identity(2, [1, 3, "h", "w"], 1)), "ModelError",
         "input 'x' type", "uint8", "float32 or float16"),
    Case("model-bf16-input", run("ORT_CPU", rgb, lambda c: c.identity(16, [1, 3, "h", "w"])), "ModelError",
         "input 'x' type", "bfloat16", "float32 or float16"),
    Case("model-batch-2", run("ORT_CPU", rgb, lambda c: c.identity(1, [2, 3, "h", "w"])), "ModelError",
         "input 'x' batch", "=2", "1 or dynamic"),
    Case("model-custom-op", run("ORT_CPU", rgb, lambda c: c.custom_op()), "ModelError", "network_path", "graph",
         "com.example.vision.MagicUpscale, which no vs-mlrt runtime implements"),
    Case("model-custom-op-ov", run("OV_CPU", rgb, lambda c: c.custom_op()), "ModelError", "network_path", "graph",
         "ONNX standard ops"),
    Case("model-custom-op-ncnn", run("NCNN", rgb, lambda c: c.custom_op()), "ModelError", "network_path", "graph",
         "com.example.vision.MagicUpscale", isolate=True),
    Case("model-fp16-io-ov", run("OV_CPU", rgb, lambda c: c.model(3, 3, elem_type=10)), "ModelError",
         "input 'input' type", "float16", "float32: OV_CPU cannot take float16 model inputs"),
    Case("model-fp16-io-ncnn", run("NCNN", rgb, lambda c: c.model(3, 3, elem_type=10)), "ModelError",
         "input 'input' type", "float16", "float32: NCNN cannot take float16 model inputs", isolate=True),
    Case("model-static-size-frame", run("ORT_CPU", rgb, lambda c: c.model(3, 3, size=(16, 16))), "ModelError",
         "frame size (tilesize=None)", "(32, 24)", "pass tilesize=(16, 16)"),
    Case("model-static-size-tile", run("OV_CPU", rgb, lambda c: c.model(3, 3, size=(16, 16)), 0, (16, 12)),
         "ModelError", "tilesize", "(16, 12)", "the static size of input 'input'"),
    Case("model-output-4ch", run("ORT_CPU", rgb, lambda c: c.model(3, 4)), "ModelError", "output 'output' channels",
         "=4", "pass flexible=True"),
    Case("model-output-2ch-ov", run("OV_CPU", rgb, lambda c: c.model(3, 2)), "ModelError",
         "output 'output' channels", "=2", "1 (GRAY) or 3 (RGB) for one output clip"),
    Case("model-output-4ch-ncnn", run("NCNN", rgb, lambda c: c.model(3, 4)), "ModelError",
         "output 'output' channels", "=4", "pass flexible=True", isolate=True),
    Case("model-output-3d", run("ORT_CPU", rgb, lambda c: c.output_3d()), "ModelError", "output 'y' shape",
         "[3, ?, ?]", "4 dims"),
    Case("ncnn-fp32-flexible-4ch", run("NCNN", lambda c: c.rgb(w=64, h=64), lambda c: c.model(3, 4),
                                       fields={"fp16": False}, flexible=True),
         "ModelError", "fp16", "fp16=False", "crashes the process (segfault)", isolate=True),
    Case("ncnn-fp32-flexible-8ch", run("NCNN", rgb, lambda c: c.model(3, 8), fields={"fp16": False}, flexible=True),
         "ModelError", "fp16", "fp16=False", "multiple of 4", isolate=True),
    Case("ncnn-forwarded-fp16-0-flexible-8ch", run("NCNN", rgb, lambda c: c.model(3, 8), flexible=True, fp16=0),
         "ModelError", "fp16", "fp16=False", "multiple of 4", isolate=True),
    Case("ncnn-guard-fp32-flexible-4ch", run("NCNN", lambda c: c.rgb(w=64, h=64, length=1), lambda c: c.overflowing(4),
                                             fields={"fp16": True}, flexible=True),
         "ModelError", "fp16", "fp16=False", "multiple of 4", isolate=True, plugins=("ncnn",)),
    Case("flexible-str", run("ORT_CPU", rgb, lambda c: c.model(3, 4), flexible="yes"), "InvalidValueError",
         "flexible", "'yes'", "True or False"),
    Case("flexible-int", run("OV_CPU", rgb, lambda c: c.model(3, 4), flexible=1), "InvalidValueError", "flexible",
         "flexible=1", "True or False"),
    # -- overlap / tilesize / fallback --------------------------------------------------------------------------------
    Case("overlap-without-tilesize", run("ORT_CPU", rgb, conv33, (4, 4)), "TilingError", "overlap", "(4, 4)",
         "(0, 0) when tilesize is None"),
    Case("overlap-too-large", run("ORT_CPU", rgb, conv33, 8, 16), "TilingError", "overlap", "overlap=8",
         "2 * overlap < tile width (16)"),
    Case("overlap-negative", run("OV_CPU", rgb, conv33, -1, 16), "TilingError", "overlap", "-1", "non-negative"),
    Case("overlap-str", run("ORT_CPU", rgb, conv33, "2", 16), "TilingError", "overlap", "'2'", "one or two ints"),
    Case("overlap-float", run("NCNN", rgb, conv33, 2.5, 16), "TilingError", "overlap", "2.5", "one or two ints"),
    Case("tilesize-zero", run("ORT_CPU", rgb, conv33, 0, 0), "TilingError", "tilesize", "tilesize=0", "positive"),
    Case("tilesize-larger-than-frame", run("ORT_CPU", rgb, conv33, 0, (64, 16)), "TilingError", "tilesize",
         "(64, 16)", "at most the frame size (32, 24)"),
    Case("tilesize-three-values", run("OV_CPU", rgb, conv33, 0, (8, 8, 8)), "TilingError", "tilesize", "(8, 8, 8)",
         "one or two ints"),
    Case("tilesize-str", run("ORT_CPU", rgb, conv33, 0, "16"), "TilingError", "tilesize", "'16'",
         "one or two ints"),
    Case("tilesize-float", run("TRT_RTX", rgb, conv33, 0, 16.0), "TilingError", "tilesize", "16.0",
         "one or two ints"),
    Case("fallback-str", run("ORT_CPU", rgb, conv33, fallback="OV_CPU"), "ConfigError", "fallback", "'OV_CPU'",
         "a Backend instance or a sequence of them"),
    # -- forwarded **kwargs ------------------------------------------------------------------------------------------
    Case("kwarg-clips", lambda c: backend("ORT_CPU").inference(c.rgb(), c.model(), clips=[c.gray()]),
         "ArgumentError", "clips", "clips=[<VideoNode GrayS 32x24, 2 frames>]",
         "pass the clips as the first argument"),
    Case("kwarg-network-path", run("OV_CPU", rgb, conv33, network_path="other.onnx"), "ArgumentError",
         "network_path", "'other.onnx'", "pass the model as the second argument"),
    Case("kwarg-engine-path", run("TRT_RTX", rgb, conv33, engine_path="x.engine"), "ArgumentError", "engine_path",
         "'x.engine'", "inference() builds the engine"),
    Case("kwarg-flexible-output-prop", run("ORT_CPU", rgb, conv33, flexible_output_prop="p"), "ArgumentError",
         "flexible_output_prop", "'p'", "pass flexible=True"),
    Case("kwarg-path-is-serialization", run("NCNN", rgb, conv33, path_is_serialization=1), "ArgumentError",
         "path_is_serialization", "=1", "inference() passes a file path"),
    Case("kwarg-unknown", run("ORT_CPU", rgb, conv33, bogus=1), "UnknownArgumentError", "bogus", "bogus=1",
         "expected one of provider, device_id", plugins=("ort",)),
    Case("kwarg-typo-ov", run("OV_CPU", rgb, conv33, num_stream=2), "UnknownArgumentError", "num_stream",
         "num_stream=2", "num_streams", plugins=("ov",)),
    Case("kwarg-num-streams-str", run("ORT_CPU", rgb, conv33, num_streams="2"), "ArgumentError", "num_streams",
         "'2'", "write 2 without quotes", plugins=("ort",)),
    Case("kwarg-num-streams-huge", run("ORT_CPU", rgb, conv33, num_streams=10**6), "ArgumentError", "num_streams",
         "1000000", "an int 1 .. 64", plugins=("ort",)),
    Case("kwarg-num-streams-zero", run("NCNN", rgb, conv33, num_streams=0), "ArgumentError", "num_streams",
         "num_streams=0", "an int 1 .. 64", plugins=("ncnn",)),
    Case("kwarg-provider-bogus", run("ORT_CPU", rgb, conv33, provider="BOGUS"), "ArgumentError", "provider",
         "'BOGUS'", "a provider of this core.ort build: 'CPU'", plugins=("ort",)),
    Case("kwarg-provider-lowercase", run("ORT_CPU", rgb, conv33, provider="cpu"), "ArgumentError", "provider",
         "'cpu'", "case-sensitive", plugins=("ort",)),
    Case("kwarg-provider-int", run("ORT_CPU", rgb, conv33, provider=1), "ArgumentError", "provider", "provider=1",
         "a str (core.ort.Model takes provider as data)", plugins=("ort",)),
    Case("kwarg-device-id-negative", run("NCNN", rgb, conv33, device_id=-1), "ArgumentError", "device_id", "-1",
         "an int >= 0", plugins=("ncnn",)),
    Case("kwarg-device-id-99-ncnn", run("NCNN", rgb, conv33, device_id=99), "DeviceError", "device_id",
         "device_id=99", "Vulkan", plugins=("ncnn",)),
    Case("kwarg-fp16-str", run("ORT_CPU", rgb, conv33, fp16="yes"), "ArgumentError", "fp16", "'yes'",
         "an int (core.ort.Model takes fp16 as int)", plugins=("ort",)),
    Case("kwarg-block-list-int", run("ORT_CPU", rgb, conv33, fp16_blacklist_ops=5), "ArgumentError",
         "fp16_blacklist_ops", "=5", "a str or a list of them", plugins=("ort",)),
    Case("kwarg-verbosity-float", run("ORT_CPU", rgb, conv33, verbosity=2.5), "ArgumentError", "verbosity", "2.5",
         "an int", plugins=("ort",)),
    Case("kwarg-output-format-str", run("NCNN", rgb, conv33, output_format="fp32"), "ArgumentError",
         "output_format", "'fp32'", "an int", plugins=("ncnn",)),
    Case("kwarg-ov-device-bogus", run("OV_CPU", rgb, conv33, device="BOGUS"), "DeviceError", "device", "'BOGUS'",
         "AvailableDevices() lists CPU", plugins=("ov",)),
    Case("kwarg-ov-config-not-callable", run("OV_CPU", rgb, conv33, config={"NUM_STREAMS": 1}), "ArgumentError",
         "config", "{'NUM_STREAMS': 1}", "a function", plugins=("ov",)),
    # -- backend fields (at construction) -----------------------------------------------------------------------
    Case("field-fp16-str", make("ORT_CPU", fp16="no"), "ConfigError", "fp16", "'no'", "a string is not a bool"),
    Case("field-static-shape-str", make("TRT_RTX", static_shape="no"), "ConfigError", "static_shape", "'no'",
         "True or False"),
    Case("field-num-streams-bool", make("ORT_CPU", num_streams=True), "ConfigError", "num_streams", "=True",
         "a bool is not an int"),
    Case("field-num-streams-huge", make("ORT_CPU", num_streams=10**6), "ConfigError", "num_streams", "1000000",
         "an int 1 .. 64"),
    Case("field-num-streams-zero", make("NCNN", num_streams=0), "ConfigError", "num_streams", "=0", "1"),
    Case("field-num-threads-str", make("OV_CPU", num_threads="4"), "ConfigError", "num_threads", "'4'", "an int"),
    Case("field-workspace-str", make("TRT", workspace="1G"), "ConfigError", "workspace", "'1G'", "None or an int"),
    Case("field-workspace-zero", make("TRT_RTX", workspace=0), "ConfigError", "workspace", "=0", ">= 1"),
    Case("field-device-id-negative", make("NCNN", device_id=-1), "ConfigError", "device_id", "-1", ">= 0"),
    Case("field-device-id-str", make("ORT_CUDA", device_id="0"), "ConfigError", "device_id", "'0'", "an int"),
    Case("field-verbosity-range", make("ORT_CPU", verbosity=9), "ConfigError", "verbosity", "=9", "0 (fatal only)"),
    Case("field-output-format", make("NCNN", output_format=2), "ConfigError", "output_format", "=2", "1 (float16)"),
    Case("field-batch-tiles-zero", make("NCNN", batch_tiles=0), "ConfigError", "batch_tiles", "=0", "an int 1 .. 256"),
    Case("field-block-list-str", make("ORT_CPU", fp16_blacklist_ops="Resize"), "ConfigError", "fp16_blacklist_ops",
         "'Resize'", "not a single string"),
    Case("field-block-list-without-fp16", make("OV_CPU", fp16=False, fp16_blacklist_ops=["Conv"]), "ConfigError",
         "fp16_blacklist_ops", "Conv", "fp16 is off"),
    Case("field-fp16-and-bf16", make("TRT", fp16=True, bf16=True), "ConfigError", "fp16", "=True", "not both"),
    Case("field-opt-shapes-static", make("TRT", opt_shapes=(64, 64)), "ConfigError", "opt_shapes", "(64, 64)",
         "static_shape=False"),
    Case("field-min-shapes-str", make("TRT_RTX", static_shape=False, min_shapes="64"), "ConfigError", "min_shapes",
         "'64'", "(width, height)"),
    Case("field-builder-level", make("TRT", builder_optimization_level=9), "ConfigError",
         "builder_optimization_level", "=9", "0 .. 5"),
    Case("field-custom-args-str", make("MIGX", custom_args="--fp16"), "ConfigError", "custom_args", "'--fp16'",
         "a sequence of str"),
    Case("field-custom-env-int", make("MIGX", custom_env={"A": 1}), "ConfigError", "custom_env['A']", "=1", "a str"),
    Case("field-ml-program", make("ORT_COREML", ml_program=5), "ConfigError", "ml_program", "=5", "ML_PROGRAM"),
    Case("field-custom-config-list", make("OV_CPU", custom_config={"NUM_STREAMS": [1]}), "ConfigError",
         "custom_config['NUM_STREAMS']", "[1]", "str / int / float"),
    Case("field-ov-device-int", make("OV", device=0), "ConfigError", "device", "device=0", "None or a str"),
    Case("field-ov-cpu-device", make("OV_CPU", device="GPU"), "ConfigError", "device", "'GPU'", "runs on CPU"),
    Case("field-abstract-ort", make("ORT"), "ConfigError", "class", "'ORT'",
         "one of ORT_CPU, ORT_CUDA, ORT_DML, ORT_COREML"),
    Case("field-abstract-backend", lambda c: __import__("vsinfer").Backend(),
         "ConfigError", "class", "'Backend'", "a concrete backend"),
    Case("field-bf16-str-ov", make("OV_CPU", bf16="no"), "ConfigError", "bf16", "'no'", "a string is not a bool"),
    Case("field-bf16-str-trt", make("TRT", bf16="no"), "ConfigError", "bf16", "'no'", "a string is not a bool"),
    Case("field-fp16-str-migx", make("MIGX", fp16="no"), "ConfigError", "fp16", "'no'", "a string is not a bool"),
    # -- OpenVINO custom_config values (known keys) ------------------------------------------------------------------
    Case("ov-config-num-streams", run("OV_CPU", rgb, conv33, fields={"custom_config": {"NUM_STREAMS": "lots"}}),
         "ConfigError", "custom_config['NUM_STREAMS']", "'lots'", "an int >= 0, or 'AUTO' / 'NUMA'"),
    Case("ov-config-precision", run("OV_CPU", rgb, conv33,
                                    fields={"custom_config": {"INFERENCE_PRECISION_HINT": "f8"}}),
         "ConfigError", "custom_config['INFERENCE_PRECISION_HINT']", "'f8'", "'f32' / 'f16' / 'bf16'"),
    Case("ov-config-precision-case", run("OV_CPU", rgb, conv33,
                                         fields={"custom_config": {"INFERENCE_PRECISION_HINT": "F32"}}),
         "ConfigError", "custom_config['INFERENCE_PRECISION_HINT']", "'F32'", "'f32'"),
    Case("ov-config-hint", run("OV_CPU", rgb, conv33, fields={"custom_config": {"PERFORMANCE_HINT": "fast"}}),
         "ConfigError", "custom_config['PERFORMANCE_HINT']", "'fast'", "'LATENCY' / 'THROUGHPUT'"),
    Case("ov-config-pinning", run("OV_CPU", rgb, conv33, fields={"custom_config": {"ENABLE_CPU_PINNING": "maybe"}}),
         "ConfigError", "custom_config['ENABLE_CPU_PINNING']", "'maybe'", "'YES' / 'NO'"),
    Case("ov-config-threads", run("OV_CPU", rgb, conv33, fields={"custom_config": {"INFERENCE_NUM_THREADS": -1}}),
         "ConfigError", "custom_config['INFERENCE_NUM_THREADS']", "-1", "an int >= 0"),
    # -- devices ------------------------------------------------------------------------------------------------------
    Case("ncnn-device-id-99", run("NCNN", rgb, conv33, fields={"device_id": 99}), "DeviceError", "device_id",
         "device_id=99", "Vulkan", plugins=("ncnn",)),
    Case("ncnn-no-vulkan-device", run("NCNN", rgb, conv33), "DeviceError", "device_id", "device_id=0",
         "no Vulkan device was found; install a Vulkan driver (Debian: apt install libvulkan1 mesa-vulkan-drivers)",
         isolate=True, plugins=("ncnn",), env=NO_VULKAN),
    Case("ov-gpu-device-id-99", run("OV_GPU", rgb, conv33, fields={"device_id": 99}), "DeviceError", "device_id",
         "device_id=99", "the index of an OpenVINO GPU", plugins=("ov",)),
    Case("ov-device-gpu", run("OV", rgb, conv33, fields={"device": "GPU.7"}), "DeviceError", "device", "'GPU.7'",
         "AvailableDevices() lists", plugins=("ov",)),
    Case("ov-device-lowercase", run("OV", rgb, conv33, fields={"device": "cpu"}), "DeviceError", "device", "'cpu'",
         "case-sensitive", plugins=("ov",)),
    Case("ov-device-hetero-unknown", run("OV", rgb, conv33, fields={"device": "HETERO:GPU.5,CPU"}), "DeviceError",
         "device", "'HETERO:GPU.5,CPU'", "the HETERO plugin does not ship", plugins=("ov",)),
    Case("ort-provider-dml", run("ORT_DML", rgb, conv33), "DeviceError", "provider", "'DML'",
         "a provider compiled into this core.ort build", plugins=("ort",)),
    Case("ort-provider-coreml", run("ORT_COREML", rgb, conv33), "DeviceError", "provider", "'COREML'",
         "a provider compiled into this core.ort build", plugins=("ort",)),
    Case("migx-plugin-missing", run("MIGX", rgb, conv33), "PluginNotFoundError", "core.migx", "not loaded",
         "pip install 'vsinfer[migx]'"),
    Case("trt-plugin-missing", run("TRT", rgb, conv33), "PluginNotFoundError", "core.trt", "not loaded",
         "pip install 'vsinfer[trt]'"),
    # -- round 3 (issue 19) -------------------------------------------------------------------------------------------
    # colour: subsampled YUV is refused with the conversion most models expect (RGB), planes must add up
    Case("r3-yuv420-advises-rgb", run("ORT_CPU", fmt("YUV420P8"), conv33), "ClipError", "clips[0]", "YUV420P8",
         "clip = clip.resize.Bicubic(format=vs.RGBS, matrix_in_s='709')"),
    Case("r3-yuv411-ov", run("OV_CPU", fmt("YUV411P8"), conv33), "ClipError", "clips[0]", "YUV411P8",
         "without chroma subsampling"),
    Case("r3-yuv440-ncnn", run("NCNN", fmt("YUV440P8"), conv33), "ClipError", "clips[0]", "YUV440P8",
         "format=vs.RGBS"),
    Case("r3-yuv420p16-trt-rtx", run("TRT_RTX", fmt("YUV420P16"), conv33), "ClipError", "clips[0]", "YUV420P16",
         "ShufflePlanes(clip, 0, vs.GRAY)"),
    Case("r3-gray8-for-rgb-ov", run("OV_CPU", fmt("GRAY8"), conv33), "ClipError", "clips", "1 planes in total",
         "3 planes"),
    Case("r3-rgb-for-gray-model", run("ORT_CPU", rgb, lambda c: c.model(1, 1)), "ClipError", "clips",
         "3 planes in total", "1 planes"),
    Case("r3-yuv-and-gray-for-rgb", run("ORT_CPU", lambda c: [c.clip(__import__("vapoursynth").YUV444PS), c.gray()],
                                        conv33), "ClipError", "clips", "4 planes in total", "3 planes"),
    # layout: NHWC models are refused before the plugin, naming the layout and what to do
    Case("r3-nhwc-ort", run("ORT_CPU", rgb, nhwc([1, "h", "w", 3])), "ModelError", "input 'x' layout",
         "NHWC [1, ?, ?, 3]", "NCHW (batch, channels, height, width)"),
    Case("r3-nhwc-ov", run("OV_CPU", rgb, nhwc([1, "h", "w", 3])), "ModelError", "input 'x' layout", "NHWC",
         "--inputs-as-nchw"),
    Case("r3-nhwc-ncnn", run("NCNN", rgb, nhwc([1, "h", "w", 3])), "ModelError", "input 'x' layout", "NHWC",
         "Transpose"),
    Case("r3-nhwc-static", run("ORT_CPU", rgb, nhwc([1, 24, 32, 3])), "ModelError", "input 'x' layout",
         "NHWC [1, 24, 32, 3]", "channels last"),
    Case("r3-nhwc-gray", run("ORT_CPU", lambda c: c.gray(), nhwc([1, "h", "w", 1])), "ModelError",
         "input 'x' layout", "NHWC [1, ?, ?, 1]", "NCHW"),
    Case("r3-nhwc-rgba", run("OV_CPU", lambda c: [c.rgb(), c.gray()], nhwc([1, "h", "w", 4])), "ModelError",
         "input 'x' layout", "NHWC [1, ?, ?, 4]", "NCHW"),
    Case("r3-nhwc-output", run("ORT_CPU", rgb, nhwc([1, 3, "h", "w"], [1, "h", "w", 3])), "ModelError",
         "output 'y' layout", "NHWC [1, ?, ?, 3]", "NCHW"),
    Case("r3-nhwc-build", build("TRT_RTX", nhwc([1, "h", "w", 3]), 3, (32, 32)), "ModelError",
         "input 'x' layout", "NHWC", "NCHW"),
    # sizes: engine shapes, tiles and counts are bounded before anything is built or allocated
    Case("r3-build-tilesize-zero", build("TRT_RTX", conv33, 3, 0), "TilingError", "tilesize", "tilesize=0",
         "sides 1 .. 16384 pixels"),
    Case("r3-build-tilesize-huge", build("TRT_RTX", conv33, 3, (100000, 100000)), "TilingError", "tilesize",
         "(100000, 100000)", "is 112 GiB"),
    Case("r3-build-tilesize-negative", build("TRT_RTX", conv33, 3, (-8, 8)), "TilingError", "tilesize", "(-8, 8)",
         "sides 1 .. 16384"),
    Case("r3-build-tilesize-str", build("TRT_RTX", conv33, 3, "64"), "TilingError", "tilesize", "'64'",
         "an int or a sequence of one or two ints"),
    Case("r3-build-channels-zero", build("TRT_RTX", conv33, 0, 32), "ConfigError", "channels", "channels=0",
         "an int 1 .. 64"),
    Case("r3-build-channels-str", build("TRT_RTX", conv33, "3", 32), "ConfigError", "channels", "'3'",
         "an int 1 .. 64"),
    Case("r3-build-channels-huge", build("TRT_RTX", conv33, 10**6, 32), "ConfigError", "channels", "1000000",
         "an int 1 .. 64"),
    Case("r3-build-io-bogus", build("TRT_RTX", conv33, 3, 32, io="fp8"), "ConfigError", "io", "'fp8'",
         '"fp16" or "fp32"'),
    Case("r3-build-io-fp16-for-fp32", build("TRT_RTX", conv33, 3, 32, fields={"fp16": False}, io="fp16"),
         "ConfigError", "io", "'fp16'", 'None or "fp32" for a float32 build'),
    Case("r3-build-io-fp32-for-fp16-model", build("TRT_RTX", lambda c: c.model(3, 3, elem_type=10), 3, 32,
                                                  io="fp32"), "ConfigError", "io", "'fp32'",
         "its engine takes half floats"),
    Case("r3-trt-workspace-huge", make("TRT", workspace=1 << 70), "ConfigError", "workspace",
         str(1 << 70), "(1 TiB)"),
    Case("r3-trt-workspace-mib", make("TRT_RTX", workspace=1024), "ConfigError", "workspace", "=1024",
         "for 1024 MiB write 1024 << 20"),
    Case("r3-trt-workspace-negative", make("TRT", workspace=-1), "ConfigError", "workspace", "=-1", "(bytes)"),
    Case("r3-trt-workspace-float", make("TRT", workspace=8e9), "ConfigError", "workspace", "8000000000.0",
         "None or an int"),
    Case("r3-trt-tactic-dram-huge", make("TRT", tactic_dram=1 << 50), "ConfigError", "tactic_dram", str(1 << 50),
         "1 TiB"),
    Case("r3-trt-tactic-dram-mib", make("TRT", tactic_dram=512), "ConfigError", "tactic_dram", "=512",
         "512 << 20"),
    Case("r3-trt-aux-streams-huge", make("TRT", max_aux_streams=10**12), "ConfigError", "max_aux_streams",
         "1000000000000", "0 .. 64"),
    Case("r3-trt-aux-streams-negative", make("TRT_RTX", max_aux_streams=-1), "ConfigError", "max_aux_streams",
         "=-1", "0 .. 64"),
    Case("r3-trt-timing-iterations-huge", make("TRT", avg_timing_iterations=10**12), "ConfigError",
         "avg_timing_iterations", "1000000000000", "1 .. 1000"),
    Case("r3-trt-timing-iterations-zero", make("TRT", avg_timing_iterations=0), "ConfigError",
         "avg_timing_iterations", "=0", "1 .. 1000"),
    Case("r3-trt-l2-negative", make("TRT", l2_limit_for_tiling=-5), "ConfigError", "l2_limit_for_tiling", "=-5",
         "-1 (TensorRT decides) or bytes 0 .."),
    Case("r3-trt-l2-huge", make("TRT_RTX", l2_limit_for_tiling=1 << 40), "ConfigError", "l2_limit_for_tiling",
         str(1 << 40), "1 GiB"),
    Case("r3-trt-max-threads-huge", make("TRT", max_threads=10**9), "ConfigError", "max_threads", "1000000000",
         "1 .. 1024"),
    Case("r3-trt-max-tactics-huge", make("TRT", max_num_tactics=10**12), "ConfigError", "max_num_tactics",
         "1000000000000", "1 .. 100000"),
    Case("r3-trt-max-shapes-huge", make("TRT", static_shape=False, max_shapes=(100000, 100000)), "ConfigError",
         "max_shapes", "(100000, 100000)", "1 .. 16384"),
    Case("r3-trt-opt-shapes-zero", make("TRT_RTX", static_shape=False, opt_shapes=(0, 64)), "ConfigError",
         "opt_shapes", "(0, 64)", "1 .. 16384"),
    Case("r3-trt-min-shapes-huge", make("TRT", static_shape=False, min_shapes=(20000, 20000)), "ConfigError",
         "min_shapes", "(20000, 20000)", "0 .. 16384"),
    Case("r3-migx-opt-shapes-huge", make("MIGX", opt_shapes=(50000, 50000)), "ConfigError", "opt_shapes",
         "(50000, 50000)", "1 .. 16384"),
    Case("r3-ncnn-batch-tiles-huge", make("NCNN", batch_tiles=10**9), "ConfigError", "batch_tiles", "1000000000",
         "an int 1 .. 256"),
    Case("r3-ov-num-threads-negative", make("OV_CPU", num_threads=-1), "ConfigError", "num_threads", "=-1",
         "an int >= 0"),
    Case("r3-ov-num-streams-huge", make("OV_CPU", num_streams=10**6), "ConfigError", "num_streams", "1000000",
         "an int 1 .. 64"),
    Case("r3-tiles-too-many", run("ORT_CPU", rgb, conv33, tiles=(200, 200)), "TilingError", "tiles",
         "(200, 200)", "at most 32 tiles across a width of 32 pixels"),
    Case("r3-tiles-too-many-rows", run("OV_CPU", rgb, conv33, tiles=(1, 30)), "TilingError", "tiles", "(1, 30)",
         "at most 24 tiles across a height of 24 pixels"),
    Case("r3-tiles-zero", run("ORT_CPU", rgb, conv33, tiles=0), "TilingError", "tiles", "tiles=0", "ints >= 1"),
    Case("r3-tiles-str", run("ORT_CPU", rgb, conv33, tiles="2"), "TilingError", "tiles", "'2'",
         "an int or a sequence"),
    Case("r3-tiles-and-tilesize", run("NCNN", rgb, conv33, 0, 16, tiles=2), "TilingError", "tiles", "tiles=2",
         "None when tilesize=16 is given"),
    Case("r3-multiple-zero", run("ORT_CPU", rgb, conv33, multiple=0), "TilingError", "multiple", "multiple=0",
         "None, 'auto' or an int >= 1"),
    Case("r3-multiple-str", run("OV_CPU", rgb, conv33, multiple="8"), "TilingError", "multiple", "'8'",
         "None, 'auto' or an int >= 1"),
    # fields vs-jetpack has: accepted where they can be honoured, refused clearly where they cannot
    Case("r3-ncnn-fp16-off-half-output", make("NCNN", fp16=False, output_format=1), "ConfigError", "output_format",
         "output_format=1", "float16 output only from an fp16 run"),
    Case("r3-ov-npu-fp16-false", make("OV_NPU", fp16=False), "ConfigError", "fp16", "fp16=False",
         "an NPU computes in fp16 only"),
    Case("r3-ov-npu-fp16-str", make("OV_NPU", fp16="yes"), "ConfigError", "fp16", "'yes'",
         "a string is not a bool"),
    Case("r3-ncnn-block-list-str", make("NCNN", fp16_blacklist_ops="Conv"), "ConfigError", "fp16_blacklist_ops",
         "'Conv'", "not a single string"),
    Case("r3-ort-verbosity-negative", make("ORT_CPU", verbosity=-1), "ConfigError", "verbosity", "=-1",
         "0 (fatal only) .. 4 (verbose)"),
    Case("r3-trt-verbosity-range", make("TRT", verbosity=7), "ConfigError", "verbosity", "=7", "None or 0 .. 4"),
    Case("r3-ov-device-empty", make("OV", device=""), "ConfigError", "device", "device=''",
         "an OpenVINO device string"),
    Case("r3-ov-device-auto-missing", run("OV", rgb, conv33, fields={"device": "AUTO"}), "DeviceError", "device",
         "'AUTO'", "the AUTO plugin does not ship", plugins=("ov",)),
    Case("r3-num-streams-float", make("ORT_CPU", num_streams=2.0), "ConfigError", "num_streams", "2.0",
         "(write 2, not 2.0)"),
    # fallback: configuration errors and typos stop the chain
    Case("r3-fallback-kwarg-typo", run("ORT_CPU", rgb, conv33, fallback=__import__("vsinfer").Backend.OV_CPU(),
                                       num_stream=2), "UnknownArgumentError", "num_stream", "num_stream=2",
         "num_streams", plugins=("ort", "ov")),
    Case("r3-fallback-config-error-stops", run("OV_CPU", rgb, conv33,
                                               fields={"custom_config": {"NUM_STREAMS": "lots"}},
                                               fallback=__import__("vsinfer").Backend.ORT_CPU()),
         "ConfigError", "custom_config['NUM_STREAMS']", "'lots'", "an int >= 0", plugins=("ov", "ort")),
    Case("r3-fallback-model-error-stops", run("OV_CPU", rgb, lambda c: c.model(3, 3, elem_type=10),
                                              fallback=__import__("vsinfer").Backend.NCNN()),
         "ModelError", "input 'input' type", "float16", "float32", plugins=("ov",)),
    Case("r3-fallback-list-with-str", run("ORT_CPU", rgb, conv33,
                                          fallback=[__import__("vsinfer").Backend.OV_CPU(), "NCNN"]),
         "ConfigError", "fallback", "'NCNN'", "a Backend instance or a sequence of them"),
    Case("r3-fallback-class", run("ORT_CPU", rgb, conv33, fallback=__import__("vsinfer").Backend.OV_CPU),
         "ConfigError", "fallback", "OV_CPU", "a Backend instance"),
    # -- round 4 (issue 29) -------------------------------------------------------------------------------------------
    # fp16 report and fp16-check: the model and the sample clip are checked as inference checks them
    Case("r4-fp16-two-inputs", fp16_report(lambda c: c.two_inputs()), "ModelError", "model_path", "graph",
         "one image input"),
    Case("r4-fp16-int64-input", fp16_report(lambda c: c.identity(7, [1, 3, "h", "w"], 1)), "ModelError",
         "input 'x' type", "int64", "float32 or float16"),
    Case("r4-fp16-3d-input", fp16_report(lambda c: c.identity(1, [1, 3, "w"])), "ModelError", "input 'x' shape",
         "[1, 3, ?]", "4 dims"),
    Case("r4-fp16-missing-external-data", fp16_report(lambda c: c.without_its_data()), "ModelError", "network_path",
         "m.onnx", "it keeps its weights in 'm.data', a file that does not exist"),
    Case("r4-fp16-nhwc-all-dynamic", fp16_report(lambda c: c.tf_nhwc()), "ModelError", "input 'x' layout",
         "NHWC [?, ?, ?, ?]", "a Transpose to channels-first at once"),
    Case("r4-fp16-path-int", fp16_report(lambda c: 123), "ModelError", "model_path", "=123",
         "a str or pathlib.Path"),
    Case("r4-fp16-gray-clip-for-rgb", fp16_report(conv33, lambda c: c.gray(w=64, h=64)), "ClipError", "clip",
         "<VideoNode GrayS 64x64>", "a clip of 3 planes"),
    Case("r4-fp16-audio-clip", fp16_report(conv33, lambda c: __import__("vapoursynth").core.std.BlankAudio()),
         "ClipError", "clip", "<AudioNode>", "a vs.VideoNode"),
    Case("r4-fp16-yuv420-clip", fp16_report(conv33, fmt("YUV420P8")), "ClipError", "clip", "YUV420P8",
         "without chroma subsampling"),
    Case("r4-cli-clip-raises", vpy_clip("raise ValueError('boom')\n"), "ClipError", "--clip", ".vpy",
         "it raised ValueError: boom"),
    Case("r4-cli-clip-syntax-error", vpy_clip("x = = 1\n"), "ClipError", "--clip", ".vpy",
         "a script Python can read: line 1"),
    Case("r4-cli-clip-sys-exit", vpy_clip("import sys\nsys.exit(3)\n"), "ClipError", "--clip", ".vpy",
         "it called sys.exit(3)"),
    Case("r4-cli-clip-audio", vpy_clip("import vapoursynth as vs\nvs.core.std.BlankAudio().set_output()\n"),
         "ClipError", "--clip", ".vpy", "output 0 is a video clip; it is audio"),
    Case("r4-cli-clip-no-output", vpy_clip("x = 1\n"), "ClipError", "--clip", ".vpy", "sets output 0"),
    # missing external data: a clear error again on every backend (a regression since the single-file copies)
    Case("r4-missing-external-data-ort", run("ORT_CPU", rgb, lambda c: c.without_its_data()), "ModelError",
         "network_path", "m.onnx", "a file that does not exist"),
    Case("r4-missing-external-data-ov", run("OV_CPU", rgb, lambda c: c.without_its_data()), "ModelError",
         "network_path", "m.onnx", "copy the .onnx together with its data file(s) (m.data)"),
    Case("r4-missing-external-data-ncnn", run("NCNN", rgb, lambda c: c.without_its_data()), "ModelError",
         "network_path", "m.onnx", "a file that does not exist", isolate=True),
    Case("r4-truncated-external-data", run("OV_CPU", rgb, lambda c: c.without_its_data(keep=50)), "ModelError",
         "network_path", "m.onnx", "a file of 50 bytes where the model reads"),
    Case("r4-missing-external-data-build", build("TRT_RTX", lambda c: c.without_its_data(), 3, 32), "ModelError",
         "network_path", "m.onnx", "a file that does not exist"),
    # numpy numbers: ints where ints are taken (see test_validation), named clearly where they are not
    Case("r4-np-bool-tilesize", run("ORT_CPU", rgb, conv33, 0, __import__("numpy").array([True, True])),
         "TilingError", "tilesize", "True", "a bool is not an int"),
    Case("r4-np-float-overlap", run("ORT_CPU", rgb, conv33, __import__("numpy").float64(2.0), 16), "TilingError",
         "overlap", "2.0", "one or two ints"),
    Case("r4-np-2d-tilesize", run("OV_CPU", rgb, conv33, 0, __import__("numpy").array([[16, 12]])), "TilingError",
         "tilesize", "[[16, 12]]", "one or two ints"),
    Case("r4-np-output-out-of-range", run("ORT_CPU", rgb, conv33, output=__import__("numpy").int64(5)),
         "ModelError", "output", "5", "an index 0 .. 0"),
    Case("r4-np-channels-bool", build("TRT_RTX", conv33, __import__("numpy").bool_(True), 32), "ConfigError",
         "channels", "True", "an int 1 .. 64"),
    Case("r4-np-device-id-negative", make("NCNN", device_id=__import__("numpy").int64(-1)), "ConfigError",
         "device_id", "-1", "an int >= 0"),
    Case("r4-np-float-device-id", make("NCNN", device_id=__import__("numpy").float64(0.0)), "ConfigError",
         "device_id", "0.0", "an int >= 0"),
    # what the plugins still refused in their own words
    Case("r4-int64-output-ort", run("ORT_CPU", rgb, lambda c: c.identity(1, [1, 3, "h", "w"], 7)), "ModelError",
         "output 'y' type", "int64", "float32 or float16: the output becomes a float clip"),
    Case("r4-int64-output-ov", run("OV_CPU", rgb, lambda c: c.identity(1, [1, 3, "h", "w"], 7)), "ModelError",
         "output 'y' type", "int64", "float32 (OV_CPU reads no other output type"),
    Case("r4-fp16-output-ov", run("OV_CPU", rgb, lambda c: c.identity(1, [1, 3, "h", "w"], 10)), "ModelError",
         "output 'y' type", "float16", "float32 (OV_CPU reads no other output type"),
    Case("r4-scale-1.5-multiple", run("ORT_CPU", lambda c: c.rgb(w=30, h=22), lambda c: c.resize(1.5), multiple=4),
         "ModelError", "network_path", "graph", "whole multiple of its input (1x, 2x, 4x ...)"),
    Case("r4-scale-0.5-multiple", run("OV_CPU", lambda c: c.rgb(w=30, h=22), lambda c: c.resize(0.5), multiple=4),
         "ModelError", "network_path", "graph", "this one scales by 0.5x (32x24 -> 16x12)"),
    Case("r4-scale-1.5-whole-frame", run("ORT_CPU", rgb, lambda c: c.resize(1.5)), "ModelError", "network_path",
         "graph", "this one scales by 1.5x (32x24 -> 48x36)"),
    Case("r4-nhwc-all-dynamic-ort", run("ORT_CPU", rgb, lambda c: c.tf_nhwc()), "ModelError", "input 'x' layout",
         "NHWC [?, ?, ?, ?]", "--inputs-as-nchw"),
    Case("r4-nhwc-all-dynamic-ov", run("OV_CPU", rgb, lambda c: c.tf_nhwc()), "ModelError", "input 'x' layout",
         "NHWC [?, ?, ?, ?]", "channels last"),
    Case("r4-nhwc-named-dims", run("ORT_CPU", rgb, lambda c: c.identity(1, ["n", "h", "w", "c"])), "ModelError",
         "input 'x' layout", "NHWC [?, ?, ?, ?]", "its dims' names"),
    Case("r4-initializers-as-inputs-ort", run("ORT_CPU", rgb, lambda c: c.initializers_as_inputs()), "ModelError",
         "network_path", "ir3", "lists 1 of its weights (initializers) as graph inputs"),
    Case("r4-initializers-as-inputs-ov", run("OV_CPU", rgb, lambda c: c.initializers_as_inputs()), "ModelError",
         "network_path", "ir3", "keep_initializers_as_inputs=False"),
    Case("r4-initializers-as-inputs-ncnn", run("NCNN", rgb, lambda c: c.initializers_as_inputs()), "ModelError",
         "network_path", "ir3", "m.ir_version = max(m.ir_version, 4)", isolate=True),
    Case("r4-ov-config-empty-key", run("OV_CPU", rgb, conv33, fields={"custom_config": {"": "1"}}), "ConfigError",
         "custom_config key", "''", "an OpenVINO property name", plugins=("ov",)),
    Case("r4-ov-config-key-with-space", run("OV_CPU", rgb, conv33, fields={"custom_config": {"LOG LEVEL": "1"}}),
         "ConfigError", "custom_config key", "'LOG LEVEL'", "ASCII letters, digits and _", plugins=("ov",)),
    Case("r4-ov-config-non-ascii-digits", run("OV_CPU", rgb, conv33,
                                              fields={"custom_config": {"NUM_STREAMS": "\u0663"}}),
         "ConfigError", "custom_config['NUM_STREAMS']", "'\u0663'", "an int >= 0", plugins=("ov",)),
    Case("r4-ov-config-unknown-key", run("OV_CPU", rgb, conv33, fields={"custom_config": {"BOGUS_KEY": "1"}}),
         "ConfigError", "custom_config key", "'BOGUS_KEY'", "a property of OpenVINO's CPU plugin", plugins=("ov",)),
    Case("r4-ov-config-key-typo", run("OV_CPU", rgb, conv33, fields={"custom_config": {"NUM_STREAM": 1}}),
         "ConfigError", "custom_config key", "'NUM_STREAM'", "did you mean 'NUM_STREAMS'", plugins=("ov",)),
    Case("r4-ov-config-function-bad-value", run("OV_CPU", rgb, conv33, config=lambda: {"NUM_STREAMS": "lots"}),
         "ConfigError", "config()['NUM_STREAMS']", "'lots'", "an int >= 0", plugins=("ov",)),
    Case("r4-ov-config-function-non-ascii", run("OV_CPU", rgb, conv33,
                                                config=lambda: {"INFERENCE_NUM_THREADS": "\u0663"}),
         "ConfigError", "config()['INFERENCE_NUM_THREADS']", "'\u0663'", "an int >= 0", plugins=("ov",)),
    Case("r4-ov-config-function-raises", run("OV_CPU", rgb, conv33, config=lambda: 1 // 0), "ArgumentError",
         "config", "<function", "calling it raised ZeroDivisionError", plugins=("ov",)),
    Case("r4-ov-config-function-not-a-dict", run("OV_CPU", rgb, conv33, config=lambda: [1]), "ArgumentError",
         "config()", "[1]", "a dict of OpenVINO properties", plugins=("ov",)),
    Case("r4-ov-device-cpu-cpu", run("OV", rgb, conv33, fields={"device": "CPU:CPU"}), "DeviceError", "device",
         "'CPU:CPU'", "not one of OpenVINO's virtual devices (AUTO, MULTI, HETERO, BATCH); write device='CPU'",
         plugins=("ov",), absent=("does not ship",)),
    # real models the runtimes cannot take, reproduced with small graphs of the same condition
    Case("r4-ov-empty-scatter-dynamo", run("OV_CPU", lambda c: c.rgb(w=16, h=16), lambda c: c.empty_scatter()),
         "ModelError",
         "network_path", "graph", "scatter an empty constant", plugins=("ov",)),
    Case("r4-ov-empty-scatter-dynamo-fp16", run("OV_CPU", lambda c: c.rgb(w=16, h=16), lambda c: c.empty_scatter(),
                                                fields={"fp16": True}),
         "ModelError", "network_path", "graph", "Use ORT_CPU", plugins=("ov",)),
    Case("r4-trt-rtx-topk-beyond-3840-build", build("TRT_RTX", lambda c: c.topk_of_all(), 3, 64), "TilingError",
         "tilesize", "64", "its TopK 'topk_all' takes K=4096 at 64x64; use a smaller tile, e.g. tilesize=(56, 56)"),
    Case("r4-trt-topk-beyond-3840", run("TRT_RTX", lambda c: c.rgb(w=64, h=64), lambda c: c.topk_of_all(), 0, 64),
         "TilingError", "tilesize", "(64, 64)", "keeps at most 3840 values (TensorRT's limit)"),
    # arithmetic: tiles a multiple cannot give are refused with the real bound
    Case("r4-tiles-beyond-the-bound", run("ORT_CPU", lambda c: c.rgb(w=28, h=28), conv33, tiles=(5, 1), multiple=7),
         "TilingError", "tiles", "(5, 1)", "at most 4 tiles across a width of 28 pixels"),
]

BY_ID = {case.id: case for case in CASES}


# -- running one row ------------------------------------------------------------------------------------------------
class PluginReached(BaseException):
    """Raised by the spy when ``core.<ns>.Model`` is called in-process (the call is not made)."""


class _Model:
    def __init__(self, real: Any, namespace: str, calls: list[str], call_through: bool) -> None:
        self._real, self._namespace, self._calls, self._through = real, namespace, calls, call_through
        self.signature = real.signature

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._calls.append(self._namespace)
        if not self._through:
            raise PluginReached(f"core.{self._namespace}.Model was called")
        return self._real(*args, **kwargs)


class _Plugin:
    """``core.<ns>`` with ``Model`` spied on; its query functions (Version, DeviceProperties...) pass through."""

    def __init__(self, real: Any, namespace: str, calls: list[str], call_through: bool) -> None:
        self._real, self._namespace, self._calls, self._through = real, namespace, calls, call_through

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        return _Model(attr, self._namespace, self._calls, self._through) if name == "Model" else attr


FACTS = ("models/", "fp16/", "sizes/")
"""Cache folders of records that are true whatever the call did: the model memo (the facts of a model that was
read), the fp16 guard's analysis of a model and the sizes a model takes. Nothing else may be left by a failed call."""
MARKER = ".vsinfer-cache"
"""The file the store writes in a cache root it creates (maintenance refuses a root without it): no artifact."""


def _leftovers(cache: Path) -> list[str]:
    """Files in the cache but the FACTS records."""
    if not cache.exists():
        return []
    files = [p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()]
    return sorted(f for f in files if f != MARKER and not (f.startswith(FACTS) and f.endswith(".json")))


def execute(case: Case, tmp: Path, *, call_through: bool) -> dict[str, Any]:
    """Run one row in this process; what happened, as JSON-ready facts."""
    import vsinfer.backends.call as call_module
    import vsinfer.plugins as plugins_module

    cache = tmp / "cache"
    os.environ["VSINFER_CACHE_DIR"] = str(cache)
    calls: list[str] = []
    real_get = plugins_module.get_plugin
    saved = (call_module.get_plugin, plugins_module.get_plugin)

    def spy_get(namespace: str) -> Any:
        return _Plugin(real_get(namespace), namespace, calls, call_through)

    call_module.get_plugin = spy_get  # type: ignore[assignment]
    plugins_module.get_plugin = spy_get  # type: ignore[assignment]
    error: BaseException | None = None
    try:
        result = case.call(Ctx(tmp))
        if call_through:  # a plugin may crash only when a frame is made: make one of each output
            for clip in result if isinstance(result, list) else [result]:
                if hasattr(clip, "get_frame"):
                    clip.get_frame(0)
    except PluginReached:
        pass
    except Exception as exc:
        error = exc
    finally:
        call_module.get_plugin, plugins_module.get_plugin = saved  # type: ignore[assignment]
    from vsinfer import errors

    expected_type = getattr(errors, case.error, None)  # None: an older vsinfer, measured for comparison
    return {
        "id": case.id,
        "plugin_called": calls,
        "error_type": None if error is None else f"{type(error).__module__}.{type(error).__qualname__}",
        "is_expected_type": expected_type is not None and isinstance(error, expected_type),
        "is_vsinfer": error is not None and isinstance(error, errors.VsinferError),
        "is_plugin_error": error is not None and (isinstance(error, getattr(errors, "PluginError", ()))
                                                  or type(error).__module__ == "vapoursynth"),
        "message": "" if error is None else str(error),
        "leftovers": _leftovers(cache),
    }


def child(case_id: str, tmp: str) -> None:
    """Subprocess entry: run one row calling through to the plugin; write the facts to ``<tmp>/outcome.json``."""
    outcome = execute(BY_ID[case_id], Path(tmp), call_through=True)
    (Path(tmp) / "outcome.json").write_text(json.dumps(outcome))


def run_isolated(case: Case, tmp: Path, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Run one row in its own process; a signal or no outcome is a crash, the timeout a hang."""
    path = [p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT)) if p]  # a given PYTHONPATH first: see main()
    env = os.environ | case.env | {"PYTHONPATH": os.pathsep.join(path)}
    code = f"from tests.test_bad_inputs import child; child({case.id!r}, {str(tmp)!r})"
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"id": case.id, "hang": True, "seconds": time.monotonic() - start}
    result = tmp / "outcome.json"
    if not result.exists():
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1:] or [""]
        return {"id": case.id, "crash": True, "returncode": proc.returncode, "stderr": last[0][-300:]}
    outcome: dict[str, Any] = json.loads(result.read_text())
    return outcome


def problems(case: Case, outcome: dict[str, Any]) -> list[str]:
    """Why the outcome falls short of the standard (empty when the error is clear)."""
    if outcome.get("hang"):
        return [f"hung (killed after {TIMEOUT} s)"]
    if outcome.get("crash"):
        return [f"crashed (exit status {outcome['returncode']}); last line of stderr: {outcome['stderr']}"]
    found: list[str] = []
    if outcome["plugin_called"]:
        found.append(f"the plugin was called: core.{outcome['plugin_called'][0]}.Model")
    if outcome["error_type"] is None:
        found.append("no error was raised")
        return found
    message = outcome["message"]
    if not outcome["is_expected_type"]:
        found.append(f"raised {outcome['error_type']}, expected vsinfer.errors.{case.error}: {message}")
    for what, text in (("parameter", case.parameter), ("value", case.value), ("expectation", case.expected)):
        if text not in message:
            found.append(f"the message lacks the {what} {text!r}: {message}")
    found += [f"the message holds {text!r}: {message}" for text in case.absent if text in message]
    if outcome["leftovers"]:
        found.append(f"left in the cache: {outcome['leftovers']}")
    return found


def classify(case: Case, outcome: dict[str, Any]) -> str:
    """clear / unclear / leaked / crash / silent (a hang counts as a crash, as in issue 8)."""
    if outcome.get("hang") or outcome.get("crash"):
        return "crash"
    if outcome["error_type"] is None:
        return "silent"
    if outcome["plugin_called"] or outcome["is_plugin_error"]:
        return "leaked"
    return "clear" if not problems(case, outcome) else "unclear"


# -- pytest ---------------------------------------------------------------------------------------------------------
def _params() -> Iterator[Any]:
    for case in CASES:
        yield pytest.param(case, id=case.id)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input(case: Case, tmp_path: Path, isolated_cache: Path) -> None:
    from tests.conftest import need_plugin

    for namespace in case.plugins:
        need_plugin(namespace)
    # execute() points VSINFER_CACHE_DIR at tmp_path/cache; the isolated_cache fixture restores it afterwards
    outcome = run_isolated(case, tmp_path) if case.isolate else execute(case, tmp_path, call_through=False)
    found = problems(case, outcome)
    assert not found, "\n".join(found)


def test_the_table_covers_at_least_100_kinds() -> None:
    assert len(CASES) >= 100
    assert len(BY_ID) == len(CASES), "row ids must be unique"


def test_the_spy_sees_a_plugin_call(tmp_path: Path) -> None:
    """A row whose input is fine reaches the plugin, and the harness says so (the table's checks can fail)."""
    from tests.conftest import need_plugin

    need_plugin("ort")
    case = Case("fine", run("ORT_CPU", rgb, conv33), "ClipError", "clips", "x", "y")
    outcome = execute(case, tmp_path, call_through=False)
    assert outcome["plugin_called"] == ["ort"] and outcome["error_type"] is None
    assert classify(case, outcome) == "silent"
    assert problems(case, outcome)[0] == "the plugin was called: core.ort.Model"


# -- the count ------------------------------------------------------------------------------------------------------
def main() -> None:
    """Run every row in its own process (calling through to the plugin) and print the count.

    ``PYTHONPATH=<another checkout>/src python -m tests.test_bad_inputs`` measures another version of vsinfer with
    the same table (rows whose error class it lacks then count as unclear at best).
    """
    from tests.conftest import need_plugin

    counts: dict[str, int] = {k: 0 for k in ("clear", "unclear", "leaked", "crash", "silent", "skipped")}
    lines: list[str] = []
    for case in CASES:
        try:
            for namespace in case.plugins:
                need_plugin(namespace)
        except pytest.skip.Exception as exc:
            counts["skipped"] += 1
            lines.append(f"skipped  {case.id}: {exc}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_isolated(case, Path(tmp))
        kind = classify(case, outcome)
        counts[kind] += 1
        if kind != "clear":
            lines.append(f"{kind:8} {case.id}: {'; '.join(problems(case, outcome))[:400]}")
        print(f"{kind:8} {case.id}", file=sys.stderr, flush=True)
    print("\n".join(lines))
    total = sum(counts.values())
    print(f"{total} kinds: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


if __name__ == "__main__":
    main()
