"""Submission times as the export writes them, and lateness against a due date."""

from datetime import datetime, timedelta, timezone

import pytest

from autograder.lateness import lateness_text, parse_time

PACIFIC = timezone(timedelta(hours=-7))
DUE = datetime(2026, 10, 29, 23, 59, tzinfo=PACIFIC)


@pytest.mark.parametrize(
    "text, moment",
    [
        (
            "2026-10-28 22:01:00.000000000 -07:00",
            datetime(2026, 10, 28, 22, 1, tzinfo=PACIFIC),
        ),  # the export's own spelling
        ("2026-10-29T23:59-07:00", DUE),
        ("2026-10-30 06:59:00.5 +0000", datetime(2026, 10, 30, 6, 59, 0, 500000, tzinfo=timezone.utc)),
        ("2026-10-30 06:59:30Z", datetime(2026, 10, 30, 6, 59, 30, tzinfo=timezone.utc)),
        ("2026-10-31 10:00", None),  # no offset: which time zone is unknown
        ("2026-13-01 10:00 -07:00", None),
        ("yesterday", None),
    ],
)
def test_parse_time(text, moment):
    assert parse_time(text) == moment


@pytest.mark.parametrize(
    "submitted, said",
    [
        ("2026-10-28 22:01:00 -07:00", "on time"),
        ("2026-10-29 23:59:00 -07:00", "on time"),  # at the due time exactly
        ("2026-10-30 06:59:30 +00:00", "1 min"),  # 30 s late, in another zone
        ("2026-10-30 09:00:00 -07:00", "9 h 1 min"),
        ("2026-11-01 00:59:00 -07:00", "2 d 1 h"),
        ("", ""),
    ],
)
def test_lateness_text(submitted, said):
    assert lateness_text(submitted, DUE) == said
