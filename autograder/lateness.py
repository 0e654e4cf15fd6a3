"""Submission times as Gradescope's export writes them, and how late a submission was against a due date."""

import re
from datetime import datetime, timedelta

# "2026-10-28 22:01:00.000000000 -07:00" (the export), "2026-10-29T23:59-07:00", "2026-10-29 23:59 +0000", "... Z"
TIME = re.compile(r"\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2})?(?:\.(\d+))?\s*(Z|UTC|[+-]\d{2}:?\d{2})?\s*")


def parse_time(text: str) -> datetime | None:
    """The moment `text` names, with its UTC offset; None when it is no such time or names no offset."""
    match = TIME.fullmatch(str(text))
    if not match or not match.group(5):
        return None
    day, minutes, seconds, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "UTC") else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    try:
        return datetime.fromisoformat(f"{day}T{minutes}{seconds or ':00'}.{(fraction or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:  # a month 13 and the like
        return None


def lateness_text(submitted_at: str, due: datetime) -> str:
    """ "on time", or how late as "2 d 3 h 5 min" (late by less than a minute counts as 1 min); "" for an unknown
    time."""
    moment = parse_time(submitted_at)
    if moment is None:
        return ""
    late = moment - due
    if late <= timedelta(0):
        return "on time"
    minutes = max(1, -(-int(late.total_seconds()) // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(part for part in parts if part)
