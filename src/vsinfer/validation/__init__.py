"""Validation of a call before any plugin sees it: clips, model, output, forwarded kwargs, device indexes."""

from .colour import RGB_HINT, explain_inputs, label_outputs
from .devices import check_device_index, id_range
from .inputs import channel_count, check_output, choose_output, clip_list, image_input, is_nhwc, model_path
from .kwargs import MAX_NUM_STREAMS, check_kwargs
from .limits import EmptyScatterUpdates, GraphLimit, TopKLimit, check_graph_limits
from .sizes import auto_overlap, check_channels, check_size_multiple, check_static_size, multiple_for
from .values import Shown, describe

__all__ = [
    "MAX_NUM_STREAMS",
    "RGB_HINT",
    "EmptyScatterUpdates",
    "GraphLimit",
    "Shown",
    "TopKLimit",
    "auto_overlap",
    "channel_count",
    "check_channels",
    "check_device_index",
    "check_graph_limits",
    "check_kwargs",
    "check_output",
    "check_size_multiple",
    "check_static_size",
    "choose_output",
    "clip_list",
    "describe",
    "explain_inputs",
    "id_range",
    "image_input",
    "is_nhwc",
    "label_outputs",
    "model_path",
    "multiple_for",
]
