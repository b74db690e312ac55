"""A CPU without bf16 or fp16 arithmetic, emulated for ``benchmarks/vs_peers.py --no-bf16`` (never imported otherwise).

On such a CPU OpenVINO computes the f16 and bf16 hints in float32, and that is the only difference vsinfer's choices
and the peers' calls see. Every process of the benchmark gets this folder on ``PYTHONPATH``, so at start-up:

- vsinfer reads this CPU's flags without ``avx512_bf16``, ``amx_bf16``, ``avx512_fp16`` and ``amx_fp16`` (its precision
  report, the fp16 guard and its decisions' machine key follow);
- every OpenVINO configuration vsinfer hands the plugin has its f16 / bf16 hint, or no hint, replaced by f32, as
  OpenVINO would (its default precision there is f32).

CI runs the precision tests with it too (``make test-no-bf16``). The peers' calls are written in their float32 form
by the benchmark itself (vs-jetpack's ``OV_CPU(fp16=False)``,
whose only change is the hint). Kernels other than the precision's, and the CPU's speed, stay this machine's.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import vsinfer.backends.first_use as _first_use
import vsinfer.backends.ov.backend as _ov
import vsinfer.device as _device

_NATIVE_HALF = frozenset({"avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16"})
_real_cpu = _device.cpu


@functools.cache
def _cpu() -> _device.CPU:
    machine = _real_cpu()
    return dataclasses.replace(machine, model=f"{machine.model} (emulated: no bf16 / fp16)",
                               flags=machine.flags - _NATIVE_HALF)


_device.cpu = _cpu
_ov.cpu = _cpu  # the modules that import the name (timing.py and cli/measure.py import it when called)
_first_use.cpu = _cpu

_real_call = _ov.OVConfig.__call__


def _call(self: _ov.OVConfig) -> dict[str, Any]:
    properties = _real_call(self)
    if str(properties.get("INFERENCE_PRECISION_HINT", "")).lower() in ("", "f16", "bf16"):
        properties["INFERENCE_PRECISION_HINT"] = "f32"  # OpenVINO's own default there too (no hint: f32)
    return properties


_ov.OVConfig.__call__ = _call  # type: ignore[method-assign]
