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
from typing import TYPE_CHECKING, ClassVar

import msgspec

from .model import FLOAT16
from .store import Store
from .store.records import Record, dump, load

if TYPE_CHECKING:
    from .model import ModelInfo

__all__ = ["MIN_SIDE", "MULTIPLES", "SIZES_VERSION", "SizeFacts", "SizeRecord", "model_multiple", "probe_size"]

logger = logging.getLogger(__name__)

MULTIPLES = (1, 2, 4, 8, 16, 32, 64)
"""The multiples tried, smallest first (no zoo or community model needs more than 64: SCUNet)."""
MIN_SIDE = 64
"""The smallest side a probe input has: below it, some models fail for their depth, not for the multiple."""
SIZES_VERSION = 1
"""Bumped when the probe changes meaning; older records then stop matching."""


class SizeFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the probe found for one model."""

    multiple: int | None
    """The smallest multiple of ``MULTIPLES`` whose sizes onnxruntime takes; None when it could not tell."""
    reason: str = ""
    """Why it could not tell (no size was taken, onnxruntime could not load the model), or the error of the
    largest multiple refused."""


class SizeRecord(Record, frozen=True, kw_only=True):
    """A stored answer: ``{"version", "checksum", "facts"}``."""

    KIND: ClassVar[str] = "model size record"
    ON_MISS: ClassVar[str] = "probing the model's sizes again"
    version: int
    """``SIZES_VERSION`` when it was written."""
    checksum: str
    """The model's content identity (32 hex digits)."""
    facts: SizeFacts
    """The answer."""


def probe_size(multiple: int) -> tuple[int, int]:
    """The (width, height) tried for ``multiple``: odd multiples of it, width >= ``MIN_SIDE``, height two more."""
    k = -(-MIN_SIDE // multiple)
    k += 1 - k % 2
    return (k * multiple, (k + 2) * multiple)


_known: dict[int, SizeFacts] = {}
_known_lock = threading.Lock()


def model_multiple(model: ModelInfo, store: Store | None = None) -> SizeFacts:
    """The multiple ``model``'s frame sizes need, from the process memo, the store, or one probe.

    Models with static spatial dims, several inputs or no 4-D input are not probed (``multiple`` None: their
    size is checked against the static dims elsewhere).
    """
    with _known_lock:
        if model.checksum in _known:
            return _known[model.checksum]
    facts = _stored_or_probed(model, store or Store())
    with _known_lock:
        _known[model.checksum] = facts
    return facts


def _stored_or_probed(model: ModelInfo, store: Store) -> SizeFacts:
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        return SizeFacts(multiple=None, reason="the model does not have one 4-D input")
    if model.inputs[0].spatial != (None, None):
        return SizeFacts(multiple=None, reason="the model's input has a static size")
    checksum = f"{model.checksum:032x}"
    try:
        path = store.folder("sizes") / f"{checksum}.json"
    except OSError as exc:
        logger.debug("no cache folder for model sizes (%s): probing without keeping the answer", exc)
        return _probe(model)
    record = load(path, SizeRecord)
    if record is not None and record.version == SIZES_VERSION and record.checksum == checksum:
        return record.facts
    facts = _probe(model)
    try:
        dump(path, SizeRecord(version=SIZES_VERSION, checksum=checksum, facts=facts))
    except Exception as exc:  # an answer that cannot be kept only costs probing again
        logger.debug("could not keep the size record %s: %s", path, exc)
    return facts


def _probe(model: ModelInfo) -> SizeFacts:
    """Run onnxruntime float32 on zero inputs of each multiple's probe size; the first one it takes wins."""
    import numpy as np

    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 4  # the refused sizes are expected: no runtime errors on stderr
        session = ort.InferenceSession(model.path, options, providers=["CPUExecutionProvider"])
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
    return (f"{node.group(1)}: " if node else "") + reason.strip()[:200]
