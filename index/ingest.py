"""Deciding what an add or build must do before any embedding happens."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from corpus import chunk_article
from corpus.records import Article, Passage
from index.store import Store, StoredArticle

# Passages embedded and committed together: one model batch (their sentences ride along
# in the same call), so a killed build loses at most that much; the next run resumes.
COMMIT_EVERY_PASSAGES = 64


def article_id_for(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:12]


def stored_source(row: StoredArticle) -> str:
    return row.metadata[1]


def _kept(source: str, keep_sources: frozenset[str]) -> bool:
    """A skipped file is named as itself; an unreadable folder as `folder/` (`./` for the
    corpus root), which keeps everything below it."""
    return source in keep_sources or any(
        kept == "./" or (kept.endswith("/") and source.startswith(kept)) for kept in keep_sources)


def embedding_text(title: str, passage: str) -> str:
    """The title gives a passage its context: "she" in a passage is who the title names."""
    return f"{title}\n{passage}"


@dataclass(frozen=True)
class PlannedArticle:
    article: Article
    article_id: str
    passages: list[Passage]
    replaces_existing: bool


@dataclass
class IngestPlan:
    to_embed: list[PlannedArticle] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    metadata_only: list[tuple[str, Article]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    to_remove: list[str] = field(default_factory=list)

    @property
    def passage_count(self) -> int:
        return sum(len(planned.passages) for planned in self.to_embed)

    def batches(self) -> Iterator[list[PlannedArticle]]:
        batch: list[PlannedArticle] = []
        size = 0
        for planned in self.to_embed:
            batch.append(planned)
            size += len(planned.passages)
            if size >= COMMIT_EVERY_PASSAGES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch


def plan_ingest(
    store: Store, articles: Iterable[Article], *, scope: str, visible: tuple[str, ...],
    replace_origin: str | None, keep_sources: frozenset[str] = frozenset(),
) -> IngestPlan:
    """Classify each article: new or changed (embed), unchanged (skip), or a copy of one
    already held (skip). With replace_origin, articles of that origin in the scope that are
    not in `articles` are to be removed (a build mirrors its corpus folder), except those
    whose source is in `keep_sources` (a file still there that could not be read now)."""
    plan = IngestPlan()
    stored = store.stored_articles(scope)
    seen_keys: set[str] = set()
    kept_by_hash: dict[str, str] = {}
    for article in articles:
        if article.key in seen_keys:
            continue
        seen_keys.add(article.key)
        content_hash = article.content_hash
        existing = stored.get(article.key)
        if existing and existing.content_hash == content_hash:
            plan.unchanged.append(existing.id)
            kept_by_hash[content_hash] = existing.id
            if existing.metadata != (article.title, article.source, article.url, article.date):
                plan.metadata_only.append((existing.id, article))
            continue
        copy_of = kept_by_hash.get(content_hash) or store.article_with_hash(content_hash, visible)
        if copy_of and (existing is None or copy_of != existing.id):
            plan.duplicates.append((article.source, copy_of))
            continue
        article_id = existing.id if existing else article_id_for(scope, article.key)
        kept_by_hash[content_hash] = article_id
        passages = chunk_article(article)
        if passages:
            plan.to_embed.append(
                PlannedArticle(article, article_id, passages, existing is not None))
    if replace_origin is not None:
        plan.to_remove = [
            row.id for key, row in stored.items()
            if row.origin == replace_origin and key not in seen_keys
            and not _kept(stored_source(row), keep_sources)
        ]
    return plan
