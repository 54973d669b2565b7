"""Make untrusted strings safe to store, embed and show: the corpus layer's edge.

Text reaches us from files, JSON, feeds, pages and questions. A lone surrogate (from JSON's
`"\\ud800"` or a file name with an undecodable byte) cannot be encoded to UTF-8, so the
tokenizer, SQLite and Discord all fail on it; control characters break lines and links.
Everything that becomes part of an article passes through here once.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Control characters except tab and newline (C0, DEL, C1) and every surrogate code point:
# in a Python str a surrogate is always unpaired, since valid pairs decode to one character.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n?")
_ONE_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_URL_CHARS = 2000  # browsers and Discord embeds stop well before this


def scrub(text: str) -> str:
    """`text` without lone surrogates or control characters; newlines and tabs are kept
    (a carriage return becomes a newline, so old Mac line ends still split lines)."""
    return _UNSAFE.sub("", _LINE_BREAKS.sub("\n", text))


def scrub_line(text: str) -> str:
    """`scrub` for one-line values (paths, ids): tabs and newlines are removed too."""
    return _ONE_LINE_UNSAFE.sub("", text)


def display_path(relative: str) -> str:
    """A file path as text: bytes the file system could not decode (kept by Python as
    surrogates) become U+FFFD, so two such names stay told apart and readable."""
    raw = relative.encode("utf-8", "surrogateescape")
    return scrub_line(raw.decode("utf-8", "replace"))


def clean_url(value: object) -> str | None:
    """An http(s) link safe to show as a source, else None.

    A link with whitespace or control characters inside, a backslash (parsers disagree
    about where its host ends), another scheme or no host is dropped rather than repaired:
    a wrong source link is worse than none.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or "\\" in url:
        return None
    if any(character.isspace() for character in url) or _ONE_LINE_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
