"""The finish: the source's audio, subtitles and chapters copied into the joined video; its scene cuts.

The source is the file given (``--mux-from``), or by default the one media file the script names whose video has
as many frames as the script's output (the file a source filter opened, frame for frame). Its streams are copied
with their timing relative to its first video frame, so they stay aligned with the rendered video (which starts at
0). Audio can be re-encoded instead (``audio_params``, ffmpeg's options for it, like av1an's ``-a``). With an
encoder, the source's scene cuts (ffmpeg's scdet, at low resolution) place the chunk boundaries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InvalidValueError, RenderError
from .media import count_frames, find_program, named_files, tail

__all__ = ["AUTO", "MUX_SUFFIXES", "Source", "find_source", "mux", "probe", "scene_cuts", "source_for"]

log = logging.getLogger(__name__)

AUTO = "auto"
"""``mux_from``'s default: the source the script reads, when it can be told (see :func:`find_source`)."""

SCENE_THRESHOLD = 10.0
"""scdet's threshold (its default): the score, 0-100, of a frame's difference to the previous one that starts a
scene."""

MIN_SCENE_FRAMES = 12
"""Cuts closer than this to the cut before them are not counted (a flash, a fade, a source's restless start)."""

MUX_SUFFIXES = frozenset({".mkv", ".mka", ".mp4", ".mov", ".webm"})
"""Outputs that can hold audio and subtitles beside the video (not y4m, not a raw encoder stream)."""


@dataclass(frozen=True, kw_only=True)
class Source:
    """What a source file holds besides its video, as ffprobe reads it."""

    path: Path
    audio: int
    """Audio streams."""
    subtitles: int
    """Subtitle streams."""
    chapters: int
    video_start: float
    """The first video frame's time (seconds); the other streams keep their distance to it."""
    start: float
    """The file's start time (the earliest stream's), which ffmpeg moves to 0 when it reads the file."""
    frames: int | None = None
    """Its video's frames, once counted (a count reads the whole file)."""

    @property
    def empty(self) -> bool:
        """Nothing to copy: no audio, subtitles or chapters."""
        return not (self.audio or self.subtitles or self.chapters)

    def describe(self) -> str:
        """``2 audio, 1 subtitle stream(s), 3 chapter(s)``."""
        return f"{self.audio} audio, {self.subtitles} subtitle stream(s), {self.chapters} chapter(s)"


def probe(path: Path) -> Source | None:
    """The streams and chapters of ``path``; None when ffprobe reads no video stream there."""
    proc = subprocess.run([find_program("ffprobe"), "-v", "error", "-show_streams", "-show_chapters", "-show_format",
                           "-of", "json", str(path)], capture_output=True, check=False)
    if proc.returncode != 0:
        return None
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        return None
    streams = info.get("streams", [])
    kinds = [s.get("codec_type") for s in streams]
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not video:
        return None

    def seconds(value: object) -> float:
        try:
            return float(str(value))
        except ValueError:
            return 0.0

    return Source(path=path, audio=kinds.count("audio"), subtitles=kinds.count("subtitle"),
                  chapters=len(info.get("chapters", [])), video_start=seconds(video[0].get("start_time", 0)),
                  start=seconds(info.get("format", {}).get("start_time", 0)))


def find_source(script: Path, frames: int) -> Source | None:
    """The source the script reads, or None when it cannot be told (logged).

    That is the one media file the script names whose video has ``frames`` frames; with none, or more than one,
    there is no source.
    """
    found: list[Source] = []
    for name in named_files(script):
        source = probe(Path(name))
        if source is None:
            continue
        with contextlib.suppress(RenderError):
            if count_frames(source.path) == frames:
                found.append(replace(source, frames=frames))
    if len(found) == 1:
        log.info("render: the script's source is %s (%s; %d frames, as rendered)", found[0].path,
                 found[0].describe(), frames)
        return found[0]
    if found:
        log.warning("render: the script names %d sources with %d frames (%s): none is used; choose one with "
                    "mux_from (--mux-from)", len(found), frames, ", ".join(str(s.path) for s in found))
    return None


def source_for(mux_from: str | Path | None, out: Path, script: Path, frames: int) -> Source | None:
    """The source to copy from for ``mux_from`` (a file, ``AUTO`` or None).

    An explicit file that is no media file, or an output that cannot hold audio, raises InvalidValueError before
    anything is rendered.
    """
    if mux_from is None:
        return None
    if str(mux_from) == AUTO:
        return find_source(script, frames)
    path = Path(mux_from).resolve()
    if out.suffix.lower() not in MUX_SUFFIXES:
        raise InvalidValueError("mux_from", str(mux_from), f"no source for an output {out.suffix or 'without suffix'}"
                                f", which holds video only; write one of {', '.join(sorted(MUX_SUFFIXES))}",
                                where="render")
    source = probe(path) if path.is_file() else None
    if source is None:
        raise InvalidValueError("mux_from", str(mux_from), "a media file with a video stream (ffprobe reads none "
                                "there)", where="render")
    if source.empty:
        log.warning("render: %s holds no audio, subtitles or chapters: nothing to copy", path)
    return source


def scene_cuts(path: Path) -> list[int]:
    """The frames of ``path`` that start a new scene: ffmpeg's scdet on a 160-pixel-wide copy of its video.

    Of cuts closer than ``MIN_SCENE_FRAMES``, the first counts.
    """
    proc = subprocess.run([find_program("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                           "-vf", f"scale=160:-2,scdet=threshold={SCENE_THRESHOLD:g},"
                           "metadata=mode=print:key=lavfi.scd.time:file=-", "-f", "null", "-"],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"render: ffmpeg's scene detection failed on {path}: {tail(proc.stderr)}")
    kept: list[int] = []
    for cut in sorted({int(m.group(1)) for m in re.finditer(rb"^frame:(\d+)\s", proc.stdout, re.MULTILINE)}):
        if not kept or cut - kept[-1] >= MIN_SCENE_FRAMES:  # a flash or a fade scores twice: its first frame
            kept.append(cut)
    return kept


def mux(video: Path, source: Source, target: Path, audio_params: str | None = None) -> None:
    """Write ``target``: the video of ``video`` with the audio, subtitles and chapters of ``source``, copied.

    The source is shifted so that its first video frame is at 0, where the rendered video starts: every copied
    packet keeps its distance to the video. ``audio_params`` (ffmpeg options such as ``-c:a libopus -b:a 128k``)
    re-encode the audio instead of copying it.
    """
    shift = source.start - source.video_start  # ffmpeg reads the file from its start time; the video starts later
    audio = shlex.split(audio_params) if audio_params else ["-c:a", "copy"]
    command = [find_program("ffmpeg"), "-nostdin", "-v", "error", "-i", str(video), "-itsoffset", f"{shift:.6f}",
               "-i", str(source.path), "-map", "0:v", "-map", "1:a?", "-map", "1:s?", "-map_chapters", "1",
               "-map_metadata", "1", "-c:v", "copy", "-c:s", "copy", *audio, "-y", str(target)]
    proc = subprocess.run(command, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"render: ffmpeg could not copy {source.describe()} from {source.path} into {target}: "
                          f"{tail(proc.stderr)}")
