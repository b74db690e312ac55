"""AMD MIGraphX (``core.migx``): programs compiled from ONNX with ``migraphx-driver``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..tiling import Tiling, as_pair
from .base import Backend
from .fields import FrozenMapping, check, check_types, frozen_mapping, shape_pair

if TYPE_CHECKING:
    import vapoursynth as vs

    from ..model import ModelInfo

__all__ = ["MIGX"]


@dataclass(frozen=True, kw_only=True)
class MIGX(Backend):
    """AMD MIGraphX on ROCm: compiles (once, cached) a program for the model and runs it with ``core.migx``."""

    namespace: ClassVar[str] = "migx"
    path_argument: ClassVar[str] = "program_path"

    device_id: int = 0
    """HIP device index."""
    num_streams: int = 1
    """Parallel inference streams."""
    fp16: bool | None = None
    """Quantize the program to half precision (``--fp16``); None means off."""
    bf16: bool | None = None
    """Quantize the program to bfloat16 (``--bf16``); None means off."""
    fp16_guard: bool = True
    """Find the nodes whose values overflow float16 and keep them in float32 (see ``vsinfer.fp16``)."""
    opt_shapes: tuple[int, int] | None = None
    """(w, h) the program is compiled for; None means the tile size."""
    fast_math: bool = True
    """Allow fast-math approximations (``--disable-fast-math`` when False)."""
    exhaustive_tune: bool = False
    """Try every kernel configuration while compiling (``--exhaustive-tune``)."""
    custom_env: Mapping[str, str] = field(default_factory=FrozenMapping)
    """Extra environment variables for ``migraphx-driver``."""
    custom_args: Sequence[str] = ()
    """Extra ``migraphx-driver compile`` arguments, appended in order."""
    force_rebuild: bool = False
    """Compile even when a cached program matches."""

    def __post_init__(self) -> None:
        """Normalize collections and precision."""
        check_types(self)  # before fp16 / bf16 are normalized: "no" must not become True
        self._set("fp16", bool(self.fp16))
        self._set("bf16", bool(self.bf16))
        super().__post_init__()
        self._set("opt_shapes", shape_pair("MIGX", "opt_shapes", self.opt_shapes))
        self._set("custom_env", frozen_mapping("MIGX", "custom_env", self.custom_env, (str,)))
        args = self.custom_args
        check(not isinstance(args, str) and all(isinstance(a, str) for a in args), "MIGX", "custom_args", args,
              "a sequence of str, e.g. ['--enable-offload-copy']")
        self._set("custom_args", tuple(args))

    def get_args(self, clips: vs.VideoNode | Sequence[vs.VideoNode]) -> dict[str, Any]:
        """Runtime arguments of ``core.migx.Model`` (the program path is added by ``inference``)."""
        return {"device_id": self.device_id, "num_streams": self.num_streams}

    def prepare_network(
        self, network_path: Path, model: ModelInfo, channels: int, tiling: Tiling, *, bits: int
    ) -> Path:
        """Compile or find the program for this model, channel count and tile size."""
        from ..engine.migx import ProgramBuilder

        return ProgramBuilder(self).build_program(model, channels, tiling.tilesize, None)

    def build_program(
        self,
        network_path: str | os.PathLike[str],
        channels: int,
        tilesize: int | tuple[int, int],
        input_name: str | None = "input",
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Path:
        """The cached MIGraphX program for ``network_path`` at ``tilesize``, compiled first if missing."""
        from ..engine.migx import ProgramBuilder
        from ..model import model_info

        return ProgramBuilder(self, cache_dir=cache_dir).build_program(
            model_info(network_path), channels, as_pair("tilesize", tilesize), input_name
        )
