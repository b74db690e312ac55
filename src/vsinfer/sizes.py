"""The frame sizes a model takes: the multiple its spatial dims need, found by running it once.

Window-attention transformers (SwinIR, HAT), U-Nets (DRUNet, SCUNet) and pixel-unshuffle layouts (ESRGAN 2x)
cut their input into blocks; at another size the runtime refuses the model (a Reshape or Concat shape error) or
core.ncnn crashes. The graph rarely says which multiple they need (the block shapes are computed at run time),
and the peers keep per-model tables by hand. Here it is measured: onnxruntime float32 (CPU) runs the model on a
zero input of ``(k * m, (k + 2) * m)`` pixels for m = 1, 2, 4, ... 64, with k odd (so the size is a multiple of m
and of no larger power of two, and at least ``MIN_SIDE``), and the smallest m it takes, with every image output
a whole multiple (or fraction) of the input's size, is the model's multiple. The answer is kept in the store
per model checksum ("sizes" records), so it costs once per model.

``multiple="auto"`` pads the frame to it; without ``multiple=``, a frame or tile size that is not a multiple of it
is refused before the plugin, naming the multiple to pass.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, cast

import msgspec

from .model import FLOAT16
from .store import Store
from .store.records import Record, dump, load

if TYPE_CHECKING:
    from .model import ModelInfo

__all__ = [
    "CONTEXT_SIDE", "MIN_SIDE", "MULTIPLES", "SIZES_VERSION", "ContextFacts", "ContextRecord", "SizeFacts",
    "SizeRecord", "model_context", "model_multiple", "probe_size",
]

logger = logging.getLogger(__name__)

MULTIPLES = (1, 2, 4, 8, 16, 32, 64)
"""The multiples tried, smallest first (no zoo or community model needs more than 64: SCUNet)."""
MIN_SIDE = 64
"""The smallest side a probe input has: below it, some models fail for their depth, not for the multiple."""
SIZES_VERSION = 1
"""Bumped when the probe changes meaning; older records then stop matching."""


class SizeFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the probe found for one model."""

    multiple: Annotated[int, msgspec.Meta(ge=1, le=64)] | None
    """The smallest multiple of ``MULTIPLES`` whose sizes onnxruntime takes; None when it could not tell."""
    reason: Annotated[str, msgspec.Meta(max_length=600)] = ""
    """Why it could not tell (no size was taken, onnxruntime could not load the model), or the error of the
    largest multiple refused."""


class _PerModel(Record, frozen=True, kw_only=True):
    """What every record of this module keys its facts by."""

    version: int
    """``SIZES_VERSION`` when it was written."""
    checksum: str
    """The model's content identity (32 hex digits)."""


class SizeRecord(_PerModel, frozen=True, kw_only=True):
    """A stored answer: ``{"version", "checksum", "facts"}``."""

    KIND: ClassVar[str] = "model size record"
    ON_MISS: ClassVar[str] = "probing the model's sizes again"
    facts: SizeFacts
    """The answer."""


def probe_size(multiple: int) -> tuple[int, int]:
    """The (width, height) tried for ``multiple``: odd multiples of it, width >= ``MIN_SIDE``, height two more."""
    k = -(-MIN_SIDE // multiple)
    k += 1 - k % 2
    return (k * multiple, (k + 2) * multiple)


CONTEXT_SIDE = 160
"""Side of the context probe's input (rounded up to the model's multiple): a context reaching its edge is global."""


class ContextFacts(msgspec.Struct, frozen=True, kw_only=True):
    """How far a model looks: the input pixels one output pixel depends on."""

    radius: Annotated[int, msgspec.Meta(ge=0, le=4096)] | None
    """Input pixels around a pixel that change its output; None when the change reaches the edge of the probe
    (global pooling or attention: tiles change the picture whatever their overlap) or could not be measured."""
    scale: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None
    """Output size / input size (2 for a 2x model)."""
    reason: Annotated[str, msgspec.Meta(max_length=600)] = ""
    """Why ``radius`` is None."""

    @property
    def overlap(self) -> int | None:
        """The tile overlap that gives the whole-frame picture; None without a radius.

        ``scale * radius``: the plugins crop the overlap from the model's output at inner tile edges.
        """
        return None if self.radius is None or self.scale is None else self.scale * self.radius


class ContextRecord(_PerModel, frozen=True, kw_only=True):
    """A stored context: ``{"version", "checksum", "facts"}``."""

    KIND: ClassVar[str] = "model context record"
    ON_MISS: ClassVar[str] = "measuring the model's context again"
    facts: ContextFacts
    """The answer."""


_known: dict[tuple[str, int], Any] = {}
_known_lock = threading.Lock()


def model_multiple(model: ModelInfo, store: Store | None = None) -> SizeFacts:
    """The multiple ``model``'s frame sizes need, from the process memo, the store, or one probe.

    Models with static spatial dims, several inputs or no 4-D input are not probed (``multiple`` None: their
    size is checked against the static dims elsewhere).
    """
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        return SizeFacts(multiple=None, reason="the model does not have one 4-D input")
    if model.inputs[0].spatial != (None, None):
        return SizeFacts(multiple=None, reason="the model's input has a static size")
    return _remembered(model, store, "", SizeRecord, lambda: _probe(model))


def model_context(model: ModelInfo, store: Store | None = None) -> ContextFacts:
    """How many input pixels around a pixel change its output (``overlap``: the tile overlap that needs).

    Measured once with onnxruntime float32: a random picture of ``CONTEXT_SIDE`` pixels, and the same with its
    centre pixel changed; the output pixels that differ (by more than two runs of the same input do) are the
    centre's reach. Kept in the store per model checksum.
    """
    multiple = model_multiple(model, store)
    if multiple.multiple is None:
        return ContextFacts(radius=None, reason=multiple.reason)
    m = multiple.multiple
    return _remembered(model, store, ".context", ContextRecord, lambda: _measure_context(model, m))


def _remembered[F: msgspec.Struct](model: ModelInfo, store: Store | None, suffix: str,
                                   schema: type[SizeRecord] | type[ContextRecord], compute: Callable[[], F]) -> F:
    """``compute()``'s answer for ``model``, from the process memo, the store, or computed once and kept."""
    with _known_lock:
        if (suffix, model.checksum) in _known:
            return cast("F", _known[suffix, model.checksum])
    checksum = f"{model.checksum:032x}"
    facts: F | None = None
    path = None
    try:
        path = (store or Store()).folder("sizes") / f"{checksum}{suffix}.json"
    except OSError as exc:
        logger.debug("no cache folder for model sizes (%s): measuring without keeping the answer", exc)
    record = load(path, schema) if path is not None else None
    if record is not None and record.version == SIZES_VERSION and record.checksum == checksum:
        facts = cast("F", record.facts)
    if facts is None:
        facts = compute()
        if path is not None:
            try:
                dump(path, schema(version=SIZES_VERSION, checksum=checksum, facts=facts))  # type: ignore[arg-type]
            except Exception as exc:  # an answer that cannot be kept only costs measuring again
                logger.debug("could not keep %s: %s", path, exc)
    with _known_lock:
        _known[suffix, model.checksum] = facts
    return facts


def _session(model: ModelInfo) -> Any:
    """An onnxruntime CPU session of ``model`` that keeps its expected errors off stderr."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # the refused sizes are expected: no runtime errors on stderr
    return ort.InferenceSession(model.path, options, providers=["CPUExecutionProvider"])


def _measure_context(model: ModelInfo, multiple: int) -> ContextFacts:
    """Change the centre pixel of a random picture; how far the output changes."""
    import numpy as np

    tensor = model.inputs[0]
    side = -(-CONTEXT_SIDE // multiple) * multiple
    dtype = np.float16 if tensor.elem_type == FLOAT16 else np.float32
    x = np.random.default_rng(0).random((1, tensor.channels or 3, side, side))
    centre = side // 2
    changed = x.copy()
    changed[:, :, centre, centre] += 0.5
    x, changed = x.astype(dtype), changed.astype(dtype)
    try:
        session = _session(model)

        def image(picture: Any) -> Any:
            outputs = session.run(None, {tensor.name: picture})
            return next(np.asarray(o, dtype=np.float64) for o in outputs if np.ndim(o) == 4)

        base, again, moved = image(x), image(x), image(changed)
    except Exception as exc:
        return ContextFacts(radius=None, reason=f"onnxruntime could not run it at {side}x{side}: {_short(exc)}")
    height, width = base.shape[2:]
    if height % side or width % side or height // side != width // side:
        return ContextFacts(radius=None, reason=f"its output ({width}x{height}) is not a whole multiple of the "
                                                f"input ({side}x{side})")
    scale = height // side
    noise = float(np.abs(again - base).max())
    rows, cols = np.nonzero(np.abs(moved - base).max(axis=(0, 1)) > noise)
    if rows.size == 0:
        return ContextFacts(radius=0, scale=scale)
    if min(rows.min(), cols.min()) == 0 or rows.max() == height - 1 or cols.max() == width - 1:
        return ContextFacts(radius=None, scale=scale, reason=f"one pixel changes the output up to the edges of a "
                            f"{side}x{side} picture (pooling or attention over the whole picture): tiles change "
                            "its output whatever their overlap")
    first, last = centre * scale, centre * scale + scale - 1
    reach = max(first - rows.min(), rows.max() - last, first - cols.min(), cols.max() - last, 0)
    return ContextFacts(radius=-(-int(reach) // scale), scale=scale)


def _probe(model: ModelInfo) -> SizeFacts:
    """Run onnxruntime float32 on zero inputs of each multiple's probe size; the first one it takes wins."""
    import numpy as np

    try:
        session = _session(model)
    except Exception as exc:
        logger.info("could not probe the sizes %s takes: onnxruntime cannot load it (%s)", model.path,
                    _short(exc))
        return SizeFacts(multiple=None, reason=f"onnxruntime cannot load it: {_short(exc)}")
    tensor = model.inputs[0]
    channels = tensor.channels or 3
    dtype = np.float16 if tensor.elem_type == FLOAT16 else np.float32
    last = ""
    for multiple in MULTIPLES:
        width, height = probe_size(multiple)
        try:
            outputs = session.run(None, {tensor.name: np.zeros((1, channels, height, width), dtype=dtype)})
        except Exception as exc:
            last = f"{width}x{height}: {_short(exc)}"
            continue
        odd = [o.shape for o in outputs if np.ndim(o) == 4 and not _scaled(o.shape[2:], (height, width))]
        if odd:  # a model that pads inside and does not crop back (Real-CUGAN at odd sizes)
            last = f"{width}x{height}: an output of shape {odd[0]}, not a whole multiple of the input's size"
            continue
        if multiple > 1:
            logger.info("%s takes sizes that are multiples of %d (onnxruntime refused smaller multiples)",
                        model.path, multiple)
        return SizeFacts(multiple=multiple, reason=last)
    logger.info("could not find the sizes %s takes: onnxruntime refused every probe (last: %s)", model.path, last)
    return SizeFacts(multiple=None, reason=f"onnxruntime refused every size tried (last {last})")


def _scaled(out: tuple[int, ...], inp: tuple[int, int]) -> bool:
    """Whether an output (h, w) is the input's (h, w) times, or divided by, a whole factor per axis."""
    return all(o > 0 and (o % i == 0 or i % o == 0) for o, i in zip(out, inp, strict=True))


def _short(exc: BaseException) -> str:
    """An onnxruntime error on one line: the node it names and the sentences after its C++ check."""
    text = " ".join(str(exc).split())
    node = re.search(r"running (\S+ node\. Name:'[^']*')", text)
    reason = re.split(r" was false\. ", text)[-1] if " was false. " in text else text.split("Status Message:")[-1]
    return ((f"{node.group(1)}: " if node else "") + reason.strip())[:300]  # a record keeps at most 600
