"""``vsinfer render`` (chunks on a local Ray instance, joined) against one plain vspipe run of the same script.

Rows, measured side by side in one run, all writing the same lossless file (FFV1 in Matroska):
- plain: ``vspipe -c y4m job.vpy - | ffmpeg ... -c:v ffv1 out.mkv`` (one process, no chunks);
- render, 1 worker and 2 workers (``--chunks 4``), each starting its own local Ray instance.

For each render: total fps (everything: Ray start, prebuild, chunks, join), the chunk phase alone, and the overhead
(total - plain), split into Ray start + prebuild, the chunk phase's excess and the join. Exactness: every render's
frames are compared byte for byte with the plain run's (the backend is ORT_CPU in float32, so the error against
float32 is the plain run's own: the 16-bit output rounding; a render adds none).

On a machine with N GPUs (or N render nodes), the chunk phase should approach N times the plain fps once a chunk
is long against a vspipe start (seconds: the script's evaluation and the engine load); here, on a few CPU cores,
two workers share the same cores, so the figures show the overhead, not scaling.

    .venv/bin/python benchmarks/render.py [--frames 240] [--size 320x240] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsinfer.render.media import FFV1, encoder_command, find_program

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
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
    base = min(r[0] for r in rows["plain vspipe | ffmpeg"])
    print(f"{'row':24s} {'fps':>7s} {'x plain':>8s} {'chunk-phase fps':>16s} {'start+prebuild s':>17s} "
          f"{'join s':>7s}  frames identical to plain")
    for name, runs in rows.items():
        total, chunks, start, joined, _ = min(runs)
        print(f"{name:24s} {args.frames / total:7.2f} {base / total:8.2f} {args.frames / chunks:16.2f} "
              f"{start:17.2f} {joined:7.2f}  {'yes' if all(r[4] for r in runs) else 'NO'} (max |diff| "
              f"{'0' if all(r[4] for r in runs) else '> 0'})")
    print("overhead = render seconds - plain seconds; start = Ray start + vspipe --info + prebuild (this machine)")


if __name__ == "__main__":
    main()
