"""One chunk on one worker: ``vspipe -s START -e END`` into the chunk's writer, checked, then renamed into place.

This runs inside a Ray worker process (it does not import ray). The chunk file appears only complete: the writer
writes a part file of this attempt, which is renamed once its frame count is right. A failure raises, and Ray
retries the task; a killed worker takes its vspipe and encoder with it (Linux: the parent-death signal).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO

from ..errors import VsinferError
from .manifest import ChunkRecord, crc32_file
from .media import count_frames, encoder_command, find_program, tail
from .plan import Chunk

__all__ = ["check_node", "run_chunk"]


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the worker process dies (Linux); elsewhere nothing."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def check_node(script: str, folder: str, token: str, files: tuple[str, ...], programs: tuple[str, ...]) -> str:
    """Check a node before its first chunk: can it read the script and the files it names, and write the chunks.

    ``token`` is the name of a file the driver wrote into the chunk folder with the token as content: reading it
    back proves the folder is the driver's (a shared filesystem), not a local folder of the same name. Returns the
    host name; raises VsinferError naming the node and every path it cannot use.
    """
    host = socket.gethostname()
    problems: list[str] = []
    for path in (script, *files):
        if not os.access(path, os.R_OK):
            problems.append(f"cannot read {path} ({'no such file' if not os.path.exists(path) else 'no permission'})")
    where = Path(folder)
    try:
        if (where / token).read_text(encoding="utf-8") != token:
            problems.append(f"{folder} is not the driver's folder (its probe file holds something else)")
    except OSError as exc:
        problems.append(f"{folder} is not the driver's folder: its probe file cannot be read ({exc.strerror})")
    else:
        probe = where / f".{token}.{host}.{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            problems.append(f"cannot write chunks into {folder} ({exc.strerror})")
    for program in programs:
        try:
            find_program(program)
        except VsinferError as exc:
            problems.append(str(exc))
    if problems:
        raise VsinferError(f"render: node {host} cannot render: " + "; ".join(problems) + ". On a cluster the "
                           "script, the files it names and the output folder must be on a filesystem every node "
                           "mounts at the same path")
    return host


FRAME = re.compile(rb"Frame: (\d+)/\d+")
"""vspipe's progress (``-p``) on stderr: ``Frame: 12/60`` followed by a carriage return."""


class _Progress:
    """A reader of vspipe's stderr, in a thread: the frame count to a file, the rest kept for an error message.

    The chunk's progress file (in the shared chunk folder) gets the latest ``Frame: N`` at most once a second; the
    driver's progress line reads it. The last 64 KiB of everything else vspipe says are kept.
    """

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream, self.path = stream, path
        self.said = bytearray()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        written = 0.0
        latest: bytes | None = None
        while data := os.read(self.stream.fileno(), 65536):
            found = FRAME.findall(data)
            if found:
                latest = found[-1]
            self.said += FRAME.sub(b"", data).replace(b"\r", b"")
            del self.said[:-65536]
            if latest is not None and time.monotonic() - written >= 1.0:
                with contextlib.suppress(OSError):
                    self.path.write_bytes(latest)
                written = time.monotonic()

    def text(self) -> bytes:
        """What vspipe said, less its progress, once it has exited."""
        self.thread.join(timeout=10)
        return bytes(self.said)


def _attempt(folder: Path, chunk: Chunk) -> int:
    """Count this start in the chunk's attempt log (one line per start); the number of this attempt."""
    log = folder / f"{chunk.name}.attempts"
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{socket.gethostname()}:{os.getpid()} {time.time():.3f}\n")
    return len(log.read_text(encoding="utf-8").splitlines())


def run_chunk(script: str, folder: str, chunk: Chunk, recipe: str, suffix: str, tag: str = "") -> ChunkRecord:
    """Render ``chunk`` of ``script`` into ``folder/<chunk.name><tag><suffix>``; its manifest record, or VsinferError.

    ``tag`` tells a second attempt started beside a straggler from the first: each writes its own file.
    """
    started = time.perf_counter()
    where = Path(folder)
    attempts = _attempt(where, chunk)
    final = where / f"{chunk.name}{tag}{suffix}"
    part = where / f"{chunk.name}.part-{uuid.uuid4().hex[:8]}{suffix}"
    progress = where / f"{chunk.name}{tag}.progress"
    encoder = encoder_command(recipe, part)
    vspipe = [find_program("vspipe"), "-p", "-c", "y4m", "-s", str(chunk.start), "-e", str(chunk.end), script,
              "-" if encoder else str(part)]
    try:
        with tempfile.TemporaryFile() as enc_err:
            source = subprocess.Popen(vspipe, stdout=subprocess.PIPE if encoder else subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            assert source.stderr is not None
            said = _Progress(source.stderr, progress)
            sink = None
            if encoder is not None:
                sink = subprocess.Popen(encoder, stdin=source.stdout, stdout=subprocess.DEVNULL, stderr=enc_err,
                                        preexec_fn=_die_with_parent)
                assert source.stdout is not None
                source.stdout.close()  # the encoder holds the pipe; vspipe sees a broken pipe if it exits
            rc_source = source.wait()
            rc_sink = sink.wait() if sink is not None else 0
            vs_said = said.text()
            source.stderr.close()
            if rc_source != 0 or rc_sink != 0:
                enc_err.seek(0)
                raise VsinferError(
                    f"render: {chunk.name} (frames {chunk.start}-{chunk.end}) failed on "
                    f"{socket.gethostname()}: vspipe exit {rc_source}, writer exit {rc_sink}; "
                    f"vspipe said: {tail(vs_said, 1500)!r}; writer said: {tail(enc_err.read(), 500)!r}")
        frames = count_frames(part)
        if frames != chunk.frames:
            raise VsinferError(f"render: {chunk.name} holds {frames} frames, expected {chunk.frames} "
                               f"(frames {chunk.start}-{chunk.end})")
        size, crc = part.stat().st_size, crc32_file(part)
        os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
        progress.unlink(missing_ok=True)
    return ChunkRecord(index=chunk.index, start=chunk.start, end=chunk.end, file=final.name, frames=frames,
                       size=size, crc32=crc, node=f"{socket.gethostname()}:{os.getpid()}",
                       seconds=time.perf_counter() - started, attempts=attempts)
