"""Spools keep what a streamed report wrote, in order, in bounded memory."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from bot.report import spool


def test_everything_written_comes_back_in_order_across_chunks_and_disk(monkeypatch):
    monkeypatch.setattr(spool, "SPOOL_MEMORY", 1000)  # to disk past 1,000 characters
    monkeypatch.setattr(spool.Spool, "CHUNK", 64)  # handed to the file every 64
    kept = spool.new_spool()
    pieces = [f"finding {i} \u2014 caf\u00e9\n" for i in range(500)]
    for piece in pieces:
        kept.write(piece)
    assert len(kept._parts) < 10  # gathered a chunk at a time, not all held
    assert kept.on_disk  # past SPOOL_MEMORY
    out = io.StringIO()
    kept.copy_to(out)
    assert out.getvalue() == "".join(pieces)


def test_a_spool_read_line_by_line_sees_the_last_unwritten_chunk_too():
    kept = spool.new_spool()
    kept.write("one\n")
    kept.write("two\n")  # both still gathered, below CHUNK
    assert list(kept.rewound()) == ["one\n", "two\n"]
    kept.close()


def test_a_spool_below_its_memory_never_opens_a_file(monkeypatch):
    monkeypatch.setattr(spool, "SPOOL_MEMORY", 1000)
    kept = spool.new_spool()
    pieces = [f"line {i}\r\n" for i in range(50)]  # 500 characters: kept in memory
    for piece in pieces:
        kept.write(piece)
    assert not kept.on_disk
    assert list(kept.rewound()) == pieces  # read back as a file written with newline=""
    out = io.StringIO()
    kept.copy_to(out)
    assert out.getvalue() == "".join(pieces)


# -- segments: laid-out text left in a spill folder by the process that evaluated it ------------

TEXT = "caf\u00e9 \u2014 finding\n" * 1000  # (more than SPILL_MIN characters, not all ASCII)


@pytest.fixture
def spilling():
    """A spill folder that this process leaves large pieces in, as an evaluating one would."""
    folder = spool.SpillFolder()
    spool.spill_into(folder.path())
    yield folder
    spool.spill_into(None)
    folder.close()


def test_a_large_piece_is_kept_in_this_process_file_of_the_spill_folder(spilling):
    first, second = spool.kept(TEXT), spool.kept(TEXT.upper())
    assert isinstance(first, spool.Segment) and isinstance(second, spool.Segment)
    assert first.path == second.path and os.path.dirname(first.path) == spilling.path()
    assert second.offset == first.offset + first.size == len(TEXT.encode("utf-8"))
    with open(first.path, "rb") as file:
        assert file.read().decode("utf-8") == TEXT + TEXT.upper()
    assert spool.kept("short") == "short"  # (below SPILL_MIN: crosses back as text)
    spool.spill_into(None)
    assert spool.kept(TEXT) == TEXT


def test_a_spill_folder_that_is_gone_means_text(spilling):
    spilling.close()
    assert spool.kept(TEXT) == TEXT
    assert spool.kept(TEXT) == TEXT  # (and no more tries in this process)


def test_a_spill_folder_is_private_made_when_asked_for_and_removed_whole():
    folder = spool.SpillFolder()
    path = folder.path()
    assert folder.path() == path and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    (Path(path) / "123").write_text("x")
    folder.close()
    assert not os.path.exists(path)
    folder.close()  # (twice is fine)


def written(spooled: spool.Spool, into: str, tmp_path: Path, **open_args: Any) -> str:
    """What ``copy_to`` writes: into a StringIO, or into a file opened with ``open_args``."""
    if into == "string":
        out = io.StringIO()
        spooled.copy_to(out)
        return out.getvalue()
    target = tmp_path / "out.txt"
    encoding = open_args.pop("encoding", "utf-8")
    with open(target, encoding=encoding, newline="", **open_args) as out:
        out.write("head\n")  # (buffered text before the copied bytes must stay before them)
        spooled.copy_to(out)
        out.write("tail\n")
    text = target.read_text(encoding)
    assert text.startswith("head\n") and text.endswith("tail\n")
    return text.removeprefix("head\n").removesuffix("tail\n")


@pytest.mark.parametrize(
    ("into", "open_args"),
    [
        ("string", {}),  # decoded and written as text
        ("file", {"mode": "w"}),  # copied by the kernel (os.sendfile)
        ("file", {"mode": "a"}),  # O_APPEND, which sendfile refuses: through this process
        ("file", {"mode": "w", "encoding": "utf-16"}),  # another encoding: decoded, re-encoded
    ],
)
def test_segments_are_copied_in_place_among_the_text(spilling, into, open_args, tmp_path):
    kept = spool.new_spool()
    kept.write("before\n")
    kept.write(spool.kept(TEXT))
    kept.write("between\n")
    kept.write(spool.after(spool.kept("--" + TEXT), "--"))
    assert written(kept, into, tmp_path, **open_args) == "before\n" + TEXT + "between\n" + TEXT


def test_segments_that_follow_on_in_one_file_are_held_as_one(spilling, tmp_path):
    kept = spool.new_spool()
    for _ in range(3):
        kept.write(spool.kept(TEXT))
    assert len(kept._parts) == 1 and kept._parts[0].size == 3 * len(TEXT.encode("utf-8"))
    assert written(kept, "file", tmp_path, mode="w") == TEXT * 3


def test_segments_go_to_disk_with_the_rest_of_a_large_spool(spilling, monkeypatch, tmp_path):
    monkeypatch.setattr(spool, "SPOOL_MEMORY", 1000)  # to disk past 1,000 characters
    monkeypatch.setattr(spool.Spool, "CHUNK", 64)
    texts = [TEXT if i % 10 == 0 else f"line {i} \u2014 {'x' * 40}\n" for i in range(60)]
    for copy in ("rewound", "copy_to"):
        kept = spool.new_spool()
        for text in texts:
            kept.write(spool.kept(text))
        assert kept.on_disk and len(kept._parts) < 10
        if copy == "rewound":
            assert "".join(kept.rewound()) == "".join(texts)
            kept.close()
        else:
            assert written(kept, "file", tmp_path, mode="w") == "".join(texts)


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_a_writer_closed_before_its_report_is_finished_removes_its_spill_folder(fmt):
    from bot.report import writer

    stream = writer(fmt, io.StringIO())
    rendering = stream.rendering()
    assert rendering is not None and rendering.spill is not None
    folder = rendering.spill()
    (Path(folder) / "123").write_text("a piece")
    stream.close()  # (a scan that failed, or whose reader went away: no ``finish``)
    assert not os.path.exists(folder)
