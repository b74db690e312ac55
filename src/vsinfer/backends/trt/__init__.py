"""The TensorRT family: TRT and TRT_RTX, their settings and the engine builder they share."""

from .backend import CACHE_KINDS, CLASSES, OFFERS, TRT, TRT_RTX

__all__ = ["CACHE_KINDS", "CLASSES", "OFFERS", "TRT", "TRT_RTX"]
