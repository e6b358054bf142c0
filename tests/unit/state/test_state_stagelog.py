"""Stage logs: bounded to their limit (head + tail), readable at every moment, never failing a stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot_ci import errors
from pivot_ci.state import stagelog


class Collect:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True


def test_a_small_log_holds_the_echo_the_output_and_how_it_ended(tmp_path: Path) -> None:
    sink = Collect()
    w = stagelog.LogWriter(stagelog.LogSpec(str(tmp_path / "logs/s.log"), "python a.py \\\n  --x 1"), sink)
    w.write(b"hello\n")
    w.write(b"partial")
    assert (tmp_path / "logs/s.log").read_bytes() == b"> python a.py \\\n>   --x 1\nhello\npartial"  # as it comes
    w.close("finished in 0.10s")
    assert (tmp_path / "logs/s.log").read_text() == (
        "> python a.py \\\n>   --x 1\nhello\npartial\n[pivot] finished in 0.10s\n")
    assert sink.data == b"hello\npartial" and sink.closed
    assert w.tail() == "hello\npartial"


def test_a_big_log_keeps_its_head_and_its_tail_and_never_grows_past_twice_the_limit(tmp_path: Path) -> None:
    limit = 8192
    path = tmp_path / "s.log"
    w = stagelog.LogWriter(stagelog.LogSpec(str(path), "cmd", limit))
    lines = [f"line {i:06d}\n".encode() for i in range(5000)]
    for i in range(0, len(lines), 7):
        w.write(b"".join(lines[i:i + 7]))
        assert path.stat().st_size <= 2 * limit + 256
    w.close("finished")
    text = path.read_text()
    assert len(text) <= limit + 256
    kept = text.splitlines()
    assert kept[1] == "line 000000"
    assert kept[-2:] == ["line 004999", "[pivot] finished"]
    marker = next(line for line in kept if line.startswith("[pivot] ... "))
    dropped = int(marker.split()[2].replace(",", ""))
    body = [line for line in kept[1:-1] if line != marker and line]
    # what is kept plus what the marker counts is exactly what was written (the head may end mid-line)
    assert len("".join(f"{line}\n" for line in body)) + dropped == sum(map(len, lines)) + 1
    tail = [line for line in kept[kept.index(marker) + 1:-1]]
    assert all(line.startswith("line ") and len(line) == 11 for line in tail)  # starts at a line boundary
    assert len(w.tail()) <= stagelog.TAIL_TEXT


def test_an_unwritable_log_does_not_fail_the_stage_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the directory should be")
    sink = Collect()
    w = stagelog.LogWriter(stagelog.LogSpec(str(tmp_path / "logs/s.log"), "cmd"), sink)
    w.write(b"still shown\n")
    w.close("finished")
    assert sink.data == b"still shown\n"
    assert w.tail().startswith("still shown\n[pivot] cannot write the log ")


@pytest.mark.parametrize(("raw", "expected"), [("", stagelog.DEFAULT_LIMIT), ("1M", 1 << 20), ("64k", 64 << 10),
                                               ("2GiB", 2 << 30), ("100000", 100000), ("10", stagelog.MIN_LIMIT)])
def test_limit_from_env(raw: str, expected: int) -> None:
    assert stagelog.limit_from_env({stagelog.LIMIT_ENV: raw}) == expected


def test_a_bad_limit_is_a_config_error_with_a_hint() -> None:
    with pytest.raises(errors.ConfigError) as exc:
        stagelog.limit_from_env({stagelog.LIMIT_ENV: "lots"})
    assert "PIVOT_LOG_LIMIT='lots'" in str(exc.value) and exc.value.hint


def test_the_log_path_lives_in_the_state_dir(tmp_path: Path) -> None:
    assert stagelog.log_path(tmp_path, "train@2") == tmp_path / "logs" / "train@2.log"
    assert stagelog.read(tmp_path / "logs/none.log") is None


class Gone(Collect):
    def write(self, data: bytes) -> None:
        raise BrokenPipeError("the reader went away")


def test_a_sink_that_went_away_stops_getting_output_and_the_log_keeps_it(tmp_path: Path) -> None:
    w = stagelog.LogWriter(stagelog.LogSpec(str(tmp_path / "s.log"), "cmd"), Gone())
    w.write(b"one\n")
    w.write(b"two\n")
    w.close("finished")
    assert (tmp_path / "s.log").read_text() == "> cmd\none\ntwo\n[pivot] finished\n"
