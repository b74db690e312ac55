"""Static INT8 Q/DQ quantization with onnxruntime, judged against float32, nodes that cost quality kept in float.

``quantize_static`` (QDQ format, per-channel int8 weights, uint8 activations, min/max calibration) on the
calibration crops; the quantized model is then run beside the float32 one on the held-out crops (PSNR over the
picture's 0..1 range, and the largest difference). Below the bound, a sensitivity pass reads the intermediate
tensors of both models on one small crop and ranks the quantization steps by the error each adds (a tensor's rounding,
a node's weights); the nodes that undo the worst are kept in float and the model quantized again, a few rounds at
most. The node that writes the model's output always stays in float: the clip gets float output.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnx

    Picture = npt.NDArray[np.float32]

__all__ = ["ROUNDS", "Attempt", "Quality", "search"]

logger = logging.getLogger("vsinfer.quantize")

ROUNDS = 4
"""Most sensitivity rounds (each keeps twice as many more nodes in float as the one before)."""
WEIGHTED = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
"""The op types that hold nearly all of a model's arithmetic: what INT8 makes fast."""
MAX_FLOAT_SHARE = 0.5
"""Most of the weighted nodes the sensitivity pass may keep in float: beyond, the model would gain little from INT8."""
FLOAT = 1
SETTINGS = {"format": "QDQ", "weights": "int8 per channel", "activations": "uint8", "calibration": "minmax"}
"""What the quantization is (part of the cache key)."""


@dataclass(frozen=True)
class Quality:
    """The quantized model's output against float32 on the held-out crops."""

    psnr_db: float
    """Peak signal-to-noise ratio over the 0..1 range, in dB (infinite when identical)."""
    max_error: float
    """Largest absolute difference."""


@dataclass(frozen=True)
class Attempt:
    """One quantization tried: what was kept in float and what it measured."""

    model: bytes
    """The quantized ONNX model."""
    excluded: tuple[str, ...]
    """Nodes kept in float."""
    quality: Quality
    """Against float32 on the held-out crops."""


def quality(reference: Sequence[Any], outputs: Sequence[Any]) -> Quality:
    """PSNR (0..1 range) and largest difference of ``outputs`` against ``reference``, over all pictures."""
    import numpy as np

    squared = sum(float(np.sum((o.astype(np.float64) - r) ** 2)) for r, o in zip(reference, outputs, strict=True))
    count = sum(r.size for r in reference)
    worst = max(float(np.max(np.abs(o.astype(np.float64) - r))) for r, o in zip(reference, outputs, strict=True))
    mse = squared / max(count, 1)
    return Quality(math.inf if mse == 0 else 10 * math.log10(1.0 / mse), worst)


def _session(model: bytes | str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _run(session: Any, pictures: Sequence[Picture]) -> list[Any]:
    name = session.get_inputs()[0].name
    return [session.run(None, {name: p[None]})[0] for p in pictures]


def _prepare(source: Path, folder: Path) -> Path:
    """``source`` after onnxruntime's pre-processing (shape inference, graph optimization), as its quantizer asks.

    Everything after works on this graph: its node names are what ``nodes_to_exclude`` and the sensitivity pass see.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = folder / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    return prepared


def _input_name(model: Path) -> str:
    """The name of the model's one graph input (read from the graph: no session is built for it)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    return str(next(i.name for i in graph.input if i.name not in weights))


def _quantize(source: Path, pictures: Sequence[Picture], excluded: Sequence[str], folder: Path) -> bytes:
    """``source`` (prepared) quantized on ``pictures``, the ``excluded`` nodes left in float."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name = _input_name(source)

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
        def __init__(self) -> None:
            self.left = iter(pictures)

        def get_next(self) -> dict[str, Any] | None:
            picture = next(self.left, None)
            return None if picture is None else {name: picture[None]}

    target = folder / f"int8-{len(excluded)}.onnx"
    quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(excluded))
    return target.read_bytes()


def _with_outputs(model: onnx.ModelProto, names: Sequence[str]) -> bytes:
    """``model`` with the tensors ``names`` added to its outputs (float; shape left to the runtime)."""
    from onnx import TensorProto, helper

    present = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                              for n in names if n not in present)
    data: bytes = model.SerializeToString()
    return data


def _costs(source: Path, quantized: bytes, picture: Picture, candidates: Sequence[Any]) -> dict[tuple[str, ...], float]:
    """What each quantization step costs on ``picture``, keyed by the candidate nodes that undo it when kept in float.

    Two kinds of step, measured apart (RMS error against the float model, tensor by tensor):

    - a tensor's rounding to INT8: its dequantized value's error minus its own. The quantizer rounds a tensor when
      any node beside it is quantized, so undoing it keeps its producer and every reader in float;
    - a node's INT8 weights: its output's error minus the error of the inputs it read (dequantized). Keeping the
      node in float undoes it.
    """
    import numpy as np
    import onnx

    float_model, quantized_model = onnx.load(str(source)), onnx.load_from_string(quantized)
    inferred = onnx.shape_inference.infer_shapes(float_model).graph
    floats = {v.name for v in (*inferred.value_info, *inferred.output) if v.type.tensor_type.elem_type == FLOAT}
    qgraph = quantized_model.graph
    present = {o for node in qgraph.node for o in node.output}
    q_of = {n.output[0]: n.input[0] for n in qgraph.node if n.op_type == "QuantizeLinear"}
    rounded = {q_of[n.input[0]]: n.output[0] for n in qgraph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in q_of}  # float tensor -> its dequantized copy
    rounded = {t: d for t, d in rounded.items() if t in floats and t in present}
    names = {c.name for c in candidates}
    tensors = sorted({*rounded, *(n.output[0] for n in candidates if n.output[0] in floats & present)})
    values = []
    source_nodes = list(float_model.graph.node)  # before the copies below gain outputs
    for model, wanted in ((float_model, tensors), (quantized_model, [*tensors, *rounded.values()])):
        session = _session(_with_outputs(model, wanted))
        outs = session.run(None, {session.get_inputs()[0].name: picture[None]})
        values.append(dict(zip([o.name for o in session.get_outputs()], outs, strict=True)))
    reference, measured = values

    def error(name: str, as_read: str | None = None) -> float:
        got = measured.get(as_read or name)
        if name not in reference or got is None:
            return 0.0
        f = reference[name].astype(np.float64)
        return float(np.sqrt(np.mean((got.astype(np.float64) - f) ** 2)))

    costs: dict[tuple[str, ...], float] = {}
    for tensor, copy in rounded.items():
        sides = tuple(sorted({n.name for n in source_nodes if tensor in (*n.input, *n.output)} & names))
        if sides:
            costs[sides] = max(costs.get(sides, 0.0), error(tensor, copy) - error(tensor))
    for node in candidates:
        inputs = [error(i, rounded.get(i)) for i in node.input if i in floats]
        if node.output[0] in floats:
            costs[(node.name,)] = max(costs.get((node.name,), 0.0), error(node.output[0]) - max(inputs, default=0.0))
    return costs


def search(source: Path, calibration: Sequence[Picture], held_out: Sequence[Picture], probe: Picture,
           min_psnr: float, progress: Callable[[str], None] | None = None) -> tuple[Attempt, list[Attempt]]:
    """Quantize ``source``; keep the nodes that cost the most in float until ``min_psnr`` holds, a few rounds at most.

    Returns the best attempt (the first at the bound, else the best measured) and every attempt, in order.
    """
    import onnx
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    say = progress or (lambda text: None)
    reference = _run(_session(str(source)), held_out)
    attempts: list[Attempt] = []
    with tempfile.TemporaryDirectory(prefix="vsinfer-int8-") as folder:
        prepared = _prepare(source, Path(folder))
        quantized_ops = set(QDQRegistry) | set(QLinearOpsRegistry)  # what quantize_static quantizes by default
        graph = onnx.load(str(prepared)).graph
        outputs = {o.name for o in graph.output}
        excluded = [n.name for n in graph.node if n.name and outputs & set(n.output)]  # the output stays float
        candidates = [n for n in graph.node if n.op_type in quantized_ops and n.name and n.name not in excluded]
        for round_ in range(ROUNDS + 1):
            say(f"quantizing with {len(excluded)} nodes kept in float")
            data = _quantize(prepared, calibration, excluded, Path(folder))
            measured = quality(reference, _run(_session(data), held_out))
            attempts.append(Attempt(data, tuple(excluded), measured))
            logger.info("INT8 %s, %d nodes in float: %.2f dB PSNR, max error %.4g", source.name, len(excluded),
                        measured.psnr_db, measured.max_error)
            if measured.psnr_db >= min_psnr or round_ == ROUNDS:
                break
            try:
                costs = _costs(prepared, data, probe, [n for n in candidates if n.name not in excluded])
            except Exception as exc:  # onnxruntime refusing the model with its tensors read out: no ranking
                logger.warning("INT8 %s: the sensitivity pass could not run (%s: %s); the best attempt stands",
                               source.name, type(exc).__name__, exc)
                break
            ranked = sorted((c for c in costs if costs[c] > 0), key=lambda c: -costs[c])
            chosen = list(dict.fromkeys(n for c in ranked[:max(1, len(candidates) // 16) * 2 ** round_] for n in c))
            heavy = {n.name for n in candidates if n.op_type in WEIGHTED}
            if not chosen or len(heavy & {*excluded, *chosen}) > len(heavy) * MAX_FLOAT_SHARE:
                break  # mostly float is no INT8 model: the best attempt stands (and is refused below the bound)
            excluded.extend(chosen)
    passing = [a for a in attempts if a.quality.psnr_db >= min_psnr]
    best = passing[0] if passing else max(attempts, key=lambda a: a.quality.psnr_db)
    return best, attempts
