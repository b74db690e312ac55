from __future__ import annotations

import pytest

from vsinfer.errors import TilingError
from vsinfer.tiling import Tiling, as_pair, resolve_tiling


def test_pairs_follow_the_plugins_defaults() -> None:
    assert as_pair("overlap", 4) == (4, 4)
    assert as_pair("overlap", [4]) == (4, 4)
    assert as_pair("overlap", (4, 2)) == (4, 2)
    with pytest.raises(TilingError):
        as_pair("overlap", True)


def test_whole_frame_passes_no_tiling_arguments() -> None:
    tiling = resolve_tiling(64, 48, None, 0)
    assert tiling == Tiling((64, 48), (0, 0), whole_frame=True)
    assert tiling.plugin_args() == {}


def test_tiled_arguments() -> None:
    assert resolve_tiling(64, 48, 32, (4, 2)).plugin_args() == {"tilesize": [32, 32], "overlap": [4, 2]}
    assert resolve_tiling(64, 48, (32, 16), 0).plugin_args() == {"tilesize": [32, 16]}


def test_edge_overlap_allowed_when_tile_keeps_pixels() -> None:
    assert resolve_tiling(64, 48, 9, 4).overlap == (4, 4)
    with pytest.raises(TilingError, match="2 \\* overlap < tile width"):
        resolve_tiling(64, 48, 8, 4)
