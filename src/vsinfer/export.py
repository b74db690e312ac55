"""PyTorch model files (``.pth``, ``.pt``, ``.ckpt``, ``.safetensors``) exported once to ONNX, kept in the store.

The files people download (OpenModelDB, the upscaling community) hold PyTorch weights, not ONNX. ``export_model``
reads one without running pickled code (``torch.load(weights_only=True)``; safetensors), lets spandrel recognise
the architecture from the weights, and exports it with torch's TorchScript exporter (opset 17, input ``input``,
output ``output``, dynamic height and width). The ONNX file is kept in the store's ``onnx`` kind under the
SHA-256 of the file's bytes, so a second call, another process or another script finds it without torch
(``vsinfer cache list`` shows it with its architecture and source file).

torch and spandrel come with the ``export`` extra (``pip install 'vsinfer[export]'``); they are imported only
when a file is exported, never for a cache hit or an ONNX path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingDependencyError, ModelError
from .store import Store, read_record, sidecar_of

__all__ = ["EXPORT_OPSET", "TORCH_SUFFIXES", "ExportedModel", "default_output", "export_model", "is_torch_model",
           "onnx_model_path"]

logger = logging.getLogger("vsinfer.export")

TORCH_SUFFIXES = frozenset({".pth", ".pt", ".ckpt", ".safetensors"})
"""File suffixes read as PyTorch weights (lower case); every other path is taken as ONNX."""

EXPORT_OPSET = 17
"""The ONNX opset of the export: what community ONNX files use and every vs-mlrt runtime takes."""

TRACE_SIZE = 64
"""Height and width (rounded up to the model's multiple) of the sample the exporter traces with."""

_VERSION = 1
"""Bumped when the export itself changes (options, names), so that older exports are not reused."""

_IMAGE_PURPOSES = frozenset({"SR", "FaceSR", "Restoration"})
"""spandrel purposes of models that take one image and return one: what vsinfer runs."""


@dataclass(frozen=True)
class ExportedModel:
    """What ``export_model`` made (or found in the store) for one PyTorch file."""

    path: Path
    """The ONNX file: in the store, or ``output`` when one was given."""
    source: Path
    """The PyTorch file it was exported from."""
    architecture: str
    """The architecture spandrel recognised, e.g. ``"RealESRGAN Compact"``."""
    scale: int
    """The model's scale factor (1 for restoration models)."""
    input_channels: int
    """Channels of the model's input (3 for RGB, 1 for GRAY)."""
    output_channels: int
    """Channels of the model's output."""
    multiple: int
    """The size multiple spandrel says the model needs (1: any size); pass it as ``inference(multiple=...)``."""
    sha256: str
    """SHA-256 of the PyTorch file's bytes: the export's identity in the store."""


def is_torch_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a PyTorch weights file by its suffix (``TORCH_SUFFIXES``)."""
    return Path(path).suffix.lower() in TORCH_SUFFIXES


def onnx_model_path(path: Path, where: str = "export", store: Store | None = None) -> Path:
    """``path`` itself for an ONNX file; for a PyTorch file, its ONNX export (made once, kept in the store).

    ``vsinfer.model.model_info`` calls it first, so every path that reads a model (``inference``,
    ``build_engine``, autotune, the CLI) takes a PyTorch file as well as an ONNX one.
    """
    if not is_torch_model(path):
        return path
    return export_model(path, store=store, where=where).path


_digests: dict[tuple[str, int, int, int, int], str] = {}
_digests_lock = threading.Lock()


def _sha256(path: Path, where: str) -> str:
    """SHA-256 of the file's bytes, computed once per process for each version of the file (path, size, times)."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        with _digests_lock:
            found = _digests.get(key)
        if found is not None:
            return found
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError("network_path", str(path), "a readable PyTorch model file", where=where) from exc
    with _digests_lock:
        _digests[key] = digest.hexdigest()
    return digest.hexdigest()


def _identity(sha256: str) -> dict[str, Any]:
    return {"source_sha256": sha256, "export": "spandrel-torchscript", "opset": EXPORT_OPSET, "v": _VERSION}


def _from_meta(path: Path, source: Path, sha256: str) -> ExportedModel | None:
    """The ExportedModel a committed export's sidecar describes, or None when its meta is not one of ours."""
    record = read_record(sidecar_of(path))
    meta = record.get("meta") if record else None
    if not isinstance(meta, Mapping):
        return None
    try:
        return ExportedModel(path, source, str(meta["architecture"]), int(meta["scale"]), int(meta["input_channels"]),
                             int(meta["output_channels"]), int(meta["multiple"]), sha256)
    except (KeyError, TypeError, ValueError):
        return None


def export_model(source: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
                 store: Store | None = None, where: str = "export") -> ExportedModel:
    """Export the PyTorch model file ``source`` to ONNX once; the store keeps it under the file's content.

    Args:
        source: A ``.pth`` / ``.pt`` / ``.ckpt`` (a state dict, read with ``weights_only=True``) or ``.safetensors``.
        output: Also write the ONNX file here (atomically); the store keeps its copy either way.
        store: The store to keep the export in (default: the cache folder in use).
        where: Who asks, for error messages (a backend class, ``export``).

    Raises:
        ModelError: the file is missing, truncated, holds pickled code, or spandrel recognises no image model in it.
        MissingDependencyError: torch or spandrel is not installed (the ``export`` extra).

    """
    path = Path(source)
    if not path.is_file():
        raise ModelError("network_path", str(source), "an existing PyTorch model file (.pth, .safetensors)",
                         where=where)
    sha256 = _sha256(path, where)
    store = store or Store()
    identity = _identity(sha256)
    prefix = f"{sha256[:8]}-export"
    found = store.lookup("onnx", ".onnx", identity, prefix=prefix)
    exported = _from_meta(found, path, sha256) if found is not None else None
    if exported is None:
        data, facts = _export(path, where)
        meta = {"model": path.name, "kind": "exported model", "precision": "fp32", "source_sha256": sha256, **facts}
        stored = store.get_or_create("onnx", ".onnx", identity, lambda tmp: data, prefix=prefix, meta=meta,
                                     force=found is not None)  # an entry without our record is replaced
        exported = _from_meta(stored, path, sha256)
        if exported is None:  # pragma: no cover - the store wrote the meta given above
            raise ModelError("network_path", str(path), "an export whose record can be read back", where=where)
        logger.info("exported %s (%s, %dx) to %s", path, exported.architecture, exported.scale, stored)
    if output is not None:
        target = Path(output)
        _write_output(target, exported.path.read_bytes(), where)
        exported = dataclasses.replace(exported, path=target)
    return exported


def _write_output(target: Path, data: bytes, where: str) -> None:
    """Write ``data`` to ``target`` through a temp file beside it (a reader never sees half a model)."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise ConfigError("output", str(target), f"a file path that can be written ({exc.strerror or exc})",
                          where=where) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _imports(where: str) -> tuple[Any, Any]:
    """The modules torch and spandrel, or a MissingDependencyError naming the ``export`` extra."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "export", f"{where}: reading a PyTorch model file") from exc
    try:
        import spandrel
    except ImportError as exc:
        raise MissingDependencyError("spandrel", "export", f"{where}: reading a PyTorch model file") from exc
    return torch, spandrel


def _state_dict(path: Path, torch: Any, where: str) -> Mapping[str, Any]:
    """The tensors of ``path``, read without running code; ModelError for what is not a weights file."""
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise MissingDependencyError("safetensors", "export", f"{where}: reading a .safetensors file") from exc
        try:
            loaded: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError (and OSError) for a bad file
            raise ModelError("network_path", str(path), f"a complete .safetensors file (safetensors says: "
                             f"{_first_line(exc)})", where=where) from exc
        return dict(loaded)
    import pickle

    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        said = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln), _first_line(exc))
        raise ModelError("network_path", str(path), "a PyTorch file of weights only; this one holds pickled code or "
                         f"objects, which vsinfer never runs (torch's weights-only reader: {said}). Convert it "
                         "to .safetensors where you trust it, or find a weights-only release", where=where) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelError("network_path", str(path), "a complete PyTorch model file (torch could not read it, "
                         f"truncated or not a PyTorch file: {_first_line(exc)})", where=where) from exc
    if not isinstance(loaded, Mapping):
        raise ModelError("network_path", str(path), f"a state dict (a mapping of tensors); the file holds a "
                         f"{type(loaded).__name__}", where=where)
    return loaded


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _describe_keys(state: Mapping[str, Any]) -> str:
    """What spandrel saw: the number of entries and the first few names (with shapes for tensors)."""
    shown = []
    for name, value in list(state.items())[:4]:
        shape = getattr(value, "shape", None)
        shown.append(f"{name!r} {tuple(shape)}" if shape is not None else repr(name))
    more = ", ..." if len(state) > 4 else ""
    return f"{len(state)} entries: {', '.join(shown)}{more}"


def _load(path: Path, where: str) -> tuple[Any, Any]:
    """(torch, spandrel's ImageModelDescriptor) for ``path``; ModelError when it holds no image model."""
    torch, spandrel = _imports(where)
    # a training checkpoint's weights sit under "params_ema", "state_dict", ... and may carry a "module." prefix
    state = spandrel.canonicalize_state_dict(dict(_state_dict(path, torch, where)))
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(dict(state))
    except spandrel.UnsupportedModelError as exc:
        raise ModelError("network_path", str(path), "the weights of an architecture spandrel knows (spandrel "
                         f"{spandrel.__version__} recognises none in {_describe_keys(state)}); it may be a model "
                         "of another task or an architecture spandrel does not support", where=where) from exc
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelError("network_path", str(path), "weights that fit the architecture they resemble (spandrel: "
                         f"{_first_line(exc)}; {_describe_keys(state)})", where=where) from exc
    arch = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in _IMAGE_PURPOSES:
        raise ModelError("network_path", str(path), f"an image-to-image model (super-resolution or restoration); "
                         f"spandrel recognised {arch}, a {descriptor.purpose} model, which vsinfer cannot run",
                         where=where)
    return torch, descriptor


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _image_only(torch: Any, model: Any) -> Any:
    """``model`` behind a ``forward(x)`` of one argument.

    Extra arguments with defaults (Real-CUGAN's ``alpha``) stay Python constants instead of becoming graph inputs.
    """

    class ImageOnly(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: Any) -> Any:
            out = self.net(x)
            return out[0] if isinstance(out, tuple | list) else out  # FBCNN-like: the image, not its side outputs

    return ImageOnly().eval()


def _input_channels(torch: Any, descriptor: Any) -> list[int]:
    """Channel counts to try: spandrel's, then the first convolution's (DRUNet takes RGB and a noise plane)."""
    first = next((m.in_channels for m in descriptor.model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return list(dict.fromkeys(c for c in (int(descriptor.input_channels), first) if c))


def _export(path: Path, where: str) -> tuple[bytes, dict[str, Any]]:
    """The ONNX bytes of ``path``'s model and the facts the store keeps beside them.

    The export is checked before it is kept: onnxruntime runs it at the traced size and at another one and must
    give torch's output (max error within 1e-3 of the output's range), so an export whose shapes were frozen at
    the traced size (the TorchScript exporter keeps sizes the Python code computed in ints) is refused here.
    """
    torch, descriptor = _load(path, where)
    arch = descriptor.architecture.name
    model = _image_only(torch, descriptor.model.eval().float())
    req = descriptor.size_requirements
    multiple = max(1, int(req.multiple_of))
    size = _round_up(max(TRACE_SIZE, int(req.minimum)), multiple)
    other = (_round_up(size - 24, multiple), _round_up(size - 8, multiple))
    if other == (size, size) or req.square:
        other = (size * 2, size * 2) if req.square else (size, size * 2)
    with tempfile.TemporaryDirectory(prefix="vsinfer-export-") as tmp:
        target = Path(tmp) / "model.onnx"
        problems: list[str] = []
        for channels in _input_channels(torch, descriptor):
            sample = torch.rand(1, channels, size, size)
            logger.info("exporting %s (%s) to ONNX, traced at %dx%d, %d channels", path, arch, size, size, channels)
            try:
                with torch.no_grad():
                    torch.onnx.export(model, (sample,), str(target), dynamo=False, opset_version=EXPORT_OPSET,
                                      input_names=["input"], output_names=["output"], do_constant_folding=True,
                                      dynamic_axes={"input": {2: "height", 3: "width"},
                                                    "output": {2: "height_out", 3: "width_out"}})
                break
            except Exception as exc:  # torch's exporter raises many kinds (TorchScript, ONNX symbolic, shapes)
                problems.append(f"{channels} channels: {_first_line(exc)}")
        else:
            raise ModelError("network_path", str(path), f"a model torch can export to ONNX ({arch}: "
                             f"{'; '.join(problems)})", where=where)
        error = _check_export(torch, model, target, channels, [(size, size), other], arch, path, where)
        data = target.read_bytes()
    facts = {"architecture": arch, "scale": int(descriptor.scale), "input_channels": channels,
             "output_channels": int(descriptor.output_channels), "multiple": multiple,
             "max_error": error, "torch": str(torch.__version__), "spandrel": _spandrel_version(),
             "opset": EXPORT_OPSET}
    return data, facts


def _check_export(torch: Any, model: Any, onnx_file: Path, channels: int, sizes: list[tuple[int, int]], arch: str,
                  path: Path, where: str) -> float:
    """Run the export with onnxruntime at ``sizes`` against torch; the largest error, or ModelError."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    worst = 0.0
    for h, w in sizes:
        sample = torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(h * 1000 + w))
        with torch.no_grad():
            expected = model(sample).numpy()
        try:
            got = session.run(None, {"input": sample.numpy()})[0]
        except Exception as exc:  # onnxruntime's own error types
            raise ModelError("network_path", str(path), f"a model whose ONNX export runs at any size; the {arch} "
                             f"export runs at the traced size only, onnxruntime refuses {w}x{h} "
                             f"({_first_line(exc)})", where=where) from exc
        if got.shape != expected.shape:
            raise ModelError("network_path", str(path), f"a model whose ONNX export keeps torch's output shape; at "
                             f"{w}x{h} the {arch} export gives {got.shape}, torch {expected.shape}", where=where)
        error = float(np.max(np.abs(got - expected))) if got.size else 0.0
        scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
        if not error <= 1e-3 * scale:
            raise ModelError("network_path", str(path), f"an ONNX export that computes what torch does; at {w}x{h} "
                             f"the {arch} export differs from torch by {error:.3g}", where=where)
        worst = max(worst, error)
    return worst


def _spandrel_version() -> str:
    from importlib.metadata import version

    return version("spandrel")


_NAME = re.compile(r"[^\w.-]+")
"""Characters not kept in a file name derived from a model's name."""


def default_output(source: Path) -> Path:
    """``MODEL.onnx`` beside ``MODEL.pth``: where ``vsinfer export`` writes without ``-o``."""
    return source.with_name(_NAME.sub("_", source.stem) + ".onnx")
