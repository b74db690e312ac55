"""``vsinfer render`` (chunks on a local Ray instance, joined) against one plain vspipe run of the same script.

Rows, measured side by side in one run, all writing the same lossless file (FFV1 in Matroska):
- plain: ``vspipe -c y4m job.vpy - | ffmpeg ... -c:v ffv1 out.mkv`` (one process, no chunks);
- render, 1 worker and 2 workers (``--chunks 4``), each starting its own local Ray instance;
- render on two nodes (``ray.cluster_utils.Cluster``: head and worker node of 1 CPU each, on this machine), default
  options (the case that waited forever when chunks were sized from the cluster's total).

For each render: total fps (everything: Ray start, prebuild, chunks, join), the chunk phase alone, and the overhead
(total - plain), split into Ray start + prebuild, the chunk phase's excess and the join. Exactness: every render's
frames are compared byte for byte with the plain run's (the backend is ORT_CPU in float32, so the error against
float32 is the plain run's own: the 16-bit output rounding; a render adds none).

On a machine with N GPUs (or N render nodes), the chunk phase should approach N times the plain fps once a chunk
is long against a vspipe start (seconds: the script's evaluation and the engine load); here, on a few CPU cores,
two workers share the same cores, so the figures show the overhead, not scaling.

Then the finish with an encoder (``--encode``, x264 at a fixed CRF): a clip of scenes from ffmpeg's test sources
(cut at known frames), encoded by one ``vspipe | x264`` and by ``vsinfer render`` in equal chunks and in
scene-aware chunks; the video streams' sizes (sum of their packets) and PSNR against the source side by side.
Needs the x264 program (Debian: apt-get install -y x264) besides ffmpeg.

    .venv/bin/python benchmarks/render.py [--frames 240] [--size 320x240] [--rounds 1] [--crf 23]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vsinfer.render.media import FFV1, encoder_command, find_program

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: the render tests' clip script
from tests.render.conftest import write_clip_script

SCRIPT = '''\
import numpy as np
import vapoursynth as vs
from vsinfer import Backend
core = vs.core
W, H, N = {width}, {height}, {frames}
src = core.std.BlankClip(width=W, height=H, format=vs.RGBS, length=N)
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

def paint(n, f):
    f = f.copy()
    for p in range(3):
        np.asarray(f[p])[:] = (np.sin(xx * (0.05 + 0.02 * p) + n * 0.3) * np.cos(yy * 0.07 - n * 0.1) + 1) * 0.5
    return f

src = core.std.ModifyFrame(src, src, paint)
out = Backend.ORT_CPU().inference(src, {model!r})
out.resize.Point(format=vs.YUV444P16, matrix_s="709").set_output()
'''


def raw(path: Path) -> bytes:
    """The frames of a rendered file, decoded by ffmpeg."""
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv444p16le",
                           "-"], capture_output=True, check=True).stdout


def plain(script: Path, out: Path) -> float:
    """Seconds of one vspipe run piped into the same FFV1 writer the chunks use."""
    begun = time.perf_counter()
    vspipe = subprocess.Popen([find_program("vspipe"), "-c", "y4m", str(script), "-"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    writer = encoder_command(FFV1, out)
    assert writer is not None
    ffmpeg = subprocess.run(writer, stdin=vspipe.stdout, check=False)
    assert vspipe.stdout is not None
    vspipe.stdout.close()
    if vspipe.wait() != 0 or ffmpeg.returncode != 0:
        raise SystemExit("the plain vspipe | ffmpeg run failed")
    return time.perf_counter() - begun


SCENES = (("testsrc2", 70), ("mandelbrot", 95), ("life=mold=10:ratio=0.1:seed=1", 60), ("sierpinski", 110),
          ("gradients=speed=0.05", 85), ("testsrc", 75), ("mandelbrot=start_scale=1", 120),
          ("cellauto=rule=30:seed=1", 105))
"""The scenes of the encoder clip: ffmpeg test source and length in frames (720 in all, 24 fps)."""


def make_clip(path: Path, size: str) -> list[int]:
    """Write the scene clip as y4m; the frames where its scenes start."""
    inputs, trims = [], []
    for i, (source, frames) in enumerate(SCENES):
        name, _, options = source.partition("=")
        inputs += ["-f", "lavfi", "-i", f"{name}=size={size}:rate=24" + (f":{options}" if options else "")]
        trims.append(f"[{i}]trim=end_frame={frames},setpts=PTS-STARTPTS[s{i}];")
    graph = "".join(trims) + "".join(f"[s{i}]" for i in range(len(SCENES))) + \
        f"concat=n={len(SCENES)}:v=1:a=0,format=yuv420p[v]"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[v]", "-y",
                    str(path)], check=True)
    starts, at = [], 0
    for _, frames in SCENES[:-1]:
        at += frames
        starts.append(at)
    return starts


def video_bytes(path: Path) -> int:
    """The video stream's size: the sum of its packets (no container overhead)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of",
                          "csv=p=0", str(path)], capture_output=True, check=True).stdout.split()
    return sum(int(v) for v in out)


def psnr(path: Path, source: Path) -> float:
    """PSNR (dB) of a file's frames against the source's, over the whole clip (one MSE of every plane and frame)."""
    def planes(p: Path) -> Any:
        import numpy as np

        data = subprocess.run(["ffmpeg", "-v", "error", "-i", str(p), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                              capture_output=True, check=True).stdout
        return np.frombuffer(data, np.uint8).astype(np.float64)

    import numpy as np

    mse = float(np.mean((planes(path) - planes(source)) ** 2))
    return float(10 * np.log10(255 ** 2 / mse))


def encoder_rows(work: Path, size: str, crf: int, chunks: int) -> None:
    """One x264 encode against chunked encodes, equal and scene-aware: sizes side by side."""
    from vsinfer.render import render
    from vsinfer.render.mux import scene_cuts

    clip = work / "scenes.y4m"
    cuts = make_clip(clip, size)
    script = write_clip_script(work, clip)  # the render tests' numpy source filter of a y4m file
    x264 = f"x264 --quiet --preset fast --crf {crf} --demuxer y4m -o {{out}} -"
    single = work / "single.mkv"
    vspipe = subprocess.Popen([find_program("vspipe"), "-c", "y4m", str(script), "-"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    subprocess.run(["x264", "--quiet", "--preset", "fast", "--crf", str(crf), "--demuxer", "y4m", "-o", str(single),
                    "-"], stdin=vspipe.stdout, stderr=subprocess.DEVNULL, check=True)
    assert vspipe.stdout is not None
    vspipe.stdout.close()
    vspipe.wait()
    base = video_bytes(single)
    frames = sum(n for _, n in SCENES)
    print(f"\nx264 --preset fast --crf {crf}, {frames} frames {size}, {len(SCENES)} scenes (cuts at {cuts}; "
          f"scdet finds {scene_cuts(clip)}), {chunks} chunks, 2 workers")
    reference = psnr(single, clip)
    print(f"{'encode':34s} {'video bytes':>12s} {'x single':>9s} {'PSNR dB':>8s} {'vs single':>9s}  chunk starts")
    print(f"{'one vspipe | x264':34s} {base:12d} {1.0:9.4f} {reference:8.2f} {0.0:+9.2f}  -")
    for scenes in (False, True):
        out = work / f"chunked-{scenes}.mkv"
        result = render(script, out, chunks=chunks, workers=2, encode=x264, scenes=scenes)
        got = video_bytes(out)
        name = "render, scene-aware chunks" if scenes else "render, equal chunks"
        quality = psnr(out, clip)
        print(f"{name:34s} {got:12d} {got / base:9.4f} {quality:8.2f} {quality - reference:+9.2f}  "
              f"{[c.start for c in result.chunks]}")


def two_nodes(script: Path, out: Path) -> Any:
    """``render`` with default options on a head and a worker node of 1 CPU each (both on this machine)."""
    import ray
    from ray.cluster_utils import Cluster

    from vsinfer.render import render

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            return render(script, out, chunks=4)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--encoder-size", default="640x360")
    parser.add_argument("--encoder-chunks", type=int, default=8)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    import logging

    import vsinfer
    from vsinfer.device import cpu
    from vsinfer.render import render

    logging.getLogger("vsinfer").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="vsinfer-render-bench-"))
    os.environ["VSINFER_CACHE_DIR"] = str(work / "cache")
    os.environ.setdefault("RAY_TMPDIR", str(work))  # Ray's sessions go with the rest; /tmp/ray stays clean
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # throwaway clusters: no token written to ~/.ray
    model = Path(vsinfer.__file__).parent / "models" / "demo_2x.onnx"
    script = work / "job.vpy"
    script.write_text(SCRIPT.format(width=width, height=height, frames=args.frames, model=str(model)))
    print(f"CPU: {cpu().model} ({os.cpu_count()} cores); {args.frames} frames {width}x{height} RGBS -> demo_2x "
          f"(ORT_CPU float32) -> YUV444P16 {2 * width}x{2 * height}, FFV1; {args.chunks} chunks; "
          f"rounds: {args.rounds}")
    plain(script, work / "warm.mkv")  # the model memo and the OS file cache, once, for every row
    reference = raw(work / "warm.mkv")
    rows: dict[str, list[tuple[float, float, float, float, bool]]] = {}
    for _ in range(args.rounds):
        seconds = plain(script, work / "plain.mkv")
        rows.setdefault("plain vspipe | ffmpeg", []).append((seconds, seconds, 0.0, 0.0,
                                                             raw(work / "plain.mkv") == reference))
        for workers in (1, 2):
            out = work / f"render-{workers}.mkv"
            result = render(script, out, chunks=args.chunks, workers=workers)
            start = result.seconds - result.chunks_seconds - result.join_seconds
            rows.setdefault(f"render, {workers} worker(s)", []).append(
                (result.seconds, result.chunks_seconds, start, result.join_seconds, raw(out) == reference))
            out.unlink()
        out = work / "render-two-nodes.mkv"
        result = two_nodes(script, out)
        start = result.seconds - result.chunks_seconds - result.join_seconds
        rows.setdefault("render, 2 nodes x 1 CPU", []).append(
            (result.seconds, result.chunks_seconds, start, result.join_seconds, raw(out) == reference))
        out.unlink()
    base = min(r[0] for r in rows["plain vspipe | ffmpeg"])
    print(f"{'row':24s} {'fps':>7s} {'x plain':>8s} {'chunk-phase fps':>16s} {'start+prebuild s':>17s} "
          f"{'join s':>7s}  frames identical to plain")
    for name, runs in rows.items():
        total, chunks, start, joined, _ = min(runs)
        print(f"{name:24s} {args.frames / total:7.2f} {base / total:8.2f} {args.frames / chunks:16.2f} "
              f"{start:17.2f} {joined:7.2f}  {'yes' if all(r[4] for r in runs) else 'NO'} (max |diff| "
              f"{'0' if all(r[4] for r in runs) else '> 0'})")
    print("overhead = render seconds - plain seconds; start = Ray start + vspipe --info + prebuild (this machine)")
    encoder_rows(work, args.encoder_size, args.crf, args.encoder_chunks)


if __name__ == "__main__":
    main()
