"""Crafted float32 models whose activations overflow float16 at different depths, and one that does not.

Every model maps 3 planes in 0..1 to 3 planes of ordinary picture values (the Resize one doubles the size);
only values inside them leave float16's range. ``EXPECTED`` lists the nodes the guard must keep in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

Node = onnx.NodeProto


def _save(path: Path, nodes: list[Node], weights: dict[str, np.ndarray], scale: int = 1) -> Path:
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 3, "H" if scale > 1 else "h",
                                                                         "W" if scale > 1 else "w"])],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _conv(name: str, x: str, w: str, out: str, k: int = 3) -> Node:
    return helper.make_node("Conv", [x, w], [out], pads=[k // 2] * 4, name=name)


def _big(rng: np.random.Generator, cout: int, cin: int, k: int = 3, gain: float = 4000.0) -> np.ndarray:
    """Positive weights: a bright picture drives the output to ~ gain * cin * k * k (past 65504)."""
    return gain * (0.8 + 0.4 * rng.random((cout, cin, k, k)))


def _small(rng: np.random.Generator, cout: int, cin: int, k: int = 1, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal((cout, cin, k, k))


def single(path: Path) -> Path:
    """One overflowing Conv (up to ~1e5) read by a 1x1 Conv that brings the values back to 0..1."""
    rng = np.random.default_rng(1)
    nodes = [_conv("/big/Conv", "input", "W0", "big"), _conv("/out/Conv", "big", "W1", "output", k=1)]
    return _save(path, nodes, {"W0": _big(rng, 4, 3), "W1": 2.5e-6 * (0.5 + rng.random((3, 4, 1, 1)))})


def chain(path: Path) -> Path:
    """Conv -> Relu (normal range), then Conv -> Relu -> Conv in overflow, then a Conv that scales back."""
    rng = np.random.default_rng(2)
    nodes = [
        _conv("/head/Conv", "input", "W0", "h0"),
        helper.make_node("Relu", ["h0"], ["h1"], name="/head/Relu"),
        _conv("/body/conv1/Conv", "h1", "W1", "b0", k=1),
        helper.make_node("Relu", ["b0"], ["b1"], name="/body/Relu"),
        _conv("/body/conv2/Conv", "b1", "W2", "b2", k=1),
        _conv("/tail/Conv", "b2", "W3", "output"),
    ]
    w0 = np.abs(_small(rng, 8, 3, k=3, scale=0.5))  # up to ~ 10 on white
    w1 = 1200.0 * (0.8 + 0.4 * rng.random((8, 8, 1, 1)))  # ~ 8 * 1200 * 10: ~ 1e5
    w2 = np.eye(8).reshape(8, 8, 1, 1) * 0.9 + np.abs(_small(rng, 8, 8, scale=0.02))
    w3 = 1e-6 * (0.5 + rng.random((3, 8, 3, 3)))
    return _save(path, nodes, {"W0": w0, "W1": w1, "W2": w2, "W3": w3})


def residual(path: Path) -> Path:
    """Two branches of ~2e4 that cancel in a residual Add: in float16 they round by 16, the sum is noise."""
    rng = np.random.default_rng(3)
    w0 = _big(rng, 3, 3, gain=700.0)  # ~ 27 * 700 = 1.9e4 on white: fits float16, but rounded by 16
    w1 = -w0 + _small(rng, 3, 3, k=3, scale=0.05)
    nodes = [
        _conv("/branch_a/Conv", "input", "W0", "a"),
        _conv("/branch_b/Conv", "input", "W1", "b"),
        helper.make_node("Add", ["a", "b"], ["s"], name="/residual/Add"),
        _conv("/tail/Conv", "s", "W2", "output", k=1),
    ]
    return _save(path, nodes, {"W0": w0, "W1": w1, "W2": np.eye(3).reshape(3, 3, 1, 1)})


def resize(path: Path) -> Path:
    """An overflowing Conv, a 2x Resize of the overflowing values, and a Conv that scales back (2x output)."""
    rng = np.random.default_rng(4)
    nodes = [
        _conv("/big/Conv", "input", "W0", "big"),
        helper.make_node("Resize", ["big", "", "scales"], ["up"], mode="linear", name="/up/Resize"),
        _conv("/out/Conv", "up", "W1", "output", k=1),
    ]
    weights = {"W0": _big(rng, 4, 3), "W1": 2.5e-6 * (0.5 + rng.random((3, 4, 1, 1))),
               "scales": np.array([1, 1, 2, 2])}
    return _save(path, nodes, weights, scale=2)


def safe(path: Path) -> Path:
    """Three Convs with Relus whose values stay below ~10: nothing to block."""
    rng = np.random.default_rng(5)
    nodes = [
        _conv("/c0/Conv", "input", "W0", "a"),
        helper.make_node("Relu", ["a"], ["b"], name="/c0/Relu"),
        _conv("/c1/Conv", "b", "W1", "c"),
        helper.make_node("Relu", ["c"], ["d"], name="/c1/Relu"),
        _conv("/c2/Conv", "d", "W2", "output"),
    ]
    return _save(path, nodes, {"W0": _small(rng, 8, 3, 3, 0.3), "W1": _small(rng, 8, 8, 3, 0.1),
                               "W2": _small(rng, 3, 8, 3, 0.1)})


def negative(path: Path) -> Path:
    """A Conv whose values reach -1e5 but only a Relu reads them: -inf in float16 still becomes 0, nothing to block."""
    rng = np.random.default_rng(6)
    nodes = [
        _conv("/neg/Conv", "input", "W0", "neg"),
        helper.make_node("Relu", ["neg"], ["zero"], name="/neg/Relu"),
        helper.make_node("Add", ["zero", "input"], ["output"], name="/skip/Add"),
    ]
    return _save(path, nodes, {"W0": -_big(rng, 3, 3)})


def constant(path: Path) -> Path:
    """x * 15000 * (1 / 15000): no value overflows, but the converter clamps the constant 15000 to 10000."""
    nodes = [helper.make_node("Mul", ["input", "C"], ["scaled"], name="/scale/Mul"),
             helper.make_node("Mul", ["scaled", "D"], ["output"], name="/unscale/Mul")]
    return _save(path, nodes, {"C": np.array([15000.0]), "D": np.array([1 / 15000.0])})


def unnamed(path: Path) -> Path:
    """``single`` with nodes that have no names (a node block list cannot name them)."""
    single(path)
    model = onnx.load(path)
    for node in model.graph.node:
        node.name = ""
    onnx.save(model, path)
    return path


MODELS: dict[str, Callable[[Path], Path]] = {
    "single": single, "chain": chain, "residual": residual, "resize": resize, "safe": safe, "negative": negative,
}
EXPECTED: dict[str, set[str]] = {
    "single": {"/big/Conv", "/out/Conv"},
    "chain": {"/body/conv1/Conv", "/body/Relu", "/body/conv2/Conv", "/tail/Conv"},
    "residual": {"/branch_a/Conv", "/branch_b/Conv", "/residual/Add"},
    "resize": {"/big/Conv", "/up/Resize", "/out/Conv"},
    "safe": set(),
    "negative": set(),
}
"""The nodes the guard must keep in float32, per model."""
