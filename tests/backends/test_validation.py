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
    (Backend.ORT_CPU, {"verbosity": 7}, "verbosity", "0 (fatal only) .. 4 (verbose)"),
    (Backend.ORT_CPU, {"output_format": 3}, "output_format", "FP32 (0)"),
    (Backend.ORT_CPU, {"fp16_blacklist_ops": "Resize"}, "fp16_blacklist_ops", "not a single string"),
    (Backend.ORT_CPU, {"fp16": False, "fp16_blacklist_ops": ["Resize"]}, "fp16_blacklist_ops", "fp16=False"),
    (Backend.ORT_COREML, {"ml_program": 5}, "ml_program", "ML_PROGRAM"),
    (Backend.OV_CPU, {"custom_config": {"NUM_STREAMS": [1]}}, "custom_config['NUM_STREAMS']", "str / int / float"),
    (Backend.OV_CPU, {"num_threads": -1}, "num_threads", ">= 0"),
    (Backend.OV_GPU, {"fp16": False, "fp16_blacklist_ops": ["Conv"]}, "fp16_blacklist_ops", "fp16 is off"),
    (Backend.NCNN, {"batch_tiles": 0}, "batch_tiles", "an int 1 .. 256"),
    (Backend.NCNN, {"output_format": 2}, "output_format", "1 (float16)"),
    (Backend.TRT, {"builder_optimization_level": 9}, "builder_optimization_level", "0 .. 5"),
    (Backend.TRT, {"tiling_optimization_level": 4}, "tiling_optimization_level", "0 .. 3"),
    (Backend.TRT, {"workspace": 0}, "workspace", ">= 1"),
    (Backend.TRT, {"verbosity": 5}, "verbosity", "0 .. 4"),
    (Backend.TRT, {"opt_shapes": (64, 64)}, "opt_shapes", "static_shape=False"),
    (Backend.TRT_RTX, {"static_shape": False, "max_shapes": (0, 64)}, "max_shapes", "1 .. 16384"),
    (Backend.TRT, {"static_shape": False, "min_shapes": "64"}, "min_shapes", "(width, height)"),
    (Backend.TRT, {"avg_timing_iterations": 0}, "avg_timing_iterations", "1 .. 1000"),
    (Backend.MIGX, {"custom_args": "--fp16"}, "custom_args", "sequence of str"),
    (Backend.MIGX, {"custom_env": {"A": 1}}, "custom_env['A']", "a str"),
    # every scalar field is type-checked from its annotation: a bool is not an int, a string is not a bool
    (Backend.ORT_CPU, {"fp16": "no"}, "fp16", "a string is not a bool"),
    (Backend.ORT_CPU, {"fp16": 1}, "fp16", "an int is not a bool"),
    (Backend.ORT_CPU, {"num_streams": True}, "num_streams", "a bool is not an int"),
    (Backend.ORT_CPU, {"num_streams": "2"}, "num_streams", "write 2 without quotes"),
    (Backend.ORT_CPU, {"num_streams": 2.0}, "num_streams", "an int"),
    (Backend.ORT_CPU, {"num_streams": 10**6}, "num_streams", "1 .. 64"),
    (Backend.ORT_CPU, {"num_streams": 65}, "num_streams", "1 .. 64"),
    (Backend.ORT_CPU, {"verbosity": "4"}, "verbosity", "None or an int"),
    (Backend.ORT_CPU, {"output_format": 1.0}, "output_format", "None or an int"),
    (Backend.ORT_CPU, {"fp16_guard": None}, "fp16_guard", "True or False"),
    (Backend.ORT_CUDA, {"device_id": "0"}, "device_id", "an int"),
    (Backend.ORT_CUDA, {"device_id": False}, "device_id", "a bool is not an int"),
    (Backend.ORT_CUDA, {"cudnn_benchmark": "yes"}, "cudnn_benchmark", "True or False"),
    (Backend.OV_CPU, {"num_threads": "4"}, "num_threads", "an int"),
    (Backend.OV_CPU, {"bind_thread": "NO"}, "bind_thread", "a string is not a bool"),
    (Backend.OV_CPU, {"num_streams": 100}, "num_streams", "1 .. 64"),
    (Backend.OV, {"device": 0}, "device", "None or a str"),
    (Backend.OV_GPU, {"device_id": 1.5}, "device_id", "an int"),
    (Backend.OV_GPU, {"fp16": "false"}, "fp16", "None or True or False"),
    (Backend.NCNN, {"fp16": "no"}, "fp16", "a string is not a bool"),
    (Backend.NCNN, {"batch_tiles": "4"}, "batch_tiles", "None or an int"),
    (Backend.NCNN, {"num_streams": None}, "num_streams", "an int"),
    (Backend.TRT_RTX, {"static_shape": "no"}, "static_shape", "a string is not a bool"),
    (Backend.TRT, {"workspace": "1G"}, "workspace", "None or an int"),
    (Backend.TRT, {"verbosity": "verbose"}, "verbosity", "None or an int"),
    (Backend.TRT, {"tiling_optimization_level": 1.0}, "tiling_optimization_level", "an int"),
    (Backend.TRT, {"builder_optimization_level": True}, "builder_optimization_level", "a bool is not an int"),
    (Backend.TRT, {"force_rebuild": 1}, "force_rebuild", "True or False"),
    (Backend.TRT, {"max_threads": "8"}, "max_threads", "None or an int"),
    (Backend.TRT, {"num_streams": 1000}, "num_streams", "1 .. 64"),
    (Backend.MIGX, {"fast_math": "off"}, "fast_math", "True or False"),
    (Backend.MIGX, {"exhaustive_tune": None}, "exhaustive_tune", "True or False"),
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


@pytest.mark.parametrize(("cls", "expected"), [
    (Backend, "a concrete backend (e.g. ORT_CPU"),
    (Backend.ORT, "one of ORT_CPU, ORT_CUDA, ORT_DML, ORT_COREML: ORT is their shared base"),
])
def test_base_classes_are_not_backends(cls: Any, expected: str) -> None:
    # ORT alone would run on the plugin's default provider: it names none, so it is refused with the concrete names
    with pytest.raises(ConfigError) as info:
        cls()
    assert info.value.parameter == "class"
    assert str(info.value).startswith(f"{cls.__name__}: class={cls.__name__!r} is not valid; expected {expected}")


def test_accepted_scalars() -> None:
    import numpy as np

    # IntEnum members and numpy integers are ints; a numpy integer is stored as a plain int for the plugin
    assert Backend.ORT_CPU(verbosity=Backend.ORT.Verbosity.INFO).verbosity == 3
    assert Backend.TRT(tiling_optimization_level=np.int64(2)).tiling_optimization_level == 2
    backend = Backend.ORT_CPU(num_streams=np.int32(3))
    assert type(backend.num_streams) is int and backend == Backend.ORT_CPU(num_streams=3)
    assert Backend.ORT_CPU(num_streams=64).num_streams == 64
    assert Backend.OV_CPU(num_streams=None).num_streams is None


def test_annotations_of_a_backend_defined_elsewhere() -> None:
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True, kw_only=True)
    class Mine(Backend):
        namespace: ClassVar[str] = "mine"
        quality: int = 3
        name: str | None = None

    assert Mine(quality=5).quality == 5
    with pytest.raises(ConfigError, match=r"Mine: quality='5' is not valid; expected an int"):
        Mine(quality="5")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"name=3 is not valid; expected None or a str"):
        Mine(name=3)  # type: ignore[arg-type]


def test_frozen_and_keyword_only() -> None:
    backend = Backend.ORT_CPU()
    with pytest.raises(AttributeError):
        backend.fp16 = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        Backend.ORT_CPU(1)  # type: ignore[misc]
