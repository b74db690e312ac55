"""Validation of a call before any plugin sees it: clips, model, output, forwarded kwargs, device indexes."""

from .devices import check_device_index, id_range
from .inputs import check_output, clip_list, image_input, model_path
from .kwargs import MAX_NUM_STREAMS, check_kwargs
from .values import Shown, describe

__all__ = [
    "MAX_NUM_STREAMS",
    "Shown",
    "check_device_index",
    "check_kwargs",
    "check_output",
    "clip_list",
    "describe",
    "id_range",
    "image_input",
    "model_path",
]
