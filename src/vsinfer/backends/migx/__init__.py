"""The MIGraphX family: MIGX, its settings and its program builder."""

from .backend import CACHE_KINDS, CLASSES, MIGX, OFFERS

__all__ = ["CACHE_KINDS", "CLASSES", "MIGX", "OFFERS"]
