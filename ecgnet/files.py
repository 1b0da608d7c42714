"""Writing files so that a stopped run never leaves a half-written one behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    """The process's file-creation mask (read once: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; outputs get the mode open() would have given them.
_FILE_MODE = 0o666 & ~_read_umask()
_CHUNK = 1 << 16  # bytes per read: a header or an output file is one read


@contextmanager
def _atomic(path: Path) -> Iterator[tuple[int, Path]]:
    """The open descriptor and the path of a fresh temporary file beside ``path``; the file is renamed to
    ``path`` when the block ends without error (with the mode open() would have given it), removed when it
    fails or is interrupted."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    temporary = Path(name)
    try:
        try:
            yield handle, temporary
        finally:
            os.close(handle)
        os.chmod(temporary, _FILE_MODE)  # by name: a writer given the path may have replaced the file
        os.replace(temporary, path)
    except OSError as error:  # a full disk, a lost permission: say which file could not be written
        temporary.unlink(missing_ok=True)
        raise _naming(error, path) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for the block to write; renamed to ``path`` when the block ends
    without error (with the mode open() would have given it), removed when it fails or is interrupted."""
    with _atomic(Path(path)) as (_, temporary):
        yield temporary


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` as an OSError whose message names ``path`` (the temporary file's name means nothing)."""
    return OSError(error.errno, f"cannot write {path} ({error.strerror or error})")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (as UTF-8) to ``path`` through a temporary file and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename. Written through the temporary's own
    descriptor: opening it a second time cost as much as the rest, for each of thousands of output files."""
    with _atomic(Path(path)) as (handle, _):
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]


def read_text(path: str | os.PathLike) -> str:
    """The text of a file, undecodable bytes replaced. Read with bare system calls and decoded at once: a
    fraction of the cost of a text-mode open, which counts when an evaluation reads 40,000 small files."""
    handle = os.open(path, os.O_RDONLY)
    try:
        data = os.read(handle, _CHUNK)
        if len(data) == _CHUNK:  # a large file: read the rest
            parts = [data]
            while chunk := os.read(handle, _CHUNK):
                parts.append(chunk)
            data = b"".join(parts)
    finally:
        os.close(handle)
    return data.decode("utf-8", errors="replace")
