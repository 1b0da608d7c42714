"""What the tests of the export readers share: the one-line refusal of a file, checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgnet.formats import RecordError, read_export


def refused(path: Path, *fragments: str) -> str:
    """The one-line reason read_export gives for ``path``, checked to name the file and ``fragments``."""
    with pytest.raises(RecordError) as caught:
        read_export(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message
