"""The TensorRT family: TRT and TRT_RTX, their settings and the engine builder they share."""

from .backend import CLASSES, OFFERS, TRT, TRT_RTX

__all__ = ["CLASSES", "OFFERS", "TRT", "TRT_RTX"]
