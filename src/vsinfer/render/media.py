"""The programs a render runs: vspipe for frames, ffmpeg to write and join chunks, ffprobe to count frames."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import InvalidValueError, MissingProgramError, RenderError

__all__ = ["FFV1", "Y4M", "count_frames", "encoder_command", "find_program", "join", "named_files", "programs",
           "recipe_for", "script_frames",
           "tail"]

FFV1 = "ffv1"
"""Chunks and output in FFV1 (lossless, intra only) in Matroska: ``OUT.mkv``."""
Y4M = "y4m"
"""Chunks and output as YUV4MPEG2 (raw frames): ``OUT.y4m``."""

HOW = {
    "ffmpeg": "install it (Debian/Ubuntu: apt-get install -y ffmpeg; macOS: brew install ffmpeg)",
    "ffprobe": "it comes with ffmpeg (Debian/Ubuntu: apt-get install -y ffmpeg)",
    "vspipe": "pip install vapoursynth puts it next to the Python it installs into",
}


def find_program(name: str) -> str:
    """The path of ``name``: next to this Python first (vspipe in a venv), then on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise MissingProgramError(name, "vsinfer render", HOW.get(name, "install it"))
    return found


def tail(text: bytes | str, limit: int = 2000) -> str:
    """The last ``limit`` characters of a program's output, for an error message."""
    s = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return s[-limit:].strip()


def recipe_for(out: Path, encode: str | None) -> str:
    """How chunks are written for the output ``out``: the ``encode`` template, else from the suffix."""
    if encode is not None:
        if "{out}" not in encode:
            raise InvalidValueError("encode", encode, "a command template with {out} where the chunk file goes, "
                                    "reading y4m on stdin, e.g. 'x265 --y4m - -o {out}'", where="render")
        return encode
    suffix = out.suffix.lower()
    if suffix == ".mkv":
        return FFV1
    if suffix == ".y4m":
        return Y4M
    raise InvalidValueError("out", str(out), "a .mkv (FFV1, lossless) or .y4m output, or an --encode template",
                            where="render")


def encoder_command(recipe: str, part: Path) -> list[str] | None:
    """The command that reads y4m on stdin and writes ``part``; None for y4m (vspipe writes the file itself)."""
    if recipe == Y4M:
        return None
    if recipe == FFV1:
        return [find_program("ffmpeg"), "-nostdin", "-v", "error", "-f", "yuv4mpegpipe", "-i", "-",
                "-c:v", "ffv1", "-level", "3", "-f", "matroska", "-y", str(part)]
    return ["/bin/sh", "-c", recipe.replace("{out}", shlex.quote(str(part)))]


def programs(recipe: str) -> tuple[str, ...]:
    """The programs a chunk's worker runs for ``recipe`` (an ``--encode`` template brings its own)."""
    return ("vspipe", "ffmpeg", "ffprobe") if recipe == FFV1 else ("vspipe", "ffprobe")


def named_files(script: Path) -> tuple[str, ...]:
    """The files a script names: its string constants that are absolute paths of files that exist here.

    The models a script loads, the source it opens: on a cluster every node must read them at the same path, which
    each node checks before its first chunk. A script that cannot be parsed names none (vspipe reports it).
    """
    try:
        tree = ast.parse(script.read_bytes(), filename=str(script))
    except (OSError, SyntaxError, ValueError):
        return ()
    found = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and os.path.isabs(node.value) and len(node.value) < 4096 and os.path.isfile(node.value)}
    return tuple(sorted(found))


def script_frames(script: Path) -> int:
    """The frame count of the script's output 0, from ``vspipe --info``."""
    proc = subprocess.run([find_program("vspipe"), "--info", str(script), "-"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"render: vspipe --info {script} failed (exit {proc.returncode}): {tail(proc.stderr)}")
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Frames":
            return int(value.strip())
    raise RenderError(f"render: vspipe --info {script} printed no frame count: {tail(proc.stdout)}")


def count_frames(path: Path) -> int:
    """Frames in a video file: the packets ffprobe reads from its first video stream."""
    proc = subprocess.run([find_program("ffprobe"), "-v", "error", "-select_streams", "v:0", "-count_packets",
                           "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
                          capture_output=True, check=False)
    text = proc.stdout.decode("utf-8", "replace").strip().rstrip(",")
    if proc.returncode != 0 or not text.isdigit():
        raise RenderError(f"render: ffprobe cannot count the frames of {path}: {tail(proc.stderr) or text!r}")
    return int(text)


def _y4m_header(line: bytes, frames: int) -> bytes:
    """A y4m stream header with vspipe's ``XLENGTH=`` (the frame count) set to ``frames``."""
    tokens = [b"XLENGTH=%d" % frames if t.startswith(b"XLENGTH=") else t for t in line.rstrip(b"\n").split(b" ")]
    return b" ".join(tokens) + b"\n"


def _join_y4m(parts: list[Path], target: Path, frames: int) -> None:
    """Concatenate y4m files: one stream header (the same in every chunk but for the length), then every frame."""
    header: bytes | None = None
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                first = _y4m_header(f.readline(), frames)
                if header is None:
                    header = first
                    out.write(first)
                elif first != header:
                    raise RenderError(f"render: {part} has another y4m header ({first!r}) than the first chunk "
                                       f"({header!r}); the chunks cannot be joined")
                shutil.copyfileobj(f, out, 1 << 20)


def join(recipe: str, parts: list[Path], target: Path, frames: int) -> None:
    """Join the chunk files in order into ``target``, without re-encoding (ffmpeg's concat demuxer, stream copy)."""
    if recipe == Y4M:
        _join_y4m(parts, target, frames)
        return
    listing = target.with_name(f"{target.name}.concat.txt")
    # the concat demuxer's own quoting: each path in single quotes, a quote written as '\''
    listing.write_text("".join("file '" + str(p.resolve()).replace("'", "'\\''") + "'\n" for p in parts),
                       encoding="utf-8")
    try:
        proc = subprocess.run([find_program("ffmpeg"), "-nostdin", "-v", "error", "-f", "concat", "-safe", "0",
                               "-i", str(listing), "-map", "0", "-c", "copy", "-y", str(target)],
                              capture_output=True, check=False)
    finally:
        listing.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RenderError(f"render: ffmpeg could not join the chunks into {target}: {tail(proc.stderr)}")

