"""The MIGraphX family: MIGX, its settings and its program builder."""

from .backend import CLASSES, MIGX, OFFERS

__all__ = ["CLASSES", "MIGX", "OFFERS"]
