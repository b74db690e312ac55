"""INT8 quantization of a float model, calibrated on the user's own clip and judged against float32 (``quantize``).

The quantized model (static Q/DQ: ``vsinfer.quantize.qdq``) is an ``onnx`` artifact of the store, keyed by the
float model's content, the content of the crops it was calibrated and judged on, and the settings; the verdict
(the PSNR and largest difference measured on held-out frames, the nodes kept in float, passed or refused) is a
``quantize`` record beside it. A second call with the same clip content reads both back and quantizes nothing; a
refused model is refused again from its record, with the same figures. Nothing in the record names a path: the
model is found by its identity, like every artifact.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..device import cpu
from ..errors import ClipError, ConfigError, ModelError, QualityError
from ..model import ModelInfo, model_info, quantized
from ..store import Store, identity_name
from ..store.records import QuantizeFacts, QuantizeRecord, dump, load, plain, real, to_float
from ..validation import check_channels, clip_list, image_input, model_path
from .pictures import CROP, read_pictures
from .qdq import SETTINGS, search

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["FRAMES", "MAX_FRAMES", "MIN_PSNR", "Quantized", "check_float_model", "check_min_psnr", "quantize"]

logger = logging.getLogger("vsinfer.quantize")

MIN_PSNR = 40.0
"""The default bound (dB of PSNR against float32 on held-out frames) below which a quantization is refused."""
FRAMES = 16
"""Calibration frames by default (half as many more, at least 4, are held out to judge the result)."""
MAX_FRAMES = 256
"""Most calibration frames."""
PSNR_RANGE = (20.0, 100.0)
"""The bounds a caller may set."""
VERSION = 2
"""Bumped whenever the pictures, the settings or the search change what a quantization gives."""
WHERE = "quantize"
FLOAT, FLOAT16, BFLOAT16 = 1, 10, 16


@dataclass(frozen=True)
class Quantized:
    """A quantized model and how it measured against its float original."""

    path: Path
    """The quantized (Q/DQ) model, in the store."""
    source: Path
    """The float model."""
    psnr_db: float
    """PSNR (dB, 0..1 range) against float32 on held-out frames of the clip."""
    max_error: float
    """Largest absolute difference from float32 there."""
    excluded: tuple[str, ...]
    """Nodes kept in float: the one that writes the output, and those whose quantization cost the most."""
    calibration_frames: tuple[int, ...]
    """Frame numbers the ranges were measured on."""
    held_out_frames: tuple[int, ...]
    """Frame numbers the result was judged on."""
    seconds: float
    """Time the quantization took (when it was made; 0 read back)."""
    cached: bool
    """True when read back from the store."""


def check_float_model(network_path: object, where: str) -> ModelInfo:
    """The model at ``network_path`` when it is a float32 model with one image input; ModelError otherwise."""
    path = model_path(network_path, where)
    model = model_info(path)
    tensor = image_input(model, where)
    if len(model.inputs) != 1:
        raise ModelError("network_path", str(path), f"a model with one input to quantize (it has "
                         f"{[t.name for t in model.inputs]})", where=where)
    if quantized(model):
        raise ModelError("network_path", str(path), "a float model: this one is already quantized (it has "
                         "QuantizeLinear / DequantizeLinear nodes); run it as it is", where=where)
    half = _half_type(model) if tensor.elem_type == FLOAT else tensor.type_name
    if half is not None:
        raise ModelError("network_path", str(path), f"a float32 model: this one computes in {half}; quantize its "
                         "float32 original (the half model's values are already rounded)", where=where)
    return model


def _half_type(model: ModelInfo) -> str | None:
    """"float16" or "bfloat16" when the model's weights are half, else None."""
    import onnx

    proto = onnx.load_model(model.path, load_external_data=False)
    types = {t.data_type for t in proto.graph.initializer}
    return "float16" if FLOAT16 in types else "bfloat16" if BFLOAT16 in types else None


def _check_clips(clips: object, model: ModelInfo, where: str) -> list[vs.VideoNode]:
    import vapoursynth as vs

    if clips is None:
        raise ClipError("clips", None, "the clip inference will get (its frames calibrate the quantization and "
                        "judge it)", where=where)
    nodes = clip_list(clips, where)
    for node in nodes:
        if node.format.color_family not in (vs.RGB, vs.GRAY):
            raise ClipError("clips", node.format.name, "RGB or GRAY clips, as the model reads them (convert a YUV "
                            "clip first, e.g. core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s=\"709\"))",
                            where=where)
    check_channels(model, model.input(), sum(n.format.num_planes for n in nodes), where)
    return nodes


def check_min_psnr(value: object, where: str, parameter: str = "min_psnr") -> float:
    """``value`` as a quality bound: a finite number of dB within ``PSNR_RANGE``; ConfigError otherwise."""
    low, high = PSNR_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(parameter, value, f"a number of dB from {low:g} to {high:g}", where=where)
    return float(value)


def _check_frames(frames: object, where: str) -> int:
    if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= MAX_FRAMES:
        raise ConfigError("frames", frames, f"an int from 1 to {MAX_FRAMES}", where=where)
    return frames


def quantize(
    network_path: str | os.PathLike[str],
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    *,
    frames: int = FRAMES,
    min_psnr: float = MIN_PSNR,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Quantized:
    """``network_path`` quantized to INT8 (static Q/DQ), calibrated on frames spread over ``clips``.

    Args:
        network_path: The float32 ONNX model (an fp16 or already quantized model is refused).
        clips: The clip (or clips) inference will get, RGB or GRAY: crops of ``frames`` frames spread over it
            calibrate the ranges, crops of others (half as many, at least 4) judge the result.
        frames: Calibration frames, 1 to 256.
        min_psnr: The bound (dB of PSNR against float32 on the held-out crops, 20 to 100): below it the nodes
            that cost the most are kept in float, a few rounds; still below, ``QualityError`` gives the PSNR
            reached and what to do.
        cache_dir: Store root (default: ``VSINFER_CACHE_DIR`` or the user cache dir).
        progress: Called with a line before each step that takes time.

    Returns:
        The quantized model's path and its figures. Every argument is checked before a frame is read.

    """
    where = WHERE
    count, bound = _check_frames(frames, where), check_min_psnr(min_psnr, where)
    model = check_float_model(network_path, where)
    nodes = _check_clips(clips, model, where)
    store = Store(cache_dir)
    pictures = read_pictures(nodes, model, count, where)
    identity = {"v": VERSION, "model": model.checksum, "pictures": pictures.digest, "crop": CROP,
                "calibration_frames": pictures.calibration_frames, "held_out_frames": pictures.held_out_frames,
                "frames": count, "min_psnr": bound, "settings": SETTINGS, "onnxruntime": _ort_version(),
                "int8_cpu": "vnni" if cpu().native_int8 else "no vnni"}  # onnxruntime's INT8 saturates without VNNI
    record_path = store.folder("quantize") / f"{model.checksum:08x}-{identity_name(identity)}.json"
    name = Path(model.path).name
    with store.lock(record_path):
        record = load(record_path, QuantizeRecord)
        result = record.result if record is not None and record.identity == plain(identity) else None
        if result is not None and result.passed != (to_float(result.psnr_db) >= bound):
            logger.warning("%s says %s at %s dB against a bound of %g dB: not used; quantizing again", record_path,
                           "passed" if result.passed else "refused", result.psnr_db, bound)
        elif result is not None and not result.passed:
            raise _refusal(model, to_float(result.psnr_db), bound)
        elif result is not None:
            path = store.lookup("onnx", ".onnx", _artifact(identity, result.excluded), _prefix(model))
            if path is not None:
                logger.debug("INT8 %s read back from %s", name, path)
                return _quantized(path, model, result, cached=True)
        start = time.perf_counter()
        try:
            best, attempts = search(Path(model.path), pictures.calibration, pictures.held_out, pictures.probe, bound,
                                    progress)
        except Exception as exc:  # onnxruntime's quantizer or a session refusing the model: said as ours
            raise ModelError("network_path", model.path, f"a model onnxruntime's quantizer can take; it failed: "
                             f"{type(exc).__name__}: {exc}", where=where) from exc
        passed = best.quality.psnr_db >= bound
        result = QuantizeFacts(psnr_db=real(best.quality.psnr_db), max_error=real(best.quality.max_error),
                               excluded=best.excluded, passed=passed, calibration_frames=pictures.calibration_frames,
                               held_out_frames=pictures.held_out_frames, seconds=time.perf_counter() - start)
        meta = {"model": name, "kind": "INT8 quantization", "psnr_db": round(best.quality.psnr_db, 2),
                "passed": passed, "attempts": len(attempts)}
        path = None
        if passed:
            path = store.get_or_create(
                "onnx", ".onnx", _artifact(identity, best.excluded), lambda tmp: best.model, prefix=_prefix(model),
                meta={**meta, "kind": "quantized model (INT8 Q/DQ)", "precision": "int8",
                      "max_error": round(best.quality.max_error, 5), "kept_in_float": len(best.excluded)})
        try:
            dump(record_path, QuantizeRecord(identity=identity, meta=meta, result=result))
        except OSError as exc:  # a verdict not kept only costs a new quantization later
            logger.debug("could not store the quantization record %s: %s", record_path, exc)
        if path is None:
            raise _refusal(model, best.quality.psnr_db, bound)
        return _quantized(path, model, result, cached=False)


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _prefix(model: ModelInfo) -> str:
    return f"{model.checksum:08x}-int8"


def _artifact(identity: dict[str, Any], excluded: Sequence[str]) -> dict[str, Any]:
    """The quantized model's own identity: the quantization's, and the nodes it kept in float."""
    return {**identity, "excluded": sorted(excluded)}


def _quantized(path: Path, model: ModelInfo, result: QuantizeFacts, *, cached: bool) -> Quantized:
    return Quantized(path=path, source=Path(model.path), psnr_db=to_float(result.psnr_db),
                     max_error=to_float(result.max_error), excluded=tuple(result.excluded),
                     calibration_frames=tuple(result.calibration_frames),
                     held_out_frames=tuple(result.held_out_frames), seconds=0.0 if cached else result.seconds,
                     cached=cached)


def _refusal(model: ModelInfo, psnr_db: float, bound: float) -> QualityError:
    return QualityError(model.path, psnr_db, bound, "run the float model (the default precision of its backend), "
                        f"accept the loss with a lower bound (min_psnr={math.floor(psnr_db)}), or calibrate on "
                        "more frames (frames=32)")
