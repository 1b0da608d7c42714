"""Writing files so that a stopped run never leaves a half-written one behind; reading small text files cheaply,
and never a file that could block or flood the reader."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _read_umask() -> int:
    """The process's file-creation mask (read once: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; outputs get the mode open() would have given them.
_FILE_MODE = 0o666 & ~_read_umask()
_CHUNK = 1 << 16  # bytes per read: a header or an output file is one read
#: Characters of a target's name kept in its temporary's name: enough to tell what was being written, few enough
#: that the temporary's name stays far below the 255-byte limit on a file name however long the target's is.
_TEMPORARY_NAME_CHARACTERS = 32
# Files that are neither regular nor folders, as a refusal names them: opening one may block (a named pipe
# without a writer) or act on hardware.
_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class FileRefused(OSError):
    """A file :func:`read_text` does not read: not a regular file, or larger than the caller's cap. An OSError,
    so that callers which report unreadable files report it too; ``strerror`` says why in words that follow the
    file's name (``is a named pipe, not a regular file``; ``is larger than 1 MiB``)."""


@contextmanager
def _atomic(path: Path) -> Iterator[tuple[int, Path]]:
    """The open descriptor and the path of a fresh temporary file beside ``path``; the file is renamed to
    ``path`` when the block ends without error (with the mode open() would have given it), removed when it
    fails or is interrupted."""
    try:
        # The target's name is cut: a legal 255-byte name with a prefix and a suffix added would pass the limit.
        prefix = f".{path.name[:_TEMPORARY_NAME_CHARACTERS]}."
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
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


def read_text(path: str | os.PathLike, max_bytes: int | None = None) -> str:
    """The text of a file, undecodable bytes replaced. Read with bare system calls and decoded at once: a
    fraction of the cost of a text-mode open, which counts when an evaluation reads 40,000 small files.

    :class:`FileRefused` when ``path`` is a named pipe, a device or a socket (opening one may block forever or
    act on hardware), or holds more than ``max_bytes`` bytes: then no more than ``max_bytes + 1`` bytes are read,
    so the cap bounds memory and time whatever the file. A folder raises IsADirectoryError, as it always did."""
    _refuse_special(path, os.stat(path).st_mode)  # before opening: opening a named pipe blocks until a writer
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # and should one replace the file since, no blocking
    try:
        info = os.fstat(handle)
        _refuse_special(path, info.st_mode)
        if max_bytes is not None and info.st_size > max_bytes:  # refused without reading a byte
            raise _too_large(path, max_bytes)
        data = _read_up_to(handle, None if max_bytes is None else max_bytes + 1)
    finally:
        os.close(handle)
    if max_bytes is not None and len(data) > max_bytes:  # it grew past the cap after it was measured
        raise _too_large(path, max_bytes)
    return data.decode("utf-8", errors="replace")


def _read_up_to(handle: int, limit: int | None) -> bytes:
    """The rest of ``handle``, or its first ``limit`` bytes. A short read of a regular file is its end, so a
    small file is one system call."""
    parts: list[bytes] = []
    size = 0
    while limit is None or size < limit:
        wanted = _CHUNK if limit is None else min(_CHUNK, limit - size)
        chunk = os.read(handle, wanted)
        parts.append(chunk)
        size += len(chunk)
        if len(chunk) < wanted:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _refuse_special(path: str | os.PathLike, mode: int) -> None:
    """FileRefused when ``mode`` is a named pipe's, a device's or a socket's."""
    for is_kind, kind in _KINDS:
        if is_kind(mode):
            raise FileRefused(errno.EINVAL, f"is {kind}, not a regular file", os.fspath(path))


def _too_large(path: str | os.PathLike, max_bytes: int) -> FileRefused:
    """The refusal of a file larger than ``max_bytes``."""
    return FileRefused(errno.EFBIG, f"is larger than {describe_size(max_bytes)}", os.fspath(path))


def describe_size(size: int) -> str:
    """``1048576`` -> ``1 MiB``, ``65536`` -> ``64 KiB``, ``1000`` -> ``1000 bytes``: a size for a message."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """An .npz file written through a temporary file and a rename: a resumed run trusts these files."""
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)
