"""A small suffix -> reader registry of signal-file formats.

Kept apart from ``formats/__init__.py`` (as ``models/_registry.py`` is) so that format files import
``register_format`` from here while the package ``__init__`` imports them to fill the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ._base import Header, Signals

#: A format's reader: (header path, parsed header, the signal files the header names) -> the digital recording.
Reader = Callable[[Path, Header, Sequence[Path]], Signals]
R = TypeVar("R", bound=Reader)

# A suffix as discovery compares it: one dot, then lower-case letters and digits (a file whose suffix is in
# another case is reported as such, not read).
_SUFFIX = re.compile(r"\.[a-z0-9]+")
# Not a signal file's: the header's.
_HEADER_SUFFIX = ".hea"


@dataclass(frozen=True)
class FileFormat:
    """A registered signal-file format: its file suffix, one line saying what it is, and its reader.

    The ``fallback`` format (at most one) reads signal files whose suffix no format claims, and the files of a
    record whose signal files differ in suffix: WFDB signal files may bear any name."""

    suffix: str
    description: str
    read: Reader
    fallback: bool = False


_FORMATS: dict[str, FileFormat] = {}


def register_format(suffix: str, description: str, *, fallback: bool = False) -> Callable[[R], R]:
    """Decorator: make ``reader`` the reader of signal files ending in ``suffix`` (``".mat"``).

    ``reader(header_path, header, paths)`` returns the :class:`Signals` of the record (float64, leads x
    samples in header order, NaN where no sample is) or raises ``RecordError`` naming the file and the
    problem. Registering a taken suffix, or a second fallback, is an error, so that two files cannot silently
    shadow each other."""
    if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix) or suffix == _HEADER_SUFFIX:
        raise ValueError(f"a format's suffix is a dot and lower-case letters or digits, not .hea: got {suffix!r}")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"format {suffix!r} needs a one-line description")

    def decorator(reader: R) -> R:
        taken = _FORMATS.get(suffix)
        if taken is not None and taken.read is not reader:
            raise ValueError(f"format {suffix!r} is already registered (by {taken.read!r})")
        other = _fallback()
        if fallback and other is not None and other.suffix != suffix:
            raise ValueError(f"format {suffix!r} cannot be the fallback: {other.suffix!r} is")
        _FORMATS[suffix] = FileFormat(suffix, " ".join(description.split()), reader, fallback)
        return reader

    return decorator


def unregister_format(suffix: str) -> None:
    """Forget the format of ``suffix`` (tests and plug-ins that register temporary formats clean up with this)."""
    if suffix not in _FORMATS:
        raise ValueError(f"format {suffix!r} is not registered; known formats: {signal_suffixes()}")
    del _FORMATS[suffix]


def list_formats() -> list[FileFormat]:
    """The registered formats, by suffix."""
    return [_FORMATS[suffix] for suffix in sorted(_FORMATS)]


def signal_suffixes() -> tuple[str, ...]:
    """The suffixes of the registered formats, sorted: the files that discovery takes for signal files."""
    return tuple(sorted(_FORMATS))


def format_of(suffix: str) -> FileFormat:
    """The format registered for ``suffix``; ValueError naming the known ones when none is."""
    if suffix not in _FORMATS:
        raise ValueError(f"unknown signal-file format {suffix!r}; known formats: {signal_suffixes()}")
    return _FORMATS[suffix]


def format_for(paths: Sequence[Path]) -> FileFormat | None:
    """The format that reads a record's signal files ``paths``: the one registered for the suffix they all
    share, else the fallback; None when there is neither."""
    suffixes = {Path(path).suffix for path in paths}
    if len(suffixes) == 1 and (found := _FORMATS.get(suffixes.pop())) is not None:
        return found
    return _fallback()


def _fallback() -> FileFormat | None:
    """The fallback format, None when none is registered."""
    return next((entry for entry in _FORMATS.values() if entry.fallback), None)
