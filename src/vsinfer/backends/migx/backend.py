"""AMD MIGraphX (``core.migx``): programs compiled from ONNX with ``migraphx-driver``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ... import plugins
from ...store.inventory import Kind
from ...validation import check_device_index
from ..base import Backend
from ..fields import check_types, frozen_mapping, require, shape_pair
from ..precision import HalfOrBfloat16
from ..registry import Offer, plugin_loaded
from .builder import ProgramBuilder
from .settings import MIGXSettings

if TYPE_CHECKING:
    import vapoursynth as vs

    from ...model import ModelInfo

__all__ = ["CACHE_KINDS", "CLASSES", "MIGX", "OFFERS"]


@dataclass(frozen=True, kw_only=True)
class MIGX(HalfOrBfloat16, MIGXSettings, Backend):
    """AMD MIGraphX on ROCm: compiles (once, cached) a program for the model and runs it with ``core.migx``."""

    namespace: ClassVar[str] = "migx"
    path_argument: ClassVar[str] = "program_path"
    builds: ClassVar[bool] = True
    on_gpu: ClassVar[bool] = True

    def __post_init__(self) -> None:
        """Normalize collections and precision."""
        check_types(self)  # before fp16 / bf16 are normalized: "no" must not become True
        self._set("fp16", bool(self.fp16))
        self._set("bf16", bool(self.bf16))
        super().__post_init__()
        self._set("opt_shapes", shape_pair("MIGX", "opt_shapes", self.opt_shapes))
        self._set("custom_env", frozen_mapping("MIGX", "custom_env", self.custom_env, (str,)))
        args = self.custom_args
        require(not isinstance(args, str) and all(isinstance(a, str) for a in args), "MIGX", "custom_args", args,
              "a sequence of str, e.g. ['--enable-offload-copy']")
        self._set("custom_args", tuple(args))

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Runtime arguments of ``core.migx.Model`` (the program path is added by ``inference``)."""
        return {"device_id": self.device_id, "num_streams": self.num_streams}

    def prepare_network(
        self, model: ModelInfo, channels: int, tilesize: tuple[int, int], *, bits: int, input_name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Compile or find the program for this model, channel count and tile size."""
        return ProgramBuilder(self, cache_dir=cache_dir).build_program(model, channels, tilesize, input_name)

    build_program = Backend.prebuild
    """The cached MIGraphX program for ``network_path`` at ``tilesize``, compiled first if missing (``prebuild``)."""

    # -- precision: HalfOrBfloat16; no node block list, so an overflowing model runs in float32 --

    # -- checks --
    def check_device(self, where: str) -> None:
        """``device_id`` is one of the GPUs the plugin lists."""
        for device_id in self.device_ids():
            check_device_index(self.namespace, device_id, where)

    @classmethod
    def tuning_skip(cls, device_id: int = 0) -> str | None:
        """Left out when the plugin sees no such GPU."""
        if plugins.device_properties(cls.namespace, device_id) is None:
            return f"core.migx sees no GPU {device_id}"
        return None


CLASSES = (MIGX,)
"""The classes of this family."""

CACHE_KINDS = (Kind("migx", "artifacts", (".mxr",)),)
"""What this family keeps in the store: compiled programs."""

OFFERS = (Offer(MIGX, frozenset({"amd"}), 70, plugin_loaded("migx")),)
"""What this family offers autoselect."""
