"""Invalid fields are rejected at construction, naming the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from vsinfer import Backend
from vsinfer.errors import ConfigError

CASES: list[tuple[Any, dict[str, Any], str, str]] = [
    (Backend.ORT_CPU, {"num_streams": 0}, "num_streams", ">= 1"),
    (Backend.NCNN, {"device_id": -1}, "device_id", ">= 0"),
    (Backend.ORT_CUDA, {"device_id": -2}, "device_id", ">= 0"),
    (Backend.OV_CPU, {"fp16": True, "bf16": True}, "fp16", "not both"),
    (Backend.TRT, {"fp16": True, "bf16": True}, "fp16", "not both"),
    (Backend.MIGX, {"fp16": True, "bf16": True}, "fp16", "not both"),
    (Backend.ORT_CPU, {"verbosity": 7}, "verbosity", "0 (verbose) .. 4"),
    (Backend.ORT_CPU, {"output_format": 3}, "output_format", "FP32 (0)"),
    (Backend.ORT_CPU, {"fp16_blacklist_ops": "Resize"}, "fp16_blacklist_ops", "not a single string"),
    (Backend.ORT_CPU, {"fp16": False, "fp16_blacklist_ops": ["Resize"]}, "fp16_blacklist_ops", "fp16=False"),
    (Backend.ORT_COREML, {"ml_program": 5}, "ml_program", "ML_PROGRAM"),
    (Backend.OV_CPU, {"custom_config": {"NUM_STREAMS": [1]}}, "custom_config['NUM_STREAMS']", "str / int / float"),
    (Backend.OV_CPU, {"num_threads": -1}, "num_threads", ">= 0"),
    (Backend.OV_GPU, {"fp16": False, "fp16_blacklist_ops": ["Conv"]}, "fp16_blacklist_ops", "fp16 is off"),
    (Backend.NCNN, {"batch_tiles": 0}, "batch_tiles", ">= 1"),
    (Backend.NCNN, {"output_format": 2}, "output_format", "1 (float16)"),
    (Backend.TRT, {"builder_optimization_level": 9}, "builder_optimization_level", "0 .. 5"),
    (Backend.TRT, {"tiling_optimization_level": 4}, "tiling_optimization_level", "0 .. 3"),
    (Backend.TRT, {"workspace": 0}, "workspace", ">= 1"),
    (Backend.TRT, {"verbosity": 5}, "verbosity", "0 .. 4"),
    (Backend.TRT, {"opt_shapes": (64, 64)}, "opt_shapes", "static_shape=False"),
    (Backend.TRT_RTX, {"static_shape": False, "max_shapes": (0, 64)}, "max_shapes", ">= 1"),
    (Backend.TRT, {"static_shape": False, "min_shapes": "64"}, "min_shapes", "(width, height)"),
    (Backend.TRT, {"avg_timing_iterations": 0}, "avg_timing_iterations", ">= 1"),
    (Backend.MIGX, {"custom_args": "--fp16"}, "custom_args", "sequence of str"),
    (Backend.MIGX, {"custom_env": {"A": 1}}, "custom_env['A']", "a str"),
]


@pytest.mark.parametrize(("cls", "kwargs", "field", "expected"), CASES,
                         ids=[f"{c.__name__}-{f}" for c, _, f, _ in CASES])
def test_rejected(cls: Any, kwargs: dict[str, Any], field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert info.value.parameter == field
    assert message.startswith(f"{cls.__name__}: {field}=")
    assert repr(info.value.value) in message
    assert expected in message


@pytest.mark.parametrize("cls", [Backend.OV, Backend])
def test_base_classes_are_not_backends(cls: Any) -> None:
    with pytest.raises(ConfigError, match="expected"):
        cls()


def test_frozen_and_keyword_only() -> None:
    backend = Backend.ORT_CPU()
    with pytest.raises(AttributeError):
        backend.fp16 = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        Backend.ORT_CPU(1)  # type: ignore[misc]
