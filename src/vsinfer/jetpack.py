"""vsinfer backends inside vs-jetpack's helpers (``vsscale.ArtCNN``, ``Waifu2x``, ``DPIR``, ``vsdenoise.dpir``).

The helpers accept only instances of ``vsscale.mlrt``'s own backend classes, and steer by them: they test
``isinstance(b, Backend.ORT)`` (or TRT, NCNN, OV_CPU, OV_GPU) to add fp16 block lists, rebuild the backend with
``dataclasses.replace``, read ``b.fp16`` / ``b.static_shape``, then call ``b.inference(...)``.

``as_jetpack(backend)`` returns an instance of a class made for the backend's class: a frozen dataclass that
subclasses vs-jetpack's class of the same family (so those checks take the same branches) and has the vsinfer
class's fields, with vsinfer's defaults. Constructing it (also through ``replace``) builds the vsinfer backend
from those fields, so vsinfer validates them; ``inference`` and ``build_engine`` are vsinfer's. vs-jetpack
fields that vsinfer's class lacks are accepted and ignored, as vs-jetpack's own backends ignore them (NCNN's
``fp16_blacklist_ops`` and OV_NPU's ``fp16`` are vsinfer fields too now, accepted and ignored there); a block list
given while fp16 is off is ignored too (vs-jetpack's DPIR adds one to every backend).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InvalidValueError, MissingDependencyError

if TYPE_CHECKING:
    import vapoursynth as vs

    from .backends.base import Backend

__all__ = ["TESTED", "as_jetpack", "check_jetpack_version", "jetpack_class"]

logger = logging.getLogger(__name__)

TESTED: tuple[tuple[int, ...], tuple[int, ...]] = ((2, 2, 6), (2, 3))
"""vsjetpack versions ``as_jetpack`` was made and tested for: from ``TESTED[0]`` (inclusive) to ``TESTED[1]``."""

_WHERE = "vsinfer.jetpack"


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string ("2.2.6.post1" -> (2, 2, 6))."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


def _dotted(release: tuple[int, ...]) -> str:
    return ".".join(map(str, release))


def check_jetpack_version() -> str:
    """The installed vsjetpack version, or an error when it is missing or outside ``TESTED``."""
    from importlib import metadata

    try:
        version = metadata.version("vsjetpack")
    except metadata.PackageNotFoundError as exc:
        raise MissingDependencyError("vsscale", "jetpack", "vsinfer.jetpack (vs-jetpack's helpers)") from exc
    low, high = TESTED
    if not low <= _release(version) < high:
        raise InvalidValueError(
            "vsjetpack version",
            version,
            f">={_dotted(low)},<{_dotted(high)}, the versions vsinfer.jetpack was made for (their helpers' "
            f"backend checks changed before and may change after); install one with pip install 'vsinfer[jetpack]'",
            where=_WHERE,
        )
    return version


def _peer_namespace() -> tuple[Any, type]:
    """vs-jetpack's ``Backend`` namespace (classes by name) and the base class its helpers check against."""
    try:
        from vsscale.mlrt.backend.base import Backend as PeerBase
        from vsscale.mlrt.backend.base import UserBackend
    except ImportError as exc:  # the version is in range, yet the layout differs: name what was found
        raise InvalidValueError(
            "vsjetpack", check_jetpack_version(), "a vs-jetpack with vsscale.mlrt.backend.base.UserBackend",
            where=_WHERE,
        ) from exc
    return UserBackend, PeerBase


def _peer_class(cls: type[Backend]) -> type:
    """vs-jetpack's class of the same family: the first vsinfer class in ``cls``'s MRO that vs-jetpack has."""
    namespace, base = _peer_namespace()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("vsinfer.backends"):
            continue
        peer = getattr(namespace, klass.__name__, None)
        if isinstance(peer, type) and issubclass(peer, base):
            return peer
    return base  # a registered third-party backend: vs-jetpack's plain base class


def _mirror(f: dataclasses.Field[Any]) -> Any:
    """A ``dataclasses.field`` with ``f``'s default (or default factory)."""
    if f.default is not dataclasses.MISSING:
        return dataclasses.field(default=f.default)
    if f.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=f.default_factory)
    return dataclasses.field()


def _hashable(value: Any) -> Any:
    """A collection of names as a sorted tuple, so the dataclass stays hashable; anything else unchanged."""
    if isinstance(value, set | frozenset | list) and all(isinstance(v, str) for v in value):
        return tuple(sorted(set(value)))
    return value


_classes: dict[type[Backend], type] = {}
_classes_lock = threading.Lock()


def jetpack_class(cls: type[Backend]) -> type:
    """The vs-jetpack-compatible class for the vsinfer backend class ``cls`` (made once per class)."""
    with _classes_lock:
        made = _classes.get(cls)
        if made is None:
            made = _classes[cls] = _make_class(cls)
    return made


def _make_class(cls: type[Backend]) -> type:
    peer = _peer_class(cls)
    own = [f for f in dataclasses.fields(cls) if f.init]
    names = {f.name for f in own}
    peer_defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else None
        for f in dataclasses.fields(peer)
        if f.init and f.name not in names
    }
    specs: list[tuple[str, Any, Any]] = [(f.name, f.type, _mirror(f)) for f in own]
    specs += [(name, Any, dataclasses.field(default=default)) for name, default in peer_defaults.items()]

    def post_init(self: Any) -> None:
        inner = _build(cls, {name: getattr(self, name) for name in names})
        object.__setattr__(self, "_vsinfer", inner)
        for name in names:  # show what vsinfer normalized (sorted block lists, fp16 None -> True ...)
            object.__setattr__(self, name, getattr(inner, name))
        for name, default in peer_defaults.items():
            value = _hashable(getattr(self, name))
            object.__setattr__(self, name, value)
            if value != default:
                logger.debug("%s: %s=%r has no vsinfer equivalent; ignored, as vs-jetpack's %s ignores it",
                             cls.__name__, name, value, peer.__name__)

    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"vsinfer's {cls.__name__} shaped as vs-jetpack's {peer.__name__}: inference runs in vsinfer.",
        "__post_init__": post_init,
        "vsinfer_backend": property(_inner, doc="The vsinfer backend every call goes to."),
        "inference": _inference,
        "get_args": _get_args,
    }
    if hasattr(cls, "build_engine"):
        namespace["build_engine"] = _build_engine
    made = dataclasses.make_dataclass(cls.__name__, specs, bases=(peer,), namespace=namespace, frozen=True,
                                      kw_only=True, eq=True)
    made.__qualname__ = cls.__name__
    return made


def _build(cls: type[Backend], values: dict[str, Any]) -> Backend:
    """``cls(**values)``; a block list given while fp16 is off is dropped (vs-jetpack adds it regardless)."""
    try:
        return cls(**values)
    except ConfigError as exc:
        if exc.parameter != "fp16_blacklist_ops" or not values.get("fp16_blacklist_ops"):
            raise
        logger.debug("%s: fp16 is off, so the fp16 block list %r is ignored", cls.__name__,
                     values["fp16_blacklist_ops"])
        return cls(**(values | {"fp16_blacklist_ops": None}))


def _inner(self: Any) -> Backend:
    backend: Backend = self._vsinfer
    return backend


def _inference(
    self: Any,
    clips: vs.VideoNode | Sequence[vs.VideoNode],
    network_path: str | os.PathLike[str],
    /,
    overlap: int | tuple[int, int] = (0, 0),
    tilesize: int | tuple[int, int] | None = None,
    *,
    flexible: bool = False,
    **kwargs: Any,
) -> vs.VideoNode | list[vs.VideoNode]:
    """Run the model with vsinfer (validation, plugin argument gating, engine cache, output precision)."""
    backend = _inner(self)
    return backend.inference(clips, network_path, overlap, tilesize, flexible=flexible, **kwargs)  # type: ignore[call-overload]


def _get_args(self: Any, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
    """The plugin arguments vsinfer gives for ``clips``."""
    return _inner(self).get_args(clips)


def _build_engine(
    self: Any, network_path: str | os.PathLike[str], channels: int, tilesize: int | tuple[int, int],
    input_name: str = "input",
) -> Any:
    """The engine vsinfer builds for the model (cached in vsinfer's store)."""
    return _inner(self).build_engine(network_path, channels, tilesize, input_name)  # type: ignore[attr-defined]


def as_jetpack(backend: Backend | type[Backend] | None = None) -> Any:
    """``backend`` in a form vs-jetpack's helpers accept as ``backend=``; every inference runs in vsinfer.

    Args:
        backend: A vsinfer backend (instance, or class for its defaults); None picks one with
            ``Backend.autoselect()``. An object ``as_jetpack`` returned is given back unchanged.

    Returns:
        An instance of vs-jetpack's backend class of the same family (e.g. ``vsscale.mlrt.backend.ort.ORT_CPU``
        for ``Backend.ORT_CPU``) with the vsinfer backend's fields; ``.vsinfer_backend`` is that backend.

    Raises:
        MissingDependencyError: vs-jetpack is not installed.
        InvalidValueError: The installed vs-jetpack is outside the versions this was made for (``TESTED``).

    """
    from .backends.base import Backend
    from .plugins import is_loaded

    check_jetpack_version()
    if backend is not None and isinstance(getattr(backend, "_vsinfer", None), Backend):
        return backend
    if backend is None:
        backend = Backend.autoselect()
    elif isinstance(backend, type) and issubclass(backend, Backend):
        backend = backend()
    if not isinstance(backend, Backend):
        raise InvalidValueError("backend", backend, "None, or a vsinfer Backend instance or class (e.g. "
                                "Backend.ORT_CPU())", where="as_jetpack")
    if not is_loaded("resize2"):
        logger.warning("vs-jetpack's helpers resize with core.resize2, which is not loaded; "
                       "install it with pip install 'vsinfer[jetpack]'")
    made = jetpack_class(type(backend))
    values = {f.name: getattr(backend, f.name) for f in dataclasses.fields(backend) if f.init}
    return made(**values)
