"""The records every layer shares: an article as loaded, a passage as indexed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalised_text(text: str) -> str:
    """Lower-case words only: two copies of a story that differ in spacing or punctuation agree."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class Article:
    """One cleaned news article.

    `source` says where it came from: a path relative to the corpus folder, a URL, or a
    label such as `upload:notes.txt`. With `external_id` (a json record's `id`) it names
    the article uniquely within a scope, so re-adding the same source updates it.
    """

    title: str
    text: str
    source: str
    url: str | None = None
    date: str | None = None  # ISO 8601 (YYYY-MM-DD) when known
    external_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.source}#{self.external_id}" if self.external_id else self.source

    @property
    def content_hash(self) -> str:
        """Equal for exact and near-exact copies (case, spacing, punctuation ignored)."""
        body = normalised_text(f"{self.title}\n{self.text}")
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences from one article; `position` counts from 0 within it.

    `sentences` are the pieces `text` was joined from (with single spaces), so an answer
    can quote one exactly; empty when unknown.
    """

    position: int
    text: str
    sentences: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class LoadReport:
    """What a load found: articles kept, files skipped (with why), duplicates dropped."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped, kept) sources
