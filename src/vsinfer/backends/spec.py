"""Backends as plain data (``{"class": name, "fields": {...}}``), for stored decisions, child processes and labels."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..identity import canonical
from .base import Backend
from .registry import find

__all__ = ["backend_from_record", "backend_from_spec", "backend_spec", "label"]

Pair = tuple[int, int]


def backend_spec(backend: Backend) -> dict[str, Any]:
    """``{"class": name, "fields": {...}}``: the fields that differ from the class defaults, as plain JSON data."""
    cls = type(backend)
    default = cls()
    changed = {
        f.name: canonical(getattr(backend, f.name))
        for f in dataclasses.fields(backend)
        if f.init and getattr(backend, f.name) != getattr(default, f.name)
    }
    return {"class": cls.__name__, "fields": changed}


def backend_from_spec(spec: Mapping[str, Any]) -> Backend:
    """The backend ``backend_spec`` describes; ConfigError when the class or a field is unknown here."""
    name = spec.get("class")
    cls = find(name) if isinstance(name, str) else None
    if cls is None:
        raise ConfigError("class", name, "a backend class name such as 'OV_CPU' or 'ORT_CPU'", where="backend spec")
    values = dict(spec.get("fields") or {})
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError("fields", unknown, f"fields of {cls.__name__} ({sorted(known)})", where="backend spec")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError("fields", values, f"valid values for {cls.__name__}: {exc}", where="backend spec") from exc


def backend_from_record(spec: Mapping[str, Any], allowed: Sequence[Backend]) -> Backend:
    """The backend a stored record names, only when it is one of ``allowed`` (built by the caller, not read).

    A record is data, never configuration: the spec must name a registered class whose fields pass the same
    validation as a user's (``backend_from_spec``), and the backend it gives must equal one the caller could use
    here. What comes back is the caller's own object, so a field that executes or redirects (an environment,
    arguments, a cache or plugin path inside a config mapping, a model cache) can never come from the record.
    ConfigError otherwise.
    """
    backend = backend_from_spec(spec)
    for candidate in allowed:
        if candidate == backend and backend_spec(candidate) == backend_spec(backend):
            return candidate
    raise ConfigError("backend", label(backend), "one of the configurations this call could pick "
                      f"({', '.join(label(b) for b in allowed) or 'none'})", where="stored record")


def label(backend: Backend, tilesize: Pair | None = None) -> str:
    """``OV_CPU(num_streams=2, fp16=False)`` with only the changed fields, plus the tile size."""
    spec = backend_spec(backend)
    fields = ", ".join(f"{k}={v!r}" for k, v in spec["fields"].items())
    tiles = f" tilesize={tilesize[0]}x{tilesize[1]}" if tilesize else ""
    return f"{spec['class']}({fields}){tiles}"
