"""What the XML export readers share: the root element's name from a file's first bytes (their sniff), and safe
parsing (no entity expansion) with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from ._base import RecordError

try:  # sierraecg depends on defusedxml, so the formats extra brings it; without it, see _parse_plain
    from defusedxml.ElementTree import fromstring as _defused_fromstring
except ImportError:  # pragma: no cover - depends on the environment
    _defused_fromstring = None

# What may precede the root element: an XML declaration, processing instructions, comments, a DOCTYPE (MUSE
# writes ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">``), with or without an internal subset.
# Each alternative is written so that it can match in one way only: a scan of the first 4 KiB never backtracks far.
_PROLOG = r"(?:\s|<\?(?:[^?]|\?(?!>))*\?>|<!--(?:[^-]|-(?!->))*-->|<!DOCTYPE[^\[>]*(?:\[[^\]]*\][^>]*)?>)*"
_ROOT = re.compile(_PROLOG + r"<(?:[\w.-]+:)?([\w.-]+)")
_UTF8_BOM = b"\xef\xbb\xbf"
# An entity declaration as plain XML parsing would expand it, in the encodings hospital systems write.
_ENTITY_DECLARATIONS = tuple("<!ENTITY".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be"))

def xml_root(start: bytes) -> str | None:
    """The name of the root element (namespace prefix taken off) of an XML file that begins with ``start``;
    None when ``start`` is not the beginning of an XML document. Reads UTF-8, Latin-1 and UTF-16 (Philips
    cardiographs write UTF-16)."""
    match = _ROOT.match(_as_text(start))
    return match.group(1) if match else None


def _as_text(start: bytes) -> str:
    # Only the markup's ASCII matters here, so a byte-per-character decoding fits every 8-bit encoding; UTF-16
    # shows itself by its byte-order mark or by the zero byte of the first character ("<").
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return start.decode("utf-16", errors="ignore")
    if start[:2] == b"\0<":
        return start.decode("utf-16-be", errors="ignore")
    if start[:2] == b"<\0":
        return start.decode("utf-16-le", errors="ignore")
    return start.removeprefix(_UTF8_BOM).decode("latin-1")


def parse_xml(path: Path) -> ElementTree.Element:
    """The root element of the XML file ``path``, parsed without expanding entities (defusedxml when installed,
    else a file that declares entities is refused); RecordError naming ``path`` for a file that cannot be read
    or parsed (a truncated export)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecordError(path, f"cannot read the file ({error.strerror or error})") from None
    if _defused_fromstring is None:
        return _parse_plain(data, path)
    try:
        return _defused_fromstring(data)
    except ElementTree.ParseError as error:
        raise RecordError(path, f"XML does not parse, truncated or damaged ({error})") from None
    except ValueError as error:  # defusedxml's refusals: entity declarations, external references
        raise RecordError(path, f"XML declares entities or external references, refused ({error!r})") from None


def _parse_plain(data: bytes, path: Path) -> ElementTree.Element:
    # A DOCTYPE alone is harmless (expat never fetches an external DTD) and every MUSE export has one; entity
    # declarations are what expansion attacks need, and no ECG export uses them.
    if any(declaration in data for declaration in _ENTITY_DECLARATIONS):
        raise RecordError(path, "XML declares entities, refused (install defusedxml to read such files safely)")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise RecordError(path, f"XML does not parse, truncated or damaged ({error})") from None
