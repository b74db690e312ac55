"""Render one script across a Ray cluster: chunks of frames on workers, joined into one lossless file.

``render(script, out)`` (and ``vsinfer render``): see :func:`vsinfer.render.farm.render` and the
"Render farm" page (docs/render-farm.md). Ray is the ``farm`` extra; ffmpeg must be installed.
"""

from __future__ import annotations

from .farm import ChunkRun, RenderResult, render
from .plan import CORE_GROUP, Chunk, local_workers, plan_chunks

__all__ = ["CORE_GROUP", "Chunk", "ChunkRun", "RenderResult", "local_workers", "plan_chunks", "render"]
