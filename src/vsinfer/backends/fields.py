"""Field normalization and validation shared by the backend dataclasses.

User-given collections become hashable, order-independent values here, so that two backends that
describe the same thing compare and hash equal.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..tiling import parse_pair

__all__ = ["FrozenMapping", "check", "frozen_mapping", "name_set", "shape_pair"]


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


def check(ok: bool, where: str, field: str, value: Any, expected: str) -> None:
    """Raise ConfigError for ``field`` unless ``ok``."""
    if not ok:
        raise ConfigError(field, value, expected, where=where)


def name_set(where: str, field: str, value: Collection[str] | None) -> tuple[str, ...] | None:
    """A block list as a sorted tuple of unique names; None stays None."""
    if value is None:
        return None
    ok = not isinstance(value, str | bytes) and isinstance(value, Collection) and all(isinstance(v, str) for v in value)
    check(ok, where, field, value, "a collection of op or node names (e.g. ['Resize']), not a single string")
    return tuple(sorted(set(value)))


def frozen_mapping(
    where: str, field: str, value: Mapping[str, Any] | None, value_types: tuple[type, ...]
) -> FrozenMapping:
    """A mapping with str keys and values of ``value_types``, frozen and sorted."""
    check(value is None or isinstance(value, Mapping), where, field, value, "a mapping of str to values")
    items = dict(value or {})
    for key, item in items.items():
        check(isinstance(key, str), where, f"{field} key", key, "a str")
        names = " / ".join(t.__name__ for t in value_types)
        check(isinstance(item, value_types), where, f"{field}[{key!r}]", item, f"a {names}")
    return FrozenMapping(items)


def shape_pair(where: str, field: str, value: int | Sequence[int] | None, minimum: int = 1) -> tuple[int, int] | None:
    """A (width, height) shape from an int or a 1- or 2-sequence; None stays None."""
    if value is None:
        return None
    pair = parse_pair(value)
    if pair is None:
        raise ConfigError(field, value, "an int or a (width, height) pair", where=where)
    check(min(pair) >= minimum, where, field, value, f"values >= {minimum}")
    return pair


def check_types(backend: object) -> None:
    """Type-check every field of ``backend`` against its annotation. (Stub: helper H6 implements it.)"""
