"""Spools keep what a streamed report wrote, in order, in bounded memory."""

from __future__ import annotations

import io

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
