"""Adding a server's own articles: checks before any download, then corpus + index calls.

The checks are plain functions (tested without Discord); the `*_blocking` functions do the
slow part and are called through asyncio.to_thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import corpus
from bot.errors import UserFacingError
from bot.render import escape_title, truncate
from corpus.records import Article
from index.library import Library
from index.results import AddReport

UPLOAD_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
# A feed can list hundreds of items; embedding them all would hold the command for minutes.
MAX_ARTICLES_PER_ADD = 50
_SLUG = re.compile(r"[^a-z0-9]+")


def check_upload(filename: str, size: int, *, max_bytes: int) -> None:
    """Refuse a file by its name and declared size, before downloading it."""
    extension = PurePosixPath(filename.lower()).suffix
    if extension not in UPLOAD_EXTENSIONS:
        raise UserFacingError(
            f"I can't read {extension or 'files without an extension'}: "
            f"send one of {', '.join(UPLOAD_EXTENSIONS)}."
        )
    if size > max_bytes:
        raise UserFacingError(f"That file is {_size(size)}; the limit is {_size(max_bytes)}.")


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserFacingError("Give a full web address starting with http:// or https://.")
    return url


def paste_source(title: str) -> str:
    """Pasting again under the same title updates that article instead of adding a copy."""
    slug = _SLUG.sub("-", title.casefold()).strip("-")
    return f"paste:{slug or 'untitled'}"


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} kB"


def parse_upload_blocking(filename: str, data: bytes) -> tuple[list[Article], list[str]]:
    """The file's articles, and a line for each record in it that was left out."""
    loaded = corpus.read_document(filename, data, source=f"upload:{filename}")
    return loaded.articles, [f"{skipped.path}: {skipped.reason}" for skipped in loaded.skipped]


def pasted_article(title: str, text: str, url: str | None) -> Article:
    return corpus.article_from_text(
        title.strip(), text, source=paste_source(title), url=(url or "").strip() or None
    )


def add_blocking(
    library: Library, articles: Sequence[Article], *, guild_id: int
) -> tuple[AddReport, list[Article]]:
    """Add up to MAX_ARTICLES_PER_ADD articles to the server's own scope."""
    if not articles:
        raise UserFacingError("I found no article text in that.")
    kept = list(articles[:MAX_ARTICLES_PER_ADD])
    return library.add_articles(kept, guild_id=guild_id), kept


def add_summary(report: AddReport, articles: Sequence[Article], *, offered: int,
                left_out: Sequence[str] = ()) -> str:
    """One short ephemeral message: what changed, the ids to remove it by, what was left
    out of the file and why."""
    changed = [*report.added, *report.updated]
    parts = []
    if len(articles) == 1 and changed:
        verb = "Added" if report.added else "Updated"
        parts.append(f"{verb} “{escape_title(truncate(articles[0].title, 200))}”.")
    else:
        counts = [
            (len(report.added), "added"),
            (len(report.updated), "updated"),
            (len(report.unchanged), "already held unchanged"),
            (len(report.duplicates), "duplicates of articles already held"),
        ]
        parts.append(", ".join(f"{count} {what}" for count, what in counts if count) + ".")
    if offered > len(articles):
        parts.append(f"Only the first {len(articles)} of {offered} were added.")
    if changed:
        ids = ", ".join(f"`{article_id}`" for article_id in changed[:10])
        parts.append(f"{'ID' if len(changed) == 1 else 'IDs'}: {ids} — answerable now.")
    elif report.duplicates:
        kept = ", ".join(f"`{kept_id}`" for _, kept_id in report.duplicates[:10])
        parts.append(f"Already in the library as {kept}.")
    if left_out:
        shown = "; ".join(escape_title(truncate(line, 150)) for line in left_out[:5])
        more = f" (and {len(left_out) - 5} more)" if len(left_out) > 5 else ""
        parts.append(f"Left out {len(left_out)}: {shown}{more}.")
    return truncate(" ".join(parts), 2000)
