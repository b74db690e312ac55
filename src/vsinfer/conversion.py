"""fp16 / bf16 conversion of ONNX models before an engine build, cached in the store.

fp16 uses onnxconverter-common (op-type and node-name block lists). bf16 reuses its graph rewrite and then
retypes the half tensors to bfloat16, taking the weights from the original float32 values (so the fp16
range clamp does not touch them). Both give float16 graph IO, which is what the clip is converted to.
Converted models are keyed by the source model's checksum and the options, never by node names in file
names ("/body/conv0/Conv" is a fine block-list entry).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import Store

if TYPE_CHECKING:
    import onnx

    from .model import ModelInfo

__all__ = [
    "check_block_list", "convert_model", "inline_external_data", "single_output", "split_block_list",
    "without_identity",
]

logger = logging.getLogger(__name__)

FLOAT32_ONLY_OPS = ("QuantizeLinear", "DequantizeLinear")
"""Op types whose float inputs stay float32 in an fp16 conversion: Q/DQ scales, at every opset. Before opset 19
float16 scales are invalid; from 19 on they are allowed but move values across quantization steps, layer after
layer (0.12 from float32 on the zoo's INT8 compact model at opsets 19 and 21, against 8.7e-3 with float32 scales)."""

FLOAT, FLOAT16, BFLOAT16 = 1, 10, 16
BF16_OPSET = 22  # the first opset whose Conv, Gemm, ... accept bfloat16


def split_block_list(model: onnx.ModelProto, names: Sequence[str], where: str = "the model"
                     ) -> tuple[list[str], list[str]]:
    """Sort block-list entries into op types and node names present in ``model``.

    One backend description is shared across models, so an entry that is an ONNX op type this model does not
    use is simply not needed here; an entry that is neither an op type nor a node name of ``model`` is logged
    as a warning naming it, and ignored.
    """
    from onnx import defs

    nodes_all = _all_nodes(model.graph)
    op_types = {n.op_type for n in nodes_all}
    node_names = {n.name for n in nodes_all}
    ops = [n for n in names if n in op_types]
    nodes = [n for n in names if n in node_names and n not in op_types]
    unknown = [n for n in names if n not in op_types and n not in node_names and not defs.has(n)]
    if unknown:
        logger.warning("fp16_blacklist_ops: %s %s neither an ONNX op type nor a node name of %s; ignored "
                       "(its op types: %s; node names such as %s)", ", ".join(map(repr, unknown)),
                       "is" if len(unknown) == 1 else "are", where, sorted(op_types), sorted(node_names)[:3])
    return ops, nodes


def _all_nodes(graph: Any) -> list[Any]:
    nodes = list(graph.node)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                nodes.extend(_all_nodes(attr.g))
    return nodes


def _to_half(model: onnx.ModelProto, block_list: Sequence[str], keep_io_types: bool, where: str = "the model"
             ) -> onnx.ModelProto:
    from onnxconverter_common import float16

    ops, nodes = split_block_list(model, block_list, where)
    ops += [op for op in FLOAT32_ONLY_OPS if op not in ops]
    _fold_int32_dequantize(model)
    blocked_ops, blocked_nodes = set(float16.DEFAULT_OP_BLOCK_LIST) | set(ops), set(nodes)
    _split_shared_constants(model, blocked_ops, blocked_nodes)
    float_io = {v.name for v in (*model.graph.input, *model.graph.output) if v.type.tensor_type.elem_type == FLOAT}
    own_casts = _name_float_casts(model)
    with warnings.catch_warnings(record=True) as caught:  # its "values will be truncated" notes go to the log
        warnings.simplefilter("always")
        converted: onnx.ModelProto = float16.convert_float_to_float16(
            model,
            keep_io_types=keep_io_types,
            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + ops,
            node_block_list=nodes,
        )
    for note in {str(w.message) for w in caught}:
        logger.debug("fp16 conversion of %s: %s", where, note)
    _follow_own_casts(converted, own_casts, blocked_ops, blocked_nodes)
    if keep_io_types:
        _restore_float_outputs(converted, float_io)
    return converted


def _split_shared_constants(model: onnx.ModelProto, kept_ops: set[str], kept_nodes: set[str]) -> None:
    """Give the float32 nodes their own copy of a float32 initializer they share with nodes converted to fp16.

    onnxconverter-common types a shared initializer once: float16 for one reader, so the node kept in float32
    gets a float16 input beside a float32 one, and the runtime refuses the model ("Type parameter (T) of Optype
    (Mul) bound to different types"; upstream onnxconverter-common PR #329). A copy per precision avoids it.
    """
    from onnx import TensorProto

    graph = model.graph
    inits = {i.name: i for i in graph.initializer if i.data_type == FLOAT}
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in dict.fromkeys(node.input):
            if name in inits:
                readers.setdefault(name, []).append(node)
    for name, nodes in readers.items():
        kept = [n for n in nodes if n.op_type in kept_ops or n.name in kept_nodes]
        if not kept or len(kept) == len(nodes):
            continue
        copy = TensorProto()
        copy.CopyFrom(inits[name])
        copy.name = f"{name}_float32"
        graph.initializer.append(copy)
        for node in kept:
            node.input[:] = [copy.name if i == name else i for i in node.input]


def _fold_int32_dequantize(model: onnx.ModelProto) -> None:
    """Replace ``DequantizeLinear`` of int32 constants (quantized biases) by their float32 values.

    onnxruntime's ``quantize_static`` stores biases as int32 with a DequantizeLinear; TensorRT's parser takes
    DequantizeLinear of 8-bit (and smaller) integers only ("Invalid Node"). The float32 bias is the same value.
    """
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    folded = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(n in inits for n in node.input if n):
            continue
        x = inits[node.input[0]]
        if x.data_type != 6:  # INT32
            continue
        values = numpy_helper.to_array(x).astype(np.float64)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        zero = (numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
                if len(node.input) > 2 and node.input[2] else 0.0)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if np.ndim(scale) == 1 and values.ndim > 1:  # per-axis: line the scale up with ``axis``
            shape = [1] * values.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
        result = ((values - zero) * scale).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(result, node.output[0]))
        folded.append(node)
    for node in folded:
        graph.node.remove(node)


def _to_attr(node: Any) -> Any:
    return next((a for a in node.attribute if a.name == "to"), None)


def _name_float_casts(model: onnx.ModelProto) -> set[str]:
    """The names of the model's own ``Cast(to=float)`` nodes (unnamed ones get a name, so they can be found)."""
    names = set()
    for index, node in enumerate(_all_nodes(model.graph)):
        to = _to_attr(node)
        if node.op_type == "Cast" and to is not None and to.i == FLOAT:
            if not node.name:
                node.name = f"vsinfer_cast_{index}"
            names.add(node.name)
    return names


def _follow_own_casts(model: onnx.ModelProto, names: set[str], blocked_ops: set[str], blocked_nodes: set[str]
                      ) -> None:
    """Make the model's own ``Cast(to=float)`` nodes cast to float16 where the conversion made their output half.

    onnxconverter-common types every float tensor of the fp16 region half but leaves a ``Cast(to=float)`` of the
    model (LayerNorm, softmax, attention masks and position biases in SwinIR / HAT / DAT) as it is: its float32
    output then meets half tensors, which a strongly typed parser (TensorRT, TensorRT-RTX) rejects ("must have
    same input types"). Such a Cast now casts to float16, as its output's type says. A Cast the block list keeps
    in float32 stays, and so does one whose output has no inferred type and feeds a node kept in float32.
    """
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output)}
    consumers: dict[str, list[Any]] = {}
    nodes = _all_nodes(graph)
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {v.name for v in graph.output}
    for node in nodes:
        to = _to_attr(node)
        if node.name not in names or node.name in blocked_nodes or "Cast" in blocked_ops or to is None:
            continue
        out = node.output[0]
        known = types.get(out)
        if known == FLOAT16 or (known is None and out not in outputs and not any(
                c.op_type in blocked_ops or c.name in blocked_nodes for c in consumers.get(out, []))):
            to.i = FLOAT16


def _restore_float_outputs(model: onnx.ModelProto, float_io: set[str]) -> None:
    """Make float32 graph outputs float32 again where the converter left them half.

    With ``keep_io_types`` onnxconverter-common still types an output half when a blocked (float32) node
    produces it, through a Cast to float16 of its own: that Cast now casts to float32 instead (no rounding of
    what was kept in float32 on purpose) unless nodes inside read its output too; any other half producer gets
    a Cast to float32 after it.
    """
    from onnx import helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    for value in graph.output:  # the converter's output Cast(to=float): readers inside get the half value back
        node = producers.get(value.name)
        to = _to_attr(node) if node is not None else None
        if node is not None and node.op_type == "Cast" and to is not None and to.i == FLOAT \
                and node.name.endswith(f"_cast_to_{value.name}"):
            for other in graph.node:
                if other is not node:
                    other.input[:] = [node.input[0] if n == value.name else n for n in other.input]
    read = {name for node in graph.node for name in node.input}
    for value in graph.output:
        tensor_type = value.type.tensor_type
        if value.name not in float_io or tensor_type.elem_type != FLOAT16:
            continue
        node = producers.get(value.name)
        to = _to_attr(node) if node is not None else None
        # a Cast whose output the graph also reads inside (FBCNN's quality factor) must stay half for those readers
        if node is not None and node.op_type == "Cast" and to is not None and to.i == FLOAT16 \
                and value.name not in read:
            to.i = FLOAT
        else:
            inner = f"{value.name}__half"
            for other in graph.node:
                other.output[:] = [inner if n == value.name else n for n in other.output]
                other.input[:] = [inner if n == value.name else n for n in other.input]
            graph.value_info.append(helper.make_tensor_value_info(inner, FLOAT16, None))
            graph.node.append(helper.make_node("Cast", [inner], [value.name], to=FLOAT, name=f"{inner}_cast"))
        tensor_type.elem_type = FLOAT


def _to_bf16(model: onnx.ModelProto, block_list: Sequence[str], half_io: bool, where: str = "the model"
             ) -> onnx.ModelProto:
    import numpy as np
    from onnx import numpy_helper, version_converter

    if model.opset_import and max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < BF16_OPSET:
        model = version_converter.convert_version(model, BF16_OPSET)
    originals = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    half = _to_half(model, block_list, True, where)  # float32 IO, half inside, casts at the edges
    graph = half.graph
    for init in graph.initializer:
        if init.data_type == FLOAT16:
            source = originals.get(init.name)
            values = source if source is not None and source.dtype == np.float32 else numpy_helper.to_array(init)
            init.CopyFrom(_bf16_tensor(values, init.name))
    for node in _all_nodes(graph):
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == FLOAT16:
                attr.i = BFLOAT16
            if attr.HasField("t") and attr.t.data_type == FLOAT16:  # Constant nodes
                attr.t.CopyFrom(_bf16_tensor(numpy_helper.to_array(attr.t), attr.t.name))
    for info in list(graph.value_info):
        if info.type.tensor_type.elem_type == FLOAT16:
            info.type.tensor_type.elem_type = BFLOAT16
    return _half_io(half) if half_io else half


def _bf16_tensor(values: Any, name: str) -> onnx.TensorProto:
    import ml_dtypes
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=np.float32).astype(ml_dtypes.bfloat16), name)


def _half_io(model: onnx.ModelProto) -> onnx.ModelProto:
    """Wrap float32 graph IO in casts so the engine takes and gives float16 (a 16-bit float clip)."""
    from onnx import helper

    graph = model.graph
    for values, is_input in ((graph.input, True), (graph.output, False)):
        for value in values:
            if value.type.tensor_type.elem_type != FLOAT:
                continue
            outer, inner = value.name, f"{value.name}__f32"
            for node in _all_nodes(graph):  # the float32 graph now reads / writes the inner name
                names = node.input if is_input else node.output
                names[:] = [inner if n == outer else n for n in names]
            if is_input:
                graph.node.insert(0, helper.make_node("Cast", [outer], [inner], to=FLOAT, name=f"{inner}_cast"))
            else:
                graph.node.append(helper.make_node("Cast", [inner], [outer], to=FLOAT16, name=f"{inner}_cast"))
            value.type.tensor_type.elem_type = FLOAT16
    return model


def convert_model(
    model: ModelInfo, precision: str, block_list: Collection[str], store: Store, *, io: str = "fp16"
) -> Path:
    """The ``precision`` ("fp16" or "bf16") version of ``model``, converted once and kept in the store.

    ``io`` is the graph IO type: "fp16" (a 16-bit float clip) or "fp32" (float32 IO, casts inside).
    """
    import onnx

    identity = {"source_crc32": model.checksum, "precision": precision, "block_list": sorted(block_list), "v": 3}
    if io != "fp16":
        identity["io"] = io

    def create(tmp: Path) -> bytes:
        logger.info("converting %s to %s", model.path, precision)
        proto = onnx.load(model.path)
        names = sorted(block_list)
        half_io = io == "fp16"
        where = Path(model.path).name
        converted = (_to_bf16(proto, names, half_io, where) if precision == "bf16"
                     else _to_half(proto, names, not half_io, where))
        onnx.checker.check_model(converted)
        data: bytes = converted.SerializeToString()
        return data  # the store writes it, checksummed

    prefix = f"{model.checksum:08x}-{precision}" + ("" if io == "fp16" else f"-{io}io")
    meta = {"model": Path(model.path).name, "precision": precision, "io": io, "fp16_blacklist_ops": sorted(block_list),
            "source_crc32": model.checksum, "kind": "converted model"}
    return store.get_or_create("onnx", ".onnx", identity, create, prefix=prefix, meta=meta)


_block_lists_seen: set[tuple[int, tuple[str, ...]]] = set()


def check_block_list(model: ModelInfo, names: Collection[str], where: str) -> None:
    """Warn (once per model and list) about block-list entries that mean nothing for this model.

    For the families whose plugin converts the model itself and ignores such entries silently. One backend
    description serves several models, so an ONNX op type this model lacks is fine; an entry that is neither an
    ONNX op type nor a node name of the model is logged as a warning naming it (``split_block_list``'s rule).
    Never an error.
    """
    key = (model.checksum, tuple(names))
    if not names or key in _block_lists_seen:
        return
    _block_lists_seen.add(key)
    import onnx

    try:
        proto = onnx.load_model(model.path, load_external_data=False)
    except Exception as exc:  # the warning is a courtesy: never stop a run for it
        logger.debug("could not read %s for its block list: %s", model.path, exc)
        return
    split_block_list(proto, list(names), f"{where} {model.path}")


def without_identity(model: ModelInfo, store: Store) -> Path:
    """A copy of ``model`` without its ``Identity`` nodes (each reader reads the Identity's input), kept in the store.

    torch's exporter writes ``Identity`` nodes for weights a network shares (Real-ESRGAN compact's PReLU slopes);
    some converters (core.ncnn's) have no rule for them. An Identity whose output is a graph output stays.
    """
    import onnx

    identity = {"source_crc32": model.checksum, "rewrite": "without_identity", "v": 1}

    def create(tmp: Path) -> bytes:
        proto = onnx.load(model.path)
        graphs = [proto.graph]
        while graphs:
            graph = graphs.pop()
            outputs = {v.name for v in graph.output}
            gone = {n.output[0]: n.input[0] for n in graph.node
                    if n.op_type == "Identity" and n.output[0] not in outputs}
            kept = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in gone)]
            for node in kept:
                node.input[:] = [_follow(gone, name) for name in node.input]
                for attr in node.attribute:
                    graphs.extend([attr.g] if attr.HasField("g") else [])
                    graphs.extend(attr.graphs)
            del graph.node[:]
            graph.node.extend(kept)
        onnx.checker.check_model(proto)
        data: bytes = proto.SerializeToString()
        return data

    prefix = f"{model.checksum:08x}-noidentity"
    meta = {"model": Path(model.path).name, "source_crc32": model.checksum, "kind": "model without Identity nodes"}
    return store.get_or_create("onnx", ".onnx", identity, create, prefix=prefix, meta=meta)


def _follow(gone: dict[str, str], name: str) -> str:
    """The tensor a chain of removed Identity nodes reads."""
    seen = set()
    while name in gone and name not in seen:
        seen.add(name)
        name = gone[name]
    return name


def inline_external_data(model: ModelInfo, store: Store) -> Path:
    """A single-file copy of ``model`` with its external data inside, kept in the store.

    core.ort and core.ov read the ``.onnx`` bytes alone, so a model whose weights live in ``.data`` files beside it
    cannot run there as it is; the copy's identity is the source's content (its digest covers the external files).
    """
    identity = {"source_crc32": model.checksum, "rewrite": "inline_external_data", "v": 1}

    def create(tmp: Path) -> bytes:
        import onnx  # only when the copy is made: a cache hit never imports it

        proto = onnx.load(model.path, load_external_data=True)
        for tensor in proto.graph.initializer:
            tensor.ClearField("data_location")
            del tensor.external_data[:]
        data: bytes = proto.SerializeToString()
        return data

    meta = {"model": Path(model.path).name, "source_crc32": model.checksum, "kind": "model with its data inline"}
    return store.get_or_create("onnx", ".onnx", identity, create, prefix=f"{model.checksum:08x}-inline", meta=meta)


def single_output(model: ModelInfo, output: str, store: Store) -> Path:
    """A copy of ``model`` that computes only its output ``output`` (nodes only the others need are dropped)."""
    identity = {"source_crc32": model.checksum, "rewrite": "single_output", "output": output, "v": 1}

    def create(tmp: Path) -> bytes:
        import onnx  # only when the copy is made: a cache hit never imports it

        proto = onnx.load(model.path)
        graph = proto.graph
        needed = {output}
        kept = []
        for node in reversed(graph.node):  # graph order is topological: walk back from the output
            if any(o in needed for o in node.output):
                kept.append(node)
                needed.update(i for i in node.input if i)
                for attr in node.attribute:  # names a subgraph reads from the outer scope
                    for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                        needed.update(i for n in sub.node for i in n.input if i)
        keep_outputs = [o for o in graph.output if o.name == output]
        del graph.output[:]
        graph.output.extend(keep_outputs)
        nodes = list(reversed(kept))
        del graph.node[:]
        graph.node.extend(nodes)
        inits = [t for t in graph.initializer if t.name in needed]
        del graph.initializer[:]
        graph.initializer.extend(inits)
        onnx.checker.check_model(proto)
        data: bytes = proto.SerializeToString()
        return data

    meta = {"model": Path(model.path).name, "source_crc32": model.checksum, "kind": f"model with output {output!r}"}
    return store.get_or_create("onnx", ".onnx", identity, create, prefix=f"{model.checksum:08x}-output", meta=meta)
