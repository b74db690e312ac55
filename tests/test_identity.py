from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ModelFactory
from tests.trt_fixtures import builds, known_device  # noqa: F401 (fixtures: the injected device, the build counter)
from vsinfer import Backend
from vsinfer.identity import RUNTIME_ONLY_FIELDS, build_fields, canonical
from vsinfer.store import identity_name

SCRIPT = """
import json, sys
import vsinfer.backends.trt.builder as t
from vsinfer.identity import DeviceInfo
from vsinfer.store import identity_name
from vsinfer import Backend
t.plugin_device = lambda ns, i: DeviceInfo("Test GPU", "8.9")
b = Backend.TRT_RTX(fp16_blacklist_ops=set(sys.argv[2].split(",")), static_shape=False, max_shapes=(256, 128))
ident = b.get_identity(sys.argv[1], 3, (128, 64))
print(identity_name(ident), json.dumps(ident, sort_keys=True))
"""


def test_same_identity_in_every_process_and_order(make_model: ModelFactory, isolated_cache: Path) -> None:
    model = make_model(3, 3)
    results = set()
    for seed, order in [("0", "Conv,Relu,Add"), ("1", "Add,Conv,Relu"), ("12345", "Relu,Add,Conv"),
                        ("random", "Conv,Add,Relu")]:
        env = os.environ | {"PYTHONHASHSEED": seed, "VSINFER_CACHE_DIR": str(isolated_cache)}
        out = subprocess.run([sys.executable, "-c", SCRIPT, str(model), order], env=env, capture_output=True,
                             text=True, check=True).stdout
        results.add(out.strip())
    assert len(results) == 1
    name, record = results.pop().split(" ", 1)
    assert name == identity_name(json.loads(record))


def test_identity_holds_what_changes_the_engine_only() -> None:
    fields = build_fields(Backend.TRT(num_streams=3, use_cuda_graph=False, verbosity=4, force_rebuild=True,
                                      max_threads=2, device_id=1))
    assert not RUNTIME_ONLY_FIELDS & fields.keys()
    assert fields == build_fields(Backend.TRT())
    assert build_fields(Backend.TRT(fp16=False)) != build_fields(Backend.TRT())
    assert json.dumps(fields)  # plain JSON data


def test_identity_names_the_model_by_content(make_model: ModelFactory, tmp_path: Path) -> None:
    model = make_model(3, 3)
    copy = tmp_path / "renamed.onnx"
    copy.write_bytes(model.read_bytes())
    a = Backend.TRT_RTX().get_identity(model, 3, 64)
    assert a == Backend.TRT_RTX().get_identity(copy, 3, (64, 64))
    other = make_model(3, 3, seed=7)
    assert Backend.TRT_RTX().get_identity(other, 3, 64)["model_crc32"] != a["model_crc32"]


def test_canonical_refuses_unknown_objects() -> None:
    assert canonical({"b": (1, 2), "a": {3, 1}}) == {"a": [1, 3], "b": [1, 2]}
    with pytest.raises(TypeError):
        canonical(object())
