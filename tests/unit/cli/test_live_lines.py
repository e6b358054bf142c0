"""Stage output bytes -> the lines the terminal and the JSON events show."""

from __future__ import annotations

from pivot_ci.cli import live


def _feed(*chunks: bytes) -> list[str]:
    got: list[str] = []
    sink = live.LineSink(got.extend)
    for chunk in chunks:
        sink.write(chunk)
    sink.close()
    return got


def test_lines_split_on_any_line_end_and_a_last_partial_line_is_kept() -> None:
    assert _feed(b"a\nb\r\nc") == ["a", "b", "c"]
    assert _feed(b"10%\r20%\r100%\n") == ["10%", "20%", "100%"]  # progress bars: each state a line
    assert _feed(b"", b"") == []


def test_a_line_may_arrive_in_pieces_even_inside_a_utf8_character() -> None:
    text = "épreuve ✓\n".encode()
    assert _feed(*(text[i:i + 1] for i in range(len(text)))) == ["épreuve ✓"]
    assert _feed(b"\xff bad byte\n") == ["\ufffd bad byte"]


def test_a_very_long_line_is_shown_before_it_ends() -> None:
    got: list[str] = []
    sink = live.LineSink(got.extend)
    sink.write(b"x" * 10000)
    assert got == ["x" * 10000]


def test_elapsed_times_read_like_a_clock() -> None:
    assert [live.elapsed(s) for s in (0.4, 59, 61, 3599, 3600 * 2 + 65)] == ["0s", "59s", "1m01s", "59m59s", "2h01m"]
