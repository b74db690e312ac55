"""INT8 quantization calibrated on the user's clip (``vsinfer.quantize``), with real onnxruntime runs.

Clips are small (96x64 RGBS, 12 frames of seeded numpy content that changes from frame to frame) and ``frames=4``,
so each quantization of the demo model takes well under a second. Spies on ``vsinfer.quantize.search`` (what the
face calls) and ``vsinfer.quantize.qdq._quantize`` (each quantization tried) tell a stored verdict from a new one.
Every test runs in its own cache (``isolated_cache``). The node that writes the model's output is kept in float
from the first attempt on (``output_nodes``).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import vapoursynth as vs
from onnx import TensorProto, helper, numpy_helper

import vsinfer.quantize as quantize_module
import vsinfer.quantize.qdq as qdq
from vsinfer.errors import ClipError, ConfigError, ModelError, QualityError
from vsinfer.model import model_info, quantized
from vsinfer.quantize import Quantized, quantize
from vsinfer.quantize.pictures import read_pictures

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "vsinfer" / "models" / "demo_2x.onnx"
ZOO = ROOT / "tests" / "data" / "zoo"
BOUND = 30.0
"""The bound the demo model passes at its first attempt on every x86 CPU. Its INT8 copy measures about 44.5 dB on
a CPU with VNNI, but about 37 dB on one with AVX2 alone (measured under QEMU's Haswell model): onnxruntime's U8S8
kernels there (VPMADDUBSW) saturate, while the float model gives the same values on both (1e-7). ArtCNN: about 52
and 28 dB; compact: 55 on both."""
COMPACT = ZOO / "compact.onnx"
"""A float 4x model that quantizes well (about 55 dB on every CPU: it passes the default 40 dB at once) and has 20
nodes the quantizer handles: the search keeps at most 15 in float (ROUNDS), so 100 dB is out of its reach and it is
refused (about 75 dB with 15 nodes in float; 2-3 s for all the rounds)."""
FACTS = ("models/", "sizes/", "fp16/")
"""Cache folders of records that are true whatever a call did (as in tests/test_bad_inputs.py)."""
MARKER = ".vsinfer-cache"

core = vs.core


# -- clips and models -------------------------------------------------------------------------------------------
def content(seed: int = 0, length: int = 12, width: int = 96, height: int = 64, fmt: int = vs.RGBS) -> vs.VideoNode:
    """Waves whose frequency changes from frame to frame, plus a little noise: every frame differs."""
    blank = core.std.BlankClip(width=width, height=height, format=fmt, length=length)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed * 1000 + n)
        for p in range(out.format.num_planes):
            wave = 0.5 + 0.4 * np.sin(xx * (3 + p + n % 5 + seed) * np.pi + yy * (2 + n % 3) * np.pi + p)
            np.asarray(out[p])[:] = np.clip(wave + 0.05 * rng.standard_normal((height, width)), 0, 1)
        return out

    return core.std.ModifyFrame(blank, blank, fill)


def poisoned(width: int = 96, height: int = 64, length: int = 12, fmt: int = vs.RGBS) -> vs.VideoNode:
    """A clip whose every frame request fails: proves a check came before any frame was read."""
    blank = core.std.BlankClip(width=width, height=height, format=fmt, length=length)

    def fail(n: int) -> vs.VideoNode:
        raise RuntimeError(f"frame {n} was requested before the arguments were checked")

    return core.std.FrameEval(blank, fail)


def run_float_and_int8(source: Path, int8: Path, picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outputs = []
    for model in (source, int8):
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        outputs.append(np.asarray(session.run(None, {session.get_inputs()[0].name: picture[None]})[0]))
    return outputs[0], outputs[1]


def outlier_model(path: Path) -> Path:
    """Three Convs; the middle one writes one channel of constant 2000 (the last Conv never reads it).

    INT8 activations are quantized per tensor: that channel stretches the middle tensor's range to 0..2000, so
    its other channels (values about 1) round to nothing, and the output is garbage (5 to 10 dB). Keeping the
    middle Conv and its reader in float (the tensor then is not quantized) repairs it (about 40 dB) while the
    first Conv stays INT8; keeping all three in float leaves no quantized node at all.
    """
    rng = np.random.default_rng(0)
    wb = (rng.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32)
    bb = np.zeros(8, np.float32)
    wb[0], bb[0] = 0.0, 2000.0
    wc = (rng.standard_normal((3, 8, 3, 3)) * 0.2).astype(np.float32)
    wc[:, 0] = 0.0
    weights = {"WA": (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32), "BA": np.zeros(8, np.float32),
               "WB": wb, "BB": bb, "WC": wc, "BC": np.zeros(3, np.float32)}
    nodes = [helper.make_node("Conv", ["input", "WA", "BA"], ["a"], pads=[1] * 4, name="/a/Conv"),
             helper.make_node("Conv", ["a", "WB", "BB"], ["b"], name="/b/Conv"),
             helper.make_node("Conv", ["b", "WC", "BC"], ["output"], pads=[1] * 4, name="/c/Conv")]
    graph = helper.make_graph(nodes, "outlier",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def output_nodes(model: Path) -> tuple[str, ...]:
    """The nodes writing the model's outputs: the search keeps them in float from its first attempt on."""
    graph = onnx.load(model).graph
    outputs = {o.name for o in graph.output}
    return tuple(n.name for n in graph.node if n.name and outputs & set(n.output))


def fp16_model(tmp_path: Path, keep_io_types: bool) -> Path:
    from onnxconverter_common import float16

    half = float16.convert_float_to_float16(onnx.load(DEMO), keep_io_types=keep_io_types)
    path = tmp_path / f"demo_2x_fp16{'_fp32io' if keep_io_types else ''}.onnx"
    onnx.save(half, path)
    return path


# -- spies and cache helpers -----------------------------------------------------------------------------------
@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    """Each quantization ``search`` tries, as the nodes it kept in float (a spy on ``qdq._quantize``)."""
    calls: list[tuple[str, ...]] = []
    real = qdq._quantize

    def spy(source: Path, pictures: Any, excluded: Any, folder: Path) -> bytes:
        calls.append(tuple(excluded))
        return real(source, pictures, excluded, folder)

    monkeypatch.setattr(qdq, "_quantize", spy)
    yield calls


def spy_on_costs(monkeypatch: pytest.MonkeyPatch) -> list[dict[tuple[str, ...], float]]:
    """Each ranking the sensitivity pass made (``search`` hides a pass that fails, so the spy sees it or nothing)."""
    ranked: list[dict[tuple[str, ...], float]] = []
    real = qdq._costs

    def spy(*args: Any) -> dict[tuple[str, ...], float]:
        ranked.append(real(*args))
        return ranked[-1]

    monkeypatch.setattr(qdq, "_costs", spy)
    return ranked


def model_info_of(data: bytes, folder: Path) -> Any:
    """ModelInfo of a model held in memory (written to ``folder`` first)."""
    path = folder / f"attempt-{len(data)}.onnx"
    path.write_bytes(data)
    return model_info(path)


def forbid_quantizing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any quantization from here on fails the test: the answer must come from the store."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("quantized again although the store holds the verdict")

    monkeypatch.setattr(quantize_module, "search", boom)
    monkeypatch.setattr(qdq, "search", boom)
    monkeypatch.setattr(qdq, "_quantize", boom)


def records(cache: Path) -> list[Path]:
    return sorted((cache / "quantize").glob("*.json"))


def artifacts(cache: Path) -> list[Path]:
    return sorted((cache / "onnx").glob("*.onnx"))


def leftovers(cache: Path) -> list[str]:
    """Files in the cache but the records of facts and the root's marker."""
    if not cache.exists():
        return []
    files = [p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()]
    return sorted(f for f in files if f != MARKER and not (f.startswith(FACTS) and f.endswith(".json")))


def assert_in_store(result: Quantized, cache: Path) -> None:
    assert result.path.parent.resolve() == (cache / "onnx").resolve()
    assert result.path.suffix == ".onnx" and result.path.is_file()


# -- the happy path -----------------------------------------------------------------------------------------------
def test_quantizes_the_demo_model(isolated_cache: Path, attempts: list[tuple[str, ...]]) -> None:
    lines: list[str] = []
    result = quantize(DEMO, content(), frames=4, min_psnr=BOUND, progress=lines.append)
    assert_in_store(result, isolated_cache)
    assert result.source == DEMO and not result.cached and result.seconds > 0
    assert result.psnr_db >= BOUND and math.isfinite(result.psnr_db)
    assert math.isfinite(result.max_error) and 0 < result.max_error < 0.25
    assert attempts == [output_nodes(DEMO)] == [("shuffle",)]  # the bound holds at the first attempt
    assert result.excluded == ("shuffle",)  # only the node writing the output stays in float
    assert lines and lines[0].startswith("quantizing")
    calibration, held = set(result.calibration_frames), set(result.held_out_frames)
    assert calibration and held and not calibration & held
    assert calibration | held <= set(range(12))
    # the file really is a Q/DQ model, and runs like the float one
    model = model_info(result.path)
    assert quantized(model) and not quantized(model_info(DEMO))
    ops = {n.op_type for n in onnx.load(result.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # the figures measured again here, on the held-out frames (whole frames: a 96x64 clip is its own crop)
    clip, squared, worst = content(), 0.0, 0.0
    for n in result.held_out_frames:
        frame = clip.get_frame(n)
        picture = np.stack([np.asarray(frame[p], dtype=np.float32) for p in range(3)])
        reference, int8 = run_float_and_int8(DEMO, result.path, picture)
        assert int8.shape == reference.shape == (1, 3, 128, 192)
        squared += float(np.mean((int8.astype(np.float64) - reference) ** 2))
        worst = max(worst, float(np.abs(int8 - reference).max()))
    psnr = 10 * math.log10(len(result.held_out_frames) / squared)
    assert abs(psnr - result.psnr_db) < 0.01 and math.isclose(worst, result.max_error, rel_tol=1e-3)
    # the verdict and the model are in the store, nothing else is left behind (no lock, no temp file)
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    assert data["result"]["passed"] is True and data["meta"]["model"] == DEMO.name
    assert math.isclose(data["result"]["psnr_db"], result.psnr_db)
    assert leftovers(isolated_cache) == sorted(
        [f"onnx/{result.path.name}", f"onnx/{result.path.stem}.json", f"quantize/{record.name}"])


def test_a_gray_model_takes_a_gray_clip(isolated_cache: Path) -> None:
    clip = core.std.ShufflePlanes(content(), 0, vs.GRAY)
    result = quantize(ZOO / "artcnn_gray.onnx", clip, frames=4, min_psnr=20)
    assert_in_store(result, isolated_cache)
    assert result.psnr_db >= 20 and quantized(model_info(result.path))


def test_frame_counts_with_the_default(isolated_cache: Path) -> None:
    result = quantize(DEMO, content(length=48), min_psnr=BOUND)
    assert len(result.calibration_frames) == 16 and len(result.held_out_frames) == 8  # FRAMES, half as many
    assert not set(result.calibration_frames) & set(result.held_out_frames)
    assert result.held_out_frames[0] < 12 and result.held_out_frames[-1] >= 36  # spread over the clip


def test_small_frame_counts_are_the_documented_ones(isolated_cache: Path) -> None:
    result = quantize(DEMO, content(length=24), frames=4, min_psnr=BOUND)
    assert len(result.calibration_frames) == 4 and len(result.held_out_frames) == 4  # held_out_count(4)
    short = quantize(DEMO, content(length=2), frames=4, min_psnr=20)  # fewer frames than asked: one of each
    assert (short.calibration_frames, short.held_out_frames) in (((0,), (1,)), ((1,), (0,)))


def test_an_explicit_cache_dir_is_the_one_written(tmp_path: Path, isolated_cache: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = quantize(DEMO, content(), frames=4, min_psnr=BOUND, cache_dir=elsewhere)
    assert_in_store(result, elsewhere)
    assert len(records(elsewhere)) == 1
    assert not (isolated_cache / "onnx").exists() and not (isolated_cache / "quantize").exists()


# -- the store ------------------------------------------------------------------------------------------------------
def test_a_second_call_reads_the_verdict_back(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    forbid_quantizing(monkeypatch)
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)  # another clip object, the same content
    assert again.cached and again.seconds == 0.0
    assert again.path == first.path
    assert (again.psnr_db, again.max_error, again.excluded) == (first.psnr_db, first.max_error, first.excluded)
    assert (again.calibration_frames, again.held_out_frames) == (first.calibration_frames, first.held_out_frames)
    assert len(records(isolated_cache)) == 1 and len(artifacts(isolated_cache)) == 1


def test_other_content_is_quantized_again(isolated_cache: Path, attempts: list[tuple[str, ...]]) -> None:
    first = quantize(DEMO, content(seed=0), frames=4, min_psnr=BOUND)
    other = quantize(DEMO, content(seed=1), frames=4, min_psnr=BOUND)
    assert not other.cached and len(attempts) == 2
    assert other.path != first.path and other.psnr_db != first.psnr_db
    assert len(records(isolated_cache)) == 2 and len(artifacts(isolated_cache)) == 2
    # the same frames, judged on other settings, are another quantization too
    quantize(DEMO, content(seed=0), frames=5, min_psnr=BOUND)
    assert len(attempts) == 3 and len(records(isolated_cache)) == 3


# -- refusal and the sensitivity pass ----------------------------------------------------------------------------
def test_refusal_below_the_bound(isolated_cache: Path, attempts: list[tuple[str, ...]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    costs = spy_on_costs(monkeypatch)
    with pytest.raises(QualityError) as caught:
        quantize(COMPACT, content(), frames=4, min_psnr=100)
    error = caught.value
    assert error.psnr_db < 100 and error.bound == 100 and error.model == str(COMPACT)
    message = str(error)
    assert f"{error.psnr_db:.1f} dB" in message and "100 dB" in message
    assert f"min_psnr={math.floor(error.psnr_db)}" in message  # what to do
    # the sensitivity pass ran: several quantizations, each keeping more nodes in float
    assert len(attempts) > 1 and costs and attempts[0] == output_nodes(COMPACT)
    assert all(set(a) < set(b) for a, b in itertools.pairwise(attempts))
    # the verdict is stored, the refused model is not
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    assert data["result"]["passed"] is False and data["result"]["excluded"]
    assert math.isclose(data["result"]["psnr_db"], error.psnr_db)
    assert data["meta"]["attempts"] == len(attempts)
    assert artifacts(isolated_cache) == []
    # refused again from the record, with the same figures, quantizing nothing
    with monkeypatch.context() as patch:
        forbid_quantizing(patch)
        with pytest.raises(QualityError) as again:
            quantize(COMPACT, content(), frames=4, min_psnr=100)
    assert again.value.psnr_db == error.psnr_db and str(again.value) == message
    # a refusal at one bound does not block another: the default bound, met at the first attempt
    attempts.clear()
    passed = quantize(COMPACT, content(), frames=4)
    assert passed.psnr_db >= quantize_module.MIN_PSNR == 40 and not passed.cached
    assert attempts == [output_nodes(COMPACT)]
    assert quantized(model_info(passed.path)) and passed.path.name.startswith(f"{model_info(COMPACT).checksum:08x}")


def test_keeping_nodes_in_float_reaches_a_bound_the_first_attempt_misses(
    tmp_path: Path, isolated_cache: Path, attempts: list[tuple[str, ...]]
) -> None:
    """A model whose plain quantization is garbage (``outlier_model``) passes 30 dB once nodes are kept in float.

    The search directly first (what it tried), then ``quantize``: the same nodes kept in float, the same figures.
    The margins are wide (under 20 dB plain, 40 or more with the right nodes in float), so no rounding decides.
    """
    model = outlier_model(tmp_path / "outlier.onnx")
    clip = content()
    pictures = read_pictures([clip], model_info(model), 4, "test")
    probe = pictures.held_out[0][:, :64, :64]  # what quantize() probes with on a 96x64 clip
    best, tried = qdq.search(model, pictures.calibration, pictures.held_out, probe, 30.0)
    first = tried[0]
    assert first.excluded == output_nodes(model) == ("/c/Conv",)
    assert first.quality.psnr_db < 20, [(a.excluded, a.quality) for a in tried]  # the plain quantization: garbage
    assert set(best.excluded) > set(first.excluded) and best.quality.psnr_db >= 30 and best is tried[-1]
    attempts.clear()
    result = quantize(model, clip, frames=4, min_psnr=30)
    assert result.excluded == best.excluded and not result.cached
    assert result.psnr_db >= 30 and math.isclose(result.psnr_db, best.quality.psnr_db)
    assert attempts == [a.excluded for a in tried]  # the same rounds, each keeping more in float
    assert_in_store(result, isolated_cache)


def test_the_sensitivity_pass_runs_on_a_model_whose_relus_are_folded(monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """ArtCNN: Conv -> Relu six times; quantize_static folds each Relu into its Conv, so the Conv's own output
    tensor is gone from the quantized graph. The pass must still rank (the search hides a failure: spy on it)."""
    model = ZOO / "artcnn_gray.onnx"
    ranked = spy_on_costs(monkeypatch)
    pictures = read_pictures([core.std.ShufflePlanes(content(), 0, vs.GRAY)], model_info(model), 4, "test")
    with caplog.at_level(logging.WARNING, logger="vsinfer.quantize"):
        _, tried = qdq.search(model, pictures.calibration, pictures.held_out, pictures.held_out[0][:, :64, :64],
                              100.0)
    assert not [r.getMessage() for r in caplog.records if "could not run" in r.getMessage()]
    assert ranked and len(ranked) >= len(tried) - 1 and len(tried) >= 2  # every round but the last ranked
    assert all(any(cost > 0 for cost in costs.values()) for costs in ranked)  # and measured something


def test_a_model_with_nothing_left_quantized_is_not_called_int8(isolated_cache: Path) -> None:
    """Keeping every node in float would pass any bound (as float): 100 dB is refused, or met by a Q/DQ model."""
    try:
        result = quantize(DEMO, content(), frames=4, min_psnr=100)
    except QualityError as refused:
        assert refused.psnr_db < 100
        return
    assert quantized(model_info(result.path)), f"{result.excluded} kept in float: nothing is INT8"


def test_the_search_keeps_only_the_costly_nodes_in_float(tmp_path: Path) -> None:
    """The middle tensor's rounding is what costs: undoing it keeps its producer and its reader in float (the
    quantizer rounds a tensor when either is quantized); the first Conv stays INT8."""
    model = outlier_model(tmp_path / "outlier.onnx")
    pictures = read_pictures([content()], model_info(model), 4, "test")
    best, tried = qdq.search(model, pictures.calibration, pictures.held_out, pictures.held_out[0][:, :64, :64], 30.0)
    assert tried[0].quality.psnr_db < 20  # the test can fail: the plain quantization is garbage
    assert best.quality.psnr_db >= 30 and "/a/Conv" not in best.excluded, [(a.excluded, a.quality) for a in tried]
    assert {"/b/Conv", "/c/Conv"} <= set(best.excluded) and quantized(model_info_of(best.model, tmp_path))


# -- bad inputs ----------------------------------------------------------------------------------------------------
BadCall = Callable[[Path], tuple[Any, Any, dict[str, Any]]]
"""(tmp_path) -> (network_path, clips, keyword arguments)."""

BAD: list[tuple[str, BadCall, type[Exception], tuple[str, ...], str, str]] = [
    # id, call, error, parameter (accepted spellings), value as the message shows it, part of the expectation.
    # quantize's own clip checks name "clip" where the argument is "clips" (shared validation says "clips")
    ("clips-none", lambda t: (DEMO, None, {}), ClipError, ("clips", "clip"), "None", "the clip inference will get"),
    ("clips-yuv420", lambda t: (DEMO, poisoned(fmt=vs.YUV420P8), {}),
     ClipError, ("clips[0]",), "YUV420P8", "without chroma subsampling"),
    ("clips-yuv444", lambda t: (DEMO, poisoned(fmt=vs.YUV444PS), {}), ClipError, ("clips", "clip"), "YUV444PS",
     "RGB or GRAY"),
    ("clips-gray-for-rgb", lambda t: (DEMO, poisoned(fmt=vs.GRAYS), {}), ClipError, ("clips",),
     "1 planes in total", "3 planes"),
    ("clips-one-frame", lambda t: (DEMO, poisoned(length=1), {}), ClipError, ("clips", "clip"), "1 frame",
     "at least 2 frames"),
    ("clips-too-small", lambda t: (DEMO, poisoned(width=12, height=12), {}), ClipError, ("clips", "clip"), "12x12",
     "at least a multiple of 16"),
    ("model-int8", lambda t: (ZOO / "compact_int8.onnx", poisoned(), {}), ModelError, ("network_path",),
     "compact_int8.onnx", "already quantized"),
    ("model-fp16", lambda t: (fp16_model(t, keep_io_types=False), poisoned(), {}), ModelError, ("network_path",),
     "demo_2x_fp16.onnx", "computes in float16"),
    ("model-fp16-float32-io", lambda t: (fp16_model(t, keep_io_types=True), poisoned(), {}), ModelError,
     ("network_path",), "demo_2x_fp16_fp32io.onnx", "computes in float16"),
    ("model-missing", lambda t: (t / "missing.onnx", poisoned(), {}), ModelError, ("network_path",), "missing.onnx",
     "an existing ONNX file"),
    ("frames-0", lambda t: (DEMO, poisoned(), {"frames": 0}), ConfigError, ("frames",), "0", "from 1 to 256"),
    ("frames-true", lambda t: (DEMO, poisoned(), {"frames": True}), ConfigError, ("frames",), "True",
     "from 1 to 256"),
    ("frames-1000", lambda t: (DEMO, poisoned(), {"frames": 1000}), ConfigError, ("frames",), "1000",
     "from 1 to 256"),
    ("min-psnr-nan", lambda t: (DEMO, poisoned(), {"min_psnr": float("nan")}), ConfigError, ("min_psnr",), "nan",
     "from 20 to 100"),
    ("min-psnr-5", lambda t: (DEMO, poisoned(), {"min_psnr": 5}), ConfigError, ("min_psnr",), "5", "from 20 to 100"),
    ("min-psnr-text", lambda t: (DEMO, poisoned(), {"min_psnr": "x"}), ConfigError, ("min_psnr",), "'x'",
     "from 20 to 100"),
]


@pytest.mark.parametrize(("call", "kind", "parameters", "value", "expected"), [row[1:] for row in BAD],
                         ids=[row[0] for row in BAD])
def test_bad_inputs(tmp_path: Path, isolated_cache: Path, attempts: list[tuple[str, ...]], call: BadCall,
                    kind: type[Exception], parameters: tuple[str, ...], value: str, expected: str) -> None:
    """Each wrong input: its vsinfer error, naming the parameter and the value, before a frame is read (the
    ``poisoned`` clips fail on any frame request) or anything is quantized, and nothing left in the cache."""
    network_path, clips, kwargs = call(tmp_path)
    with pytest.raises(kind) as caught:
        quantize(network_path, clips, **kwargs)
    error = caught.value
    assert type(error) is kind
    assert getattr(error, "parameter", None) in parameters
    message = str(error)
    assert message.startswith("quantize: ") and f"{getattr(error, 'parameter', '')}=" in message
    assert value in message and expected in message
    assert attempts == []
    assert leftovers(isolated_cache) == []


# -- the cache commands ----------------------------------------------------------------------------------------
def test_cache_list_and_verify_know_the_quantization(isolated_cache: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from vsinfer.cli import main
    from vsinfer.store import Store
    from vsinfer.store.inventory import check_kinds, is_facts, known_kinds, scan

    result = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    with pytest.raises(QualityError):
        quantize(COMPACT, content(), frames=4, min_psnr=100)  # a refused verdict is listed too
    assert "quantize" in known_kinds() and check_kinds(["quantize"]) == ("quantize",) and is_facts("quantize")

    def cli(*args: str) -> tuple[int, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out

    code, out = cli("cache", "list", "--json")
    assert code == 0
    listing = json.loads(out)
    (entry,) = [e for e in listing["entries"] if e["kind"] == "onnx"]
    assert Path(entry["path"]) == result.path
    assert (entry["model"], entry["precision"], entry["problem"]) == (DEMO.name, "int8", None)
    sidecar = json.loads(result.path.with_suffix(".json").read_text())
    assert "INT8" in sidecar["meta"]["kind"] and "quantized" in sidecar["meta"]["kind"]
    verdicts = [e for e in listing["entries"] if e["kind"] == "quantize"]
    assert sorted(e["model"] for e in verdicts) == sorted([DEMO.name, COMPACT.name])
    assert all(e["problem"] is None for e in verdicts)
    assert {e.path for e in scan(Store(), ["quantize"])} == {Path(e["path"]) for e in verdicts}
    code, out = cli("cache", "list")  # the table: the model, not the verdicts (facts vsinfer keeps)
    assert code == 0 and "int8" in out and "records vsinfer keeps for itself" in out
    code, out = cli("cache", "list", "--kind", "quantize")
    assert code == 0 and "quantize" in out and DEMO.name in out
    code, out = cli("cache", "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["findings"] == []


# -- the store is a trust boundary -------------------------------------------------------------------------------
def test_a_garbage_record_is_quantized_again(isolated_cache: Path, attempts: list[tuple[str, ...]]) -> None:
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    (record,) = records(isolated_cache)
    record.write_bytes(b'{"identity": [1, 2, 3], "result": "passed"')
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert again.path == first.path and again.psnr_db == first.psnr_db
    assert json.loads(record.read_text())["result"]["passed"] is True  # written afresh


def test_a_record_of_another_identity_is_not_believed(isolated_cache: Path,
                                                      attempts: list[tuple[str, ...]]) -> None:
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    data["identity"]["pictures"] = "0" * 64  # the verdict of other crops, under this one's name
    data["result"]["psnr_db"] = 99.0
    record.write_text(json.dumps(data))
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert again.psnr_db == first.psnr_db != 99.0
    assert_in_store(again, isolated_cache)


def test_a_refusal_turned_into_a_pass_is_refused_again(isolated_cache: Path,
                                                       attempts: list[tuple[str, ...]]) -> None:
    with pytest.raises(QualityError) as refused:
        quantize(COMPACT, content(), frames=4, min_psnr=100)
    count = len(attempts)
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    data["result"].update(passed=True, psnr_db=100.5, excluded=[])
    data["meta"].update(passed=True, psnr_db=100.5)
    record.write_text(json.dumps(data))
    with pytest.raises(QualityError) as again:  # no model in the store answers that record: measured again
        quantize(COMPACT, content(), frames=4, min_psnr=100)
    assert len(attempts) == 2 * count
    assert again.value.psnr_db == refused.value.psnr_db < 100
    assert artifacts(isolated_cache) == []


def test_a_record_cannot_choose_the_model(isolated_cache: Path, attempts: list[tuple[str, ...]]) -> None:
    """The record names no path: the model is found by its identity (the quantization's and the nodes kept in
    float), so a record that names other nodes finds nothing and the quantization is made again."""
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    assert "path" not in json.dumps(data["result"]) and "/" not in json.dumps(data)
    data["result"]["excluded"] = ["head"]
    record.write_text(json.dumps(data))
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert again.path == first.path and again.excluded == first.excluded == output_nodes(DEMO)
    assert_in_store(again, isolated_cache)


def test_a_tampered_model_is_quantized_again(isolated_cache: Path, attempts: list[tuple[str, ...]]) -> None:
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    size = first.path.stat().st_size
    first.path.write_bytes(b"\x00" * size)  # same size, other bytes: the sidecar's CRC32 no longer matches
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert again.path == first.path and quantized(model_info(again.path))


def test_a_pass_whose_figure_misses_the_bound_is_not_believed(isolated_cache: Path,
                                                             attempts: list[tuple[str, ...]]) -> None:
    """``passed`` must agree with the PSNR it stands beside: an edited figure below the bound is measured again."""
    first = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    (record,) = records(isolated_cache)
    data = json.loads(record.read_text())
    data["result"]["psnr_db"] = BOUND - 5
    record.write_text(json.dumps(data))
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert again.psnr_db == first.psnr_db >= BOUND


def test_the_verdict_is_kept_per_kind_of_int8_cpu(isolated_cache: Path, attempts: list[tuple[str, ...]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime's INT8 kernels saturate on CPUs without VNNI: a verdict measured with VNNI is not theirs."""
    import vsinfer.quantize as face
    from vsinfer.device import CPU

    monkeypatch.setattr(face, "cpu", lambda: CPU("with VNNI", 2, frozenset({"avx512_vnni"})))
    quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    monkeypatch.setattr(face, "cpu", lambda: CPU("without VNNI", 2, frozenset({"avx2"})))
    again = quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert not again.cached and len(attempts) == 2
    assert len(records(isolated_cache)) == 2


def test_a_quantizer_failure_is_a_model_error(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : something onnxruntime could not do")

    monkeypatch.setattr(qdq, "_quantize", broken)
    with pytest.raises(ModelError) as caught:
        quantize(DEMO, content(), frames=4, min_psnr=BOUND)
    assert caught.value.parameter == "network_path" and "something onnxruntime could not do" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)
