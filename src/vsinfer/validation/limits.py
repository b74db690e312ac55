"""What a runtime cannot take in a model's graph, read from the graph before its plugin or builder sees it.

A backend family declares its limits as data (``graph_limits``, a tuple of ``GraphLimit``); ``check_graph_limits``
checks them for one model at one tile size and raises a ModelError (or a TilingError, where a smaller tile is the
cure) naming the node, what the runtime needs, and what to do. The graph is read (and its shapes inferred at the tile
size) only for models that hold an op some limit is about, once per model and tile size in a process.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, TilingError
from ..model import ModelInfo, graph_ops

if TYPE_CHECKING:
    import onnx

__all__ = ["EmptyScatterUpdates", "GraphLimit", "InferredGraph", "TopKLimit", "check_graph_limits", "inferred_graph"]

logger = logging.getLogger(__name__)

Pair = tuple[int, int]
Dims = tuple[int | None, ...]


@dataclass(frozen=True)
class InferredGraph:
    """A model's nodes with the shapes (and small constant values) ONNX shape inference finds at one input size."""

    nodes: tuple[Any, ...]
    """The graph's ``onnx.NodeProto`` (top level)."""
    shapes: dict[str, Dims]
    """Tensor name -> dims (None for a dim inference could not fix); absent when even the rank is unknown."""
    values: dict[str, tuple[int, ...]]
    """Small integer constants (initializers, Constant nodes) by tensor name: a K, a shape."""
    constants: dict[str, tuple[int, ...]]
    """The dims of every constant (initializers, Constant nodes) by tensor name."""
    opset: int
    """The default domain's opset (to evaluate a small part of the graph)."""


class GraphLimit:
    """A rule a runtime imposes on a graph; ``problem`` says what breaks it at a tile size (None: nothing)."""

    op_types: frozenset[str] = frozenset()
    """The op types the rule is about: the graph is read only when the model holds one."""

    def problem(self, graph: InferredGraph, model: ModelInfo, tilesize: Pair,
                where: str) -> ModelError | TilingError | None:
        """The error for this model at ``tilesize``, or None."""
        raise NotImplementedError


@dataclass(frozen=True)
class TopKLimit(GraphLimit):
    """TopK may keep at most ``most`` values (TensorRT: 3840; "K exceeds the maximum value allowed")."""

    most: int
    """The largest K the runtime builds."""
    runtime: str
    """The runtime's name, for the message."""
    instead: str
    """The backends that take the model as it is."""
    op_types = frozenset({"TopK"})

    def problem(self, graph: InferredGraph, model: ModelInfo, tilesize: Pair,
                where: str) -> ModelError | TilingError | None:
        """A TopK whose K at ``tilesize`` exceeds ``most``; the cure: a smaller tile, or another backend."""
        for node in graph.nodes:
            if node.op_type != "TopK":
                continue
            k = _topk_k(node, graph)
            if k is None or k <= self.most:
                continue
            name = node.name or node.output[0]
            smaller = _smaller_tile(model, tilesize, k, self.most)
            tile = f"a smaller tile, e.g. tilesize={smaller}, or " if smaller else ""
            return TilingError(
                "tilesize",
                tilesize,
                f"a tile at which every TopK of {model.path} keeps at most {self.most} values ({self.runtime}'s "
                f"limit): its TopK {name!r} takes K={k} at {tilesize[0]}x{tilesize[1]}; use {tile}{self.instead}",
                where=where,
            )
        return None


@dataclass(frozen=True)
class EmptyScatterUpdates(GraphLimit):
    """A ScatterND whose updates are an empty constant (a dim of 0): it scatters nothing, its output is its data.

    OpenVINO's ONNX reader reads an empty constant as a scalar and then refuses the node ("Rank of updates must be
    rank of inputs + rank of indices - last dimension of indices - 1"); onnxruntime runs it.
    torch.onnx.export(dynamo=True) writes such nodes for the slice assignments of a mask (SwinIR's attention mask,
    exported at a size other than its ``img_size``).
    """

    runtime: str
    """The runtime's name, for the message."""
    instead: str
    """The backends that take the model as it is."""
    op_types = frozenset({"ScatterND"})

    def problem(self, graph: InferredGraph, model: ModelInfo, tilesize: Pair,
                where: str) -> ModelError | TilingError | None:
        """The first ScatterND with empty constant updates whose updates ONNX wants of rank > 0."""
        found = [n for n in graph.nodes if n.op_type == "ScatterND" and len(n.input) >= 3
                 and 0 in graph.constants.get(n.input[2], (1,)) and _scatter_rank(n, graph) != 0]
        if not found:
            return None
        first = found[0].name or found[0].output[0]
        return ModelError(
            "network_path",
            model.path,
            f"a model {self.runtime} can read: {len(found)} of its ScatterND nodes (the first {first!r}) scatter an "
            f"empty constant, which {self.runtime}'s ONNX reader takes for a scalar and refuses (such nodes change "
            "nothing; torch.onnx.export(dynamo=True) writes them for a mask built by slice assignment, e.g. "
            f"SwinIR's at a size other than its img_size). Use {self.instead}, or re-export the model with "
            "dynamo=False, or at its img_size",
            where=where,
        )


def _scatter_rank(node: Any, graph: InferredGraph) -> int | None:
    """The rank ONNX wants of a ScatterND's updates: rank(data) + rank(indices) - indices' last dim - 1."""
    data, indices = graph.shapes.get(node.input[0]), graph.shapes.get(node.input[1])
    if data is None or not indices or indices[-1] is None:
        return None
    return len(data) + len(indices) - indices[-1] - 1


def check_graph_limits(limits: Sequence[GraphLimit], model: ModelInfo, tilesize: Pair, where: str) -> None:
    """Raise the first limit ``model`` breaks at ``tilesize`` (``limits``: the backend family's ``graph_limits``)."""
    if not limits:
        return
    ops = set(graph_ops(model).op_types)
    relevant = [limit for limit in limits if limit.op_types & ops]
    if not relevant:
        return
    graph = inferred_graph(model, tilesize)
    if graph is None:
        return
    for limit in relevant:
        error = limit.problem(graph, model, tilesize, where)
        if error is not None:
            raise error


@functools.lru_cache(maxsize=256)
def inferred_graph(model: ModelInfo, tilesize: Pair) -> InferredGraph | None:
    """The model's graph with shapes inferred for an input of ``tilesize`` (w, h); None when it cannot be read.

    Cached per model and tile size in the process.
    """
    return _infer(model, tilesize)


def _infer(model: ModelInfo, tilesize: Pair) -> InferredGraph | None:
    import onnx

    try:
        proto = onnx.load(model.path, load_external_data=False)
        if len(model.inputs) == 1:
            tensor = next(v for v in proto.graph.input if v.name == model.inputs[0].name)
            dims = tensor.type.tensor_type.shape.dim
            if len(dims) == 4:
                concrete = [1, dims[1].dim_value or 1, tilesize[1], tilesize[0]]
                for dim, value in zip(dims, concrete, strict=True):
                    if not dim.HasField("dim_value"):
                        dim.Clear()
                        dim.dim_value = value
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except Exception as exc:  # unreadable here: the runtime says what it finds
        logger.debug("could not infer the shapes of %s: %s", model.path, exc)
        return None
    graph = inferred.graph
    shapes: dict[str, Dims] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        shape = _value_dims(value)
        if shape is not None:
            shapes[value.name] = shape
    values: dict[str, tuple[int, ...]] = {}
    constants: dict[str, tuple[int, ...]] = {}
    for init in graph.initializer:
        dims = tuple(int(d) for d in init.dims)
        constants[init.name] = dims
        shapes[init.name] = dims
        _small_ints(init, values, init.name)
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    dims = tuple(int(d) for d in attr.t.dims)
                    constants[node.output[0]] = dims
                    shapes[node.output[0]] = dims
                    _small_ints(attr.t, values, node.output[0])
    opset = max((o.version for o in inferred.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return InferredGraph(tuple(graph.node), shapes, values, constants, opset)


def _value_dims(value: onnx.ValueInfoProto) -> Dims | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)


def _small_ints(tensor: onnx.TensorProto, values: dict[str, tuple[int, ...]], name: str) -> None:
    """Keep an integer constant of at most 16 values (a K, a shape, an axis list)."""
    from onnx import TensorProto, numpy_helper

    if tensor.data_type not in (TensorProto.INT64, TensorProto.INT32) or math.prod(tensor.dims) > 16:
        return
    try:
        values[name] = tuple(int(v) for v in numpy_helper.to_array(tensor).reshape(-1))
    except Exception:  # external or malformed data: not a value we can read here
        return


def _topk_k(node: Any, graph: InferredGraph) -> int | None:
    """K of a TopK node: its ``k`` attribute, its constant K input, the value of its shape arithmetic, or its size.

    The shape arithmetic K comes from is evaluated with the inferred shapes (``_evaluate``); the last resort is the
    output's size along ``axis``.
    """
    attrs = {a.name: a for a in node.attribute}
    if "k" in attrs:  # opset 1..9
        return int(attrs["k"].i)
    if len(node.input) > 1:
        k = graph.values.get(node.input[1]) or _evaluate(node.input[1], graph)
        if k is not None and len(k) == 1:
            return k[0]
    out = graph.shapes.get(node.output[0])
    if not out:
        return None
    axis = int(attrs["axis"].i) if "axis" in attrs else -1
    return out[axis] if -len(out) <= axis < len(out) else None


_MOST_NODES = 64
"""The most nodes evaluated to find a value (a K computed from the input's shape takes a handful)."""


def _evaluate(name: str, graph: InferredGraph) -> tuple[int, ...] | None:
    """The integer value of ``name`` when it comes from shapes and small constants only; else None.

    Shape of a tensor whose dims were inferred, then Slice, Gather, Mul, Concat ...: evaluated by onnx's reference
    evaluator on that part of the graph alone.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    producers = {out: n for n in graph.nodes for out in n.output}
    constants: dict[str, Any] = {}
    needed: list[Any] = []
    stack, seen = [name], set()
    while stack:
        current = stack.pop()
        if current in seen or not current:
            continue
        seen.add(current)
        if current in graph.values:
            constants[current] = np.array(graph.values[current], np.int64).reshape(graph.constants.get(current, (-1,)))
            continue
        node = producers.get(current)
        if node is None or len(needed) >= _MOST_NODES:
            return None  # a graph input, a large constant, or too far
        if node.op_type == "Shape":
            dims = graph.shapes.get(node.input[0])
            if dims is None or None in dims:
                return None
            attrs = {a.name: a.i for a in node.attribute}
            start, end = attrs.get("start", 0), attrs.get("end", len(dims))
            constants[current] = np.array(dims[slice(start, end if "end" in attrs else None)], np.int64)
            continue
        needed.append(node)
        stack.extend(node.input)
    order = [n for n in graph.nodes if any(n is m for m in needed)]
    try:
        model = helper.make_model(
            helper.make_graph(order, "value", [], [helper.make_tensor_value_info(name, TensorProto.INT64, None)],
                              [numpy_helper.from_array(array, key) for key, array in constants.items()]),
            opset_imports=[helper.make_opsetid("", graph.opset or 17)])
        results: Any = ReferenceEvaluator(model).run(None, {})
        return tuple(int(v) for v in np.asarray(results[0]).reshape(-1))
    except Exception as exc:  # not a value the reference evaluator computes from these: unknown
        logger.debug("could not evaluate %s: %s", name, exc)
        return None


def _smaller_tile(model: ModelInfo, tilesize: Pair, k: int, most: int) -> Pair | None:
    """A tile of about ``tilesize``'s shape, in multiples of 8, at which every TopK keeps at most ``most`` values.

    Tried by shape inference at a few sizes (the area scaled by ``most / k``, then smaller); None when none is found.
    """
    factor = math.sqrt(most / k)
    for _ in range(4):
        width, height = (int(side * factor) // 8 * 8 for side in tilesize)
        if width < 8 or height < 8:
            return None
        graph = inferred_graph(model, (width, height))
        if graph is None:
            return None
        ks = [_topk_k(n, graph) for n in graph.nodes if n.op_type == "TopK"]
        if all(x is not None and x <= most for x in ks):
            return (width, height)
        factor *= 0.8
    return None


def _dims_text(dims: Dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
