"""PostgreSQL URLs: recognised and shown without their password. No driver imported, so
configuration can check a URL without loading psycopg."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_SCHEMES = ("postgresql", "postgres")


def is_database_url(value: str) -> bool:
    return urlsplit(value).scheme in URL_SCHEMES


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&]*")


def redact(url: str) -> str:
    """The URL without its password (in the address or as `?password=`), for messages
    and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        url = parts._replace(netloc=netloc).geturl()
    return _QUERY_PASSWORD.sub(r"\1***", url)
