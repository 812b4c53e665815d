"""Deadlines: a date lasts to the end of that day in UTC; a timestamp stops at its instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.exemptions.model import ExemptionEntry, format_timestamp, parse_expires


def entry(expires: str) -> ExemptionEntry:
    return ExemptionEntry.from_mapping(
        {
            "id": "E",
            "policy": "p",
            "paths": ["a/**"],
            "reason": "a reason that is long enough",
            "expires": expires,
        }
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


PARSE = [
    ("2026-01-31", utc(2026, 2, 1)),
    ("2026-12-31", utc(2027, 1, 1)),
    ("2024-02-29", utc(2024, 3, 1)),
    ("2026-06-30T18:00:00Z", utc(2026, 6, 30, 18)),
    ("2026-06-30t18:00:00z", utc(2026, 6, 30, 18)),
    ("2026-06-30 18:00:00Z", utc(2026, 6, 30, 18)),
    ("2026-06-30T18:00:00+02:00", utc(2026, 6, 30, 16)),
    ("2026-06-30T18:00:00-05:30", utc(2026, 6, 30, 23, 30)),
    ("2026-06-30T23:00:00-02:00", utc(2026, 7, 1, 1)),
    ("2026-06-30T18:00:00.5Z", utc(2026, 6, 30, 18, 0, 0, 500000)),
    ("2026-06-30T18:00:00.123456789Z", utc(2026, 6, 30, 18, 0, 0, 123456)),
]


@pytest.mark.parametrize(("text", "expected"), PARSE, ids=[p[0] for p in PARSE])
def test_parse_expires(text, expected):
    assert parse_expires(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29",  # not a leap year
        "2026-13-01",
        "2026-00-10",
        "2026-06-31",
        "2026-06-30T24:00:00Z",
        "2026-06-30T23:59:60Z",  # leap seconds are not representable; refused, not rounded
        "2026-06-30T18:00:00+24:00",
        "2026-06-30T18:00:00",  # no offset: which day it ends is unknowable
        "2026-06-30T18:00Z",
        "26-06-30",
        "2026-6-30",
        "9999-12-31",  # the day after does not exist
        " 2026-06-30",
        "2026-06-30\n",
        "tomorrow",
        "",
    ],
)
def test_parse_expires_refuses(text):
    assert parse_expires(text) is None


def test_date_applies_through_the_whole_day_utc():
    e = entry("2026-01-31")
    assert not e.is_expired(utc(2026, 1, 31, 0, 0))
    assert not e.is_expired(utc(2026, 1, 31, 23, 59, 59, 999999))
    assert e.is_expired(utc(2026, 2, 1, 0, 0))
    assert e.is_expired(utc(2026, 2, 1, 0, 0, 0, 1))


def test_date_deadline_is_utc_whatever_the_clock_zone():
    e = entry("2026-01-31")
    tokyo = timezone(timedelta(hours=9))
    new_york = timezone(timedelta(hours=-5))
    # 08:59 on Feb 1st in Tokyo is still Jan 31st, 23:59 UTC
    assert not e.is_expired(datetime(2026, 2, 1, 8, 59, tzinfo=tokyo))
    assert e.is_expired(datetime(2026, 2, 1, 9, 0, tzinfo=tokyo))
    # 19:00 on Jan 31st in New York is already Feb 1st UTC
    assert not e.is_expired(datetime(2026, 1, 31, 18, 59, tzinfo=new_york))
    assert e.is_expired(datetime(2026, 1, 31, 19, 0, tzinfo=new_york))


def test_timestamp_stops_at_its_instant():
    e = entry("2026-06-30T18:00:00+02:00")
    assert not e.is_expired(utc(2026, 6, 30, 15, 59, 59))
    assert e.is_expired(utc(2026, 6, 30, 16, 0, 0))
    assert e.expires == utc(2026, 6, 30, 16)


def test_naive_now_is_a_bug():
    with pytest.raises(ValueError, match="timezone-aware"):
        entry("2026-01-31").is_expired(datetime(2026, 1, 1))


def test_bad_expires_cannot_be_an_entry():
    with pytest.raises(ValueError, match="not a real date"):
        entry("2026-02-30")


def test_format_timestamp():
    assert format_timestamp(utc(2026, 6, 30, 16)) == "2026-06-30T16:00:00Z"
    plus2 = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 6, 30, 18, tzinfo=plus2)) == "2026-06-30T16:00:00Z"
    assert format_timestamp(utc(2026, 6, 30, 16, 0, 0, 5)) == "2026-06-30T16:00:00.000005Z"
