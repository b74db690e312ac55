"""Field normalization and validation shared by the backend dataclasses.

User-given collections become hashable, order-independent values here, so that two backends that
describe the same thing compare and hash equal.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import numbers
import sys
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, SupportsInt

from ..errors import ConfigError
from ..tiling import MAX_SIDE, parse_pair, plain_int
from ..validation import MAX_NUM_STREAMS

__all__ = ["FrozenMapping", "check_types", "frozen_mapping", "name_set", "plain_numbers", "require", "shape_pair"]

logger = logging.getLogger(__name__)

class FrozenMapping(Mapping[str, Any]):
    """A read-only, hashable mapping with keys kept sorted; equal to any mapping with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        """Copy ``items`` (sorted by key)."""
        self._items: tuple[tuple[str, Any], ...] = tuple(sorted((items or {}).items()))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other.items())

    def __repr__(self) -> str:
        return repr(dict(self._items))


def require(ok: bool, where: str, field: str, value: Any, expected: str) -> None:
    """Raise ConfigError for ``field`` unless ``ok``."""
    if not ok:
        raise ConfigError(field, value, expected, where=where)


def name_set(where: str, field: str, value: Collection[str] | None) -> tuple[str, ...] | None:
    """A block list as a sorted tuple of unique names; None stays None."""
    if value is None:
        return None
    ok = not isinstance(value, str | bytes) and isinstance(value, Collection) and all(isinstance(v, str) for v in value)
    require(ok, where, field, value, "a collection of op or node names (e.g. ['Resize']), not a single string")
    return tuple(sorted(set(value)))


def frozen_mapping(
    where: str, field: str, value: Mapping[str, Any] | None, value_types: tuple[type, ...]
) -> FrozenMapping:
    """A mapping with str keys and values of ``value_types``, frozen and sorted."""
    require(value is None or isinstance(value, Mapping), where, field, value, "a mapping of str to values")
    items = dict(value or {})
    for key, item in items.items():
        require(isinstance(key, str), where, f"{field} key", key, "a str")
        names = " / ".join(t.__name__ for t in value_types)
        require(isinstance(item, value_types), where, f"{field}[{key!r}]", item, f"a {names}")
    return FrozenMapping(items)


def shape_pair(where: str, field: str, value: int | Sequence[int] | None, minimum: int = 1) -> tuple[int, int] | None:
    """A (width, height) shape from an int or a 1- or 2-sequence; None stays None."""
    if value is None:
        return None
    pair = parse_pair(value)
    if pair is None:
        raise ConfigError(field, value, "an int or a (width, height) pair", where=where)
    require(min(pair) >= minimum and max(pair) <= MAX_SIDE, where, field, value,
            f"values {minimum} .. {MAX_SIDE} (pixels of a tile side)")
    return pair


# -- type checks from the annotations ---------------------------------------------------------------------------
Rule = tuple[Callable[[Any], bool], str]
"""A predicate on a value and the words for what it accepts."""


def _is_int(value: Any) -> bool:
    """An int (an IntEnum member or a numpy integer too), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


_SCALARS: dict[Any, Rule] = {
    bool: (lambda v: isinstance(v, bool), "True or False"),
    int: (_is_int, "an int"),
    SupportsInt: (_is_int, "an int"),
    float: (_is_number, "a number"),
    str: (lambda v: isinstance(v, str), "a str"),
}


def _rule(hint: Any) -> Rule | None:
    """The rule for a scalar annotation, or None for collections, mappings and shapes (their normalizers check).

    Scalars are bool, int, float, str, SupportsInt, IntEnum classes, Literal and None, and unions of them.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        rules = [_rule(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        if not rules or any(r is None for r in rules):
            return None
        allows_none = type(None) in typing.get_args(hint)
        tests = [r[0] for r in rules if r is not None]
        words = (["None"] if allows_none else []) + [r[1] for r in rules if r is not None]
        return (lambda v: (allows_none and v is None) or any(t(v) for t in tests)), " or ".join(words)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return (lambda v: any(v == a and type(v) is type(a) for a in allowed)), " or ".join(map(repr, allowed))
    if hint is type(None):
        return (lambda v: v is None), "None"
    if isinstance(hint, type) and issubclass(hint, enum.IntEnum):
        members = [int(m) for m in hint]
        return (lambda v: _is_int(v) and int(v) in members), f"a {hint.__qualname__} ({', '.join(map(str, members))})"
    return _SCALARS.get(hint)


def _field_hints(cls: type) -> dict[str, Any]:
    """The resolved annotation of each dataclass field of ``cls``; unresolvable ones are left out (logged)."""
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # a forward reference that only exists under TYPE_CHECKING: resolve field by field
        logger.debug("cannot resolve the annotations of %s at once (%s); resolving field by field", cls, exc)
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        namespace = vars(sys.modules.get(klass.__module__, types.ModuleType("_")))
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            try:
                local = dict(vars(klass))
                hints[name] = eval(annotation, namespace, local) if isinstance(annotation, str) else annotation
            except Exception:  # left to the class's own checks
                hints.pop(name, None)
    return hints


_rules_cache: dict[type, tuple[tuple[str, Rule], ...]] = {}


def _field_rules(cls: type) -> tuple[tuple[str, Rule], ...]:
    """The scalar fields of ``cls`` and their rules, worked out once per class."""
    cached = _rules_cache.get(cls)
    if cached is not None:
        return cached
    hints = _field_hints(cls)
    rules: list[tuple[str, Rule]] = []
    for f in dataclasses.fields(cls):
        rule = _rule(hints[f.name]) if f.name in hints else None
        if rule is not None:
            rules.append((f.name, rule))
    _rules_cache[cls] = tuple(rules)
    return _rules_cache[cls]


def _why(value: Any, words: str) -> str:
    """``words``, with the reason a near miss is refused."""
    if isinstance(value, bool) and "True or False" not in words:
        return f"{words} (a bool is not an int)"
    if isinstance(value, str) and "True or False" in words:
        return f"{words} (a string is not a bool: {value!r} would be truthy)"
    if isinstance(value, str) and "an int" in words:
        return f"{words}, not a string (write {value.strip()} without quotes)" if value.strip().isdigit() else words
    if isinstance(value, numbers.Integral) and "True or False" in words:
        return f"{words} (an int is not a bool)"
    if isinstance(value, float) and value.is_integer() and "an int" in words:
        return f"{words} (write {int(value)}, not {value!r})"
    return words


def _concrete_subclasses(cls: type) -> list[str]:
    found: list[str] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        if not vars(sub).get("abstract", False) and not sub.__name__.startswith("_") and sub.__name__ not in found:
            found.append(sub.__name__)
        found += [n for n in _concrete_subclasses(sub) if n not in found]
    return found


def check_concrete(cls: type) -> None:
    """Refuse an abstract base: ``Backend`` itself (no plugin namespace) or a family's shared base (``abstract``)."""
    where = cls.__name__
    if not getattr(cls, "namespace", ""):
        require(False, where, "class", where, "a concrete backend (e.g. ORT_CPU, OV_CPU, NCNN, TRT); "
                "Backend is the base class: use Backend.ORT_CPU(), Backend.autoselect() ...")
    if vars(cls).get("abstract", False):
        concrete = _concrete_subclasses(cls)
        require(False, where, "class", where, f"one of {', '.join(concrete)}: {where} is their shared base")


def _numpy_ints(value: Any) -> list[int] | None:
    """The ints of a numpy integer scalar (one) or 1-D integer array, else None."""
    if type(value).__module__ != "numpy":
        return None
    ndim = getattr(value, "ndim", None)
    if ndim == 0:
        one = plain_int(value)
        return None if one is None else [one]
    if ndim == 1 and getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u"):
        return [int(v) for v in value.tolist()]
    return None


def plain_numbers(value: Any) -> Any:
    """``value`` with numpy integers made plain: a scalar becomes an int, a 1-D integer array a tuple of ints.

    A list or tuple keeps its type with its numpy integer items made ints; anything else (a bool, ``np.bool_``, a
    float array) is returned as it is, for the field's own check to name. ``value`` itself when nothing changes.
    """
    ints = _numpy_ints(value)
    if ints is not None:
        return ints[0] if getattr(value, "ndim", 1) == 0 else tuple(ints)
    if isinstance(value, list | tuple) and any(type(v).__module__ == "numpy" for v in value):
        items = [plain_int(v) if _numpy_ints(v) is not None and getattr(v, "ndim", 1) == 0 else v for v in value]
        return type(value)(items) if isinstance(value, list) or type(value) is tuple else value
    return value


def check_types(backend: object) -> None:
    """Type-check every field of ``backend`` against its annotation, before any other check.

    A bool is not an int and a string is not a bool (``fp16="no"`` would be truthy); ``SupportsInt`` fields take
    ints and IntEnum members; None only where the annotation allows it. Collections, mappings and shapes are left to
    their normalizers (``name_set``, ``frozen_mapping``, ``shape_pair``). ``num_streams`` is bounded by
    MAX_NUM_STREAMS. Numpy integers are stored as plain ints, so that the plugin gets an int.
    """
    cls = type(backend)
    where = cls.__name__
    check_concrete(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # a backend dataclass
        value = getattr(backend, f.name)
        plain = plain_numbers(value)
        if plain is not value:
            object.__setattr__(backend, f.name, plain)
    for name, (test, words) in _field_rules(cls):
        value = getattr(backend, name)
        require(test(value), where, name, value, _why(value, words))
        if _is_int(value) and type(value) is not int and not isinstance(value, int):  # numpy integer
            object.__setattr__(backend, name, int(value))
    streams: Any = getattr(backend, "num_streams", None)
    if _is_int(streams) and int(streams) > MAX_NUM_STREAMS:
        require(False, where, "num_streams", streams,
              f"an int 1 .. {MAX_NUM_STREAMS} (each stream holds its own copy of the model; 1 .. 4 is usual)")
