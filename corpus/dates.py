"""Turn the many ways articles write dates into ISO `YYYY-MM-DD`, or None."""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime

# Forms seen in news feeds and JSON dumps besides ISO 8601 and RFC 2822.
_FORMATS = (
    "%B %d, %Y",  # July 30, 2023
    "%b %d, %Y",  # Jul 30, 2023
    "%d %B %Y",  # 30 July 2023
    "%d %b %Y",  # 30 Jul 2023
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
)
_ISO_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
# Unix time in seconds or milliseconds lies in this range (see _from_epoch).
_MIN_EPOCH, _MAX_EPOCH = 10**8, 10**14


def normalise_date(value: object) -> str | None:
    """ISO date for a parseable value (str, date, datetime or Unix seconds), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, int) and not _MIN_EPOCH <= value < _MAX_EPOCH:
        return None  # float() of a 400-digit JSON number raises OverflowError
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 64:
        return None
    for parse in (_parse_iso, _parse_rfc2822, _parse_formats):
        parsed = parse(text)
        if parsed is not None:
            return parsed.strftime("%Y-%m-%d")
    return None


def _parse_iso(text: str) -> date | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    # "2023-07-30 at noon", "2023-07-30T10:00:00.123456789+0000": trust the date part only.
    match = _ISO_PREFIX.match(text)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group())
    except ValueError:
        return None


def _parse_rfc2822(text: str) -> date | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):  # a year of 99999999999
        return None


def _parse_formats(text: str) -> date | None:
    text = text.replace("Sept ", "Sep ")
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except (ValueError, OverflowError):
            continue
    return None


def _from_epoch(seconds: float) -> str | None:
    # Only numbers that look like Unix time (seconds or milliseconds after 1973); a bare
    # year such as 2023 is not a timestamp.
    if 1e11 <= seconds < 1e14:
        seconds /= 1000
    if not 1e8 <= seconds < 1e11:
        return None
    try:
        return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return None
