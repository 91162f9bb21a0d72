"""Deadline helpers: parsing ``X-Seawall-Deadline-Ms`` and the current request's deadline."""

from __future__ import annotations

import pytest

from seawall.deadline import DEADLINE_HEADER, current, parse_header, remaining

NAME = DEADLINE_HEADER.encode()


def test_header_name_is_lowercase() -> None:
    """The name matches ASGI's lowercased header names."""
    assert DEADLINE_HEADER == "x-seawall-deadline-ms"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"250", 0.25),
        (b"1500", 1.5),
        (b"1.5", 0.0015),
        (b"0", 0.0),
        (b"-20", -0.02),
        (b" 100 ", 0.1),
    ],
)
def test_milliseconds_become_seconds(value: bytes, seconds: float) -> None:
    """Integer and decimal milliseconds parse to seconds; zero and negative values are kept."""
    assert parse_header([(NAME, value)]) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [b"", b"soon", b"1s", b"\xff", b"10ms"])
def test_unparseable_value_is_none(value: bytes) -> None:
    """A value that is not a number is ignored (None), not an error."""
    assert parse_header([(NAME, value)]) is None


def test_absent_header_is_none() -> None:
    """Without the header there is no incoming deadline."""
    assert parse_header([]) is None
    assert parse_header([(b"x-other", b"100")]) is None


def test_first_occurrence_wins() -> None:
    """With the header repeated, the first one counts."""
    assert parse_header([(b"host", b"a"), (NAME, b"100"), (NAME, b"5")]) == pytest.approx(0.1)


def test_no_deadline_outside_a_request() -> None:
    """Outside a request ``remaining()`` and ``current()`` are None."""
    assert remaining() is None
    assert current() is None
