"""Records every storage backend reads and writes (index/storage.py), and article scopes.

Scope: every article is global (the operator's) or belongs to one Discord server; a search
from server G sees the global articles and G's own, never another server's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from corpus.records import Article
from index.embedder import Embedder, backend_of

GLOBAL_SCOPE = "global"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def scope_of(guild_id: int | None) -> str:
    return GLOBAL_SCOPE if guild_id is None else str(guild_id)


def visible_scopes(guild_id: int | None) -> tuple[str, ...]:
    """A guild sees the global articles and its own; the operator sees the global ones."""
    return (GLOBAL_SCOPE,) if guild_id is None else (GLOBAL_SCOPE, str(guild_id))


@dataclass(frozen=True)
class ModelInfo:
    """Which model made a library's vectors: a library is never mixed across models."""

    name: str
    fingerprint: str  # the weights' sha256 (+ a quantised backend's recipe)
    dim: int
    backend: str  # index/embedder.py BACKENDS

    @classmethod
    def of(cls, embedder: Embedder) -> ModelInfo:
        return cls(embedder.name, embedder.fingerprint, embedder.dim, backend_of(embedder))


@dataclass(frozen=True)
class StoredArticle:
    id: str
    scope: str
    key: str
    origin: str
    content_hash: str
    metadata: tuple[str, str, str | None, str | None]  # title, source, url, date


@dataclass(frozen=True)
class NewPassage:
    position: int
    text: str
    vector: np.ndarray
    sentence_spans: list[tuple[int, int]]
    sentence_vectors: np.ndarray  # (len(sentence_spans), dim)


@dataclass(frozen=True)
class ArticleWrite:
    """One article to store: its record, and its passages when its text is new or changed
    (they replace the ones it had); `passages=None` updates the record alone."""

    article_id: str
    scope: str
    origin: str
    article: Article
    passages: list[NewPassage] | None


@dataclass(frozen=True)
class PassageRow:
    id: int
    article_id: str
    position: int
    text: str
    title: str
    source: str
    url: str | None
    date: str | None


@dataclass(frozen=True)
class EvidenceRow:
    """A passage with what the answerer needs: its vector and its sentences' vectors."""

    passage: PassageRow
    vector: np.ndarray
    sentence_spans: list[tuple[int, int]]
    sentence_vectors: np.ndarray | None  # None: stored before sentence vectors existed
    sentence_signals: str | None = None  # index/signals.py, `stored_signals`


def locate_sentences(text: str, sentences: Sequence[str]) -> list[tuple[int, int, int]]:
    """(index in `sentences`, start, end) of each sentence found in `text`, searched in
    order; a sentence not found verbatim is left out."""
    found: list[tuple[int, int, int]] = []
    at = 0
    for index, sentence in enumerate(sentences):
        start = text.find(sentence, at)
        if start >= 0:
            at = start + len(sentence)
            found.append((index, start, at))
    return found
