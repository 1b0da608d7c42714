"""Signal-file formats, looked up by file suffix.

A record is a WFDB header (``.hea``) and the signal files it names; each signal-file format is one
self-contained file of this package that registers its reader with ``@register_format(suffix, description)``,
and importing this package imports them all (as :mod:`ecgnet.models` does with architectures). Discovery
(:mod:`ecgnet.discovery`) takes the files of every registered suffix for signal files, and
:func:`ecgnet.records.read_signals` reads a record with the format of its files' suffix::

    @register_format(".csv", "integers separated by commas, one line per stored signal")
    def read_csv(header_path: Path, header: Header, paths: Sequence[Path]) -> Signals:
        ...  # float64 digital units, leads x samples in header order, NaN where no sample is

Standalone exports (a whole record in one file: DICOM, EDF, vendor XML, declared CSV/NumPy) register with
``@register_export`` instead (``_exports``): :func:`ecgnet.records.read_record` and discovery read them as
records of their own, without a header.

The formats sit below :mod:`ecgnet.records` and never import it: what they share with it (the header's types,
:class:`RecordError`, :class:`Signals`, invalid-sample marking, checksums, skew) is in ``_base``, which
:mod:`ecgnet.records` re-exports.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._base import (
    INVALID_SAMPLE,
    MAX_DURATION_SECONDS,
    NULL_FORMAT,
    Header,
    RecordError,
    Signals,
    SignalSpec,
    check_duration,
    check_signal_file,
    checksum_warning,
    checksum_warnings,
    deskew,
    is_integral,
    mark_invalid,
)
from ._exports import (
    GENERIC_SUFFIXES,
    Export,
    ExportFormat,
    check_export,
    export_for,
    export_suffixes,
    lead_name,
    list_exports,
    parse_sex,
    read_export,
    register_export,
    to_millivolts,
    unregister_export,
)
from ._registry import (
    FileFormat,
    Reader,
    format_for,
    format_of,
    list_formats,
    register_format,
    signal_suffixes,
    unregister_format,
)

__all__ = [
    "GENERIC_SUFFIXES",
    "Export",
    "ExportFormat",
    "check_export",
    "export_for",
    "export_suffixes",
    "lead_name",
    "list_exports",
    "parse_sex",
    "read_export",
    "register_export",
    "to_millivolts",
    "unregister_export",
    "INVALID_SAMPLE",
    "MAX_DURATION_SECONDS",
    "NULL_FORMAT",
    "FileFormat",
    "Header",
    "Reader",
    "RecordError",
    "SignalSpec",
    "Signals",
    "check_duration",
    "check_signal_file",
    "checksum_warning",
    "checksum_warnings",
    "deskew",
    "format_for",
    "format_of",
    "is_integral",
    "list_formats",
    "mark_invalid",
    "register_format",
    "signal_suffixes",
    "unregister_format",
]


def import_formats() -> None:
    """Import every module of this package: each format registers itself on import, so a new one is a new
    file here and nothing else (modules whose name starts with ``_`` are helpers, not formats)."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


import_formats()
