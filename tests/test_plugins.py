from __future__ import annotations

import pytest

from tests.conftest import need_plugin
from vsinfer.errors import UnsupportedOptionError
from vsinfer.plugins import Param, accepted_args, parse_signature, plugin_version, select_args


def test_parse_signature() -> None:
    params = parse_signature("clips:vnode[];network_path:data;overlap:int[]:opt;config:func:opt;")
    assert params["clips"] == Param("clips", "vnode", array=True, optional=False)
    assert params["overlap"] == Param("overlap", "int", array=True, optional=True)
    assert params["config"].type == "func"
    assert list(params) == ["clips", "network_path", "overlap", "config"]


@pytest.mark.parametrize("namespace", ["ort", "ov", "ncnn", "trt_rtx"])
def test_real_plugins_signatures(namespace: str) -> None:
    need_plugin(namespace)
    accepted = accepted_args(namespace)
    assert "clips" in accepted and "flexible_output_prop" in accepted
    assert plugin_version(namespace).startswith("v")


def test_select_args_drops_defaults_and_rejects_user_options() -> None:
    need_plugin("ncnn")
    args = {"fp16": 1, "brand_new_option": 3}
    assert select_args("ncnn", args, user_set={"fp16"}) == {"fp16": 1}
    with pytest.raises(UnsupportedOptionError) as info:
        select_args("ncnn", args, user_set={"brand_new_option"})
    assert info.value.option == "brand_new_option" and info.value.version == plugin_version("ncnn")
