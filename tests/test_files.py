"""ecgnet.files: bounded reads that never block, and temporary names that fit beside any legal file name."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ecgnet import files
from ecgnet.files import FileRefused, atomic_path, describe_size, read_text, write_bytes_atomic, write_text_atomic


# ------------------------------------------------------------------------------------------------- read_text
@pytest.mark.parametrize("size", [0, 10, 65535, 65536, 65537, 200_000])
def test_read_text_reads_the_whole_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"ab\xffc" * (size // 4) + b"x" * (size % 4))
    assert read_text(path) == path.read_bytes().decode("utf-8", errors="replace")


@pytest.mark.parametrize("size", [0, 100, 65536, 65537, 1 << 20])
def test_a_file_up_to_the_cap_is_read(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"y" * size)
    assert read_text(path, max_bytes=1 << 20) == "y" * size


@pytest.mark.parametrize(("size", "cap", "words"), [(101, 100, "is larger than 100 bytes"),
                                                     ((1 << 20) + 1, 1 << 20, "is larger than 1 MiB"),
                                                     (70_000, 65536, "is larger than 64 KiB")])
def test_a_file_past_the_cap_is_refused(tmp_path: Path, size: int, cap: int, words: str) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"z" * size)
    with pytest.raises(FileRefused) as error:
        read_text(path, max_bytes=cap)
    assert error.value.strerror == words and isinstance(error.value, OSError)
    assert error.value.filename == str(path)


def test_a_file_that_grew_past_the_cap_after_it_was_measured_is_refused(tmp_path: Path, monkeypatch) -> None:
    """The size fstat gives is not trusted alone: at most cap + 1 bytes are read, and one too many refuses."""
    path = tmp_path / "f.txt"
    path.write_bytes(b"z" * 1000)
    real_fstat = os.fstat

    class Shrunk:
        def __init__(self, info: os.stat_result) -> None:
            self.st_mode, self.st_size = info.st_mode, 10

    monkeypatch.setattr(files.os, "fstat", lambda handle: Shrunk(real_fstat(handle)))
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(files.os, "read", lambda handle, n: reads.append(n) or real_read(handle, n))
    with pytest.raises(FileRefused, match="larger than 100 bytes"):
        read_text(path, max_bytes=100)
    assert sum(reads) <= 101


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "x.hea"
    os.mkfifo(pipe)
    errors: list[OSError] = []

    def read() -> None:
        try:
            read_text(pipe)
        except OSError as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "read_text blocked on a named pipe"
    assert isinstance(errors[0], FileRefused) and errors[0].strerror == "is a named pipe, not a regular file"


def test_a_character_device_is_refused() -> None:
    with pytest.raises(FileRefused, match="is a character device, not a regular file"):
        read_text("/dev/null")


def test_a_folder_raises_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        read_text(tmp_path)


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing.hea")


@pytest.mark.parametrize(("size", "text"), [(1 << 20, "1 MiB"), (3 << 30, "3 GiB"), (2048, "2 KiB"),
                                            (1000, "1000 bytes"), (0, "0 bytes"), ((1 << 20) + 1, "1048577 bytes")])
def test_describe_size(size: int, text: str) -> None:
    assert describe_size(size) == text


# --------------------------------------------------------------------------------------- temporary file names
@pytest.mark.parametrize("length", [1, 200, 238, 250, 255])
def test_any_legal_name_can_be_written_atomically(tmp_path: Path, length: int) -> None:
    target = tmp_path / ("r" * (length - 4) + ".csv" if length > 4 else "r")
    write_text_atomic(target, "x,y\n")
    assert target.read_text() == "x,y\n"
    assert os.listdir(tmp_path) == [target.name]  # no temporary left behind


def test_multibyte_names_of_255_bytes_can_be_written(tmp_path: Path) -> None:
    target = tmp_path / ("\u00e9" * 125 + ".csv")  # 250 + 4 bytes in UTF-8
    assert len(os.fsencode(target.name)) == 254
    write_bytes_atomic(target, b"ok")
    assert target.read_bytes() == b"ok"


def test_the_temporary_is_hidden_short_and_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / ("a" * 250 + ".out")
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".") and temporary.name.endswith(".tmp")
        assert len(os.fsencode(temporary.name)) < 100
        assert temporary.name.startswith("." + "a" * 32 + ".")  # still tells what is being written
        temporary.write_text("done")
    assert target.read_text() == "done"
    assert list(tmp_path.glob(".*.tmp")) == []


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / ("b" * 251 + ".txt")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("stopped")
    assert os.listdir(tmp_path) == []
