"""The index's public face: open a folder, add and remove articles, search, ask.

All methods are plain blocking code, safe to call from several threads (the bot calls
them through `asyncio.to_thread`). Writes are serialised by one lock; readers never see
a half-written index.

Scope: `guild_id=None` means the operator's global articles only; `guild_id=G` means
global articles plus G's own, never another guild's.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from corpus.records import Article
from index.answer import AnswerPolicy, compose_answer
from index.dense import DenseIndex
from index.embedder import Embedder
from index.errors import EmptyIndexError, IndexMissingError, QuestionError
from index.ingest import IngestPlan, PlannedArticle, embedding_text, plan_ingest
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest
from index.ranking import drop_near_duplicates, rank_articles
from index.results import AddReport, Answer, ArticleInfo, Hit, IndexInfo, QuestionStats
from index.store import GLOBAL_SCOPE, NewPassage, Store, scope_of, utc_now, visible_scopes
from index.terms import fts_query

SearchMode = Literal["hybrid", "dense", "keyword"]
ProgressCallback = Callable[[int, int], None]
MAX_QUESTION_CHARS = 500
# How many passages each method hands to fusion: deep enough that an article ranked well
# by one method alone still reaches the top after fusion.
CANDIDATE_POOL = 50
STORE_NAME = "store.sqlite"
DENSE_NAME = "dense.faiss"

_DISCORD_MARKUP = re.compile(r"<(?:@[!&]?|#)\d+>")
log = logging.getLogger(__name__)


def normalise_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    text = " ".join(_DISCORD_MARKUP.sub(" ", question).split())
    if not text:
        raise QuestionError("The question is empty: ask me something about a celebrity.")
    if len(text) > max_chars:
        raise QuestionError(
            f"That question is {len(text):,} characters long; please keep it under {max_chars}."
        )
    return text


@dataclass(frozen=True)
class _Visibility:
    generation: int
    passages: int
    selector: faiss.IDSelector | None


class Library:
    def __init__(self, folder: Path, embedder: Embedder, store: Store, dense: DenseIndex,
                 manifest: Manifest, policy: AnswerPolicy) -> None:
        self.folder = folder
        self.embedder = embedder
        self.policy = policy
        self._store = store
        self._dense = dense
        self._manifest = manifest
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._generation = store.generation()
        self._visibility: dict[tuple[str, ...], _Visibility] = {}

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False,
             policy: AnswerPolicy | None = None) -> Library:
        """Open an index folder. Raises IndexMissingError (unless create=True) and
        IndexMismatchError (other model, dim or format version)."""
        folder = Path(folder)
        policy = policy or AnswerPolicy()
        if not (folder / MANIFEST_NAME).exists():
            if not create:
                raise IndexMissingError(
                    f"No index at {folder}. Build one first: "
                    f"`python -m index build --corpus PATH --index {folder}`."
                )
            return cls._create(folder, embedder, policy)
        manifest = Manifest.read(folder)
        manifest.check_compatible(folder, embedder.name, embedder.fingerprint, embedder.dim)
        store = Store(folder / STORE_NAME)
        dense = cls._load_dense(folder, store, manifest)
        return cls(folder, embedder, store, dense, manifest, policy)

    @classmethod
    def _create(cls, folder: Path, embedder: Embedder, policy: AnswerPolicy) -> Library:
        folder.mkdir(parents=True, exist_ok=True)
        now = utc_now()
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_name=embedder.name,
            model_sha256=embedder.fingerprint, dim=embedder.dim, faiss_type="IDMap2,Flat(IP)",
            articles=0, passages=0, created_at=now, updated_at=now, dense_generation=0,
        )
        store = Store(folder / STORE_NAME)
        dense = DenseIndex.from_vectors(
            np.zeros(0, dtype=np.int64), np.zeros((0, embedder.dim), np.float32), embedder.dim)
        library = cls(folder, embedder, store, dense, manifest, policy)
        library._persist()
        return library

    @staticmethod
    def _load_dense(folder: Path, store: Store, manifest: Manifest) -> DenseIndex:
        """dense.faiss if it is current; otherwise (a crash between the SQLite commit and
        the FAISS write, or a damaged file) rebuilt from the vectors SQLite holds."""
        path = folder / DENSE_NAME
        if manifest.dense_generation == store.generation() and path.exists():
            try:
                dense = DenseIndex.read(path)
                if dense.dim == manifest.dim and dense.size == store.total("passages"):
                    return dense
            except RuntimeError as error:
                log.warning("%s is unreadable (%s); rebuilding it from the store", path, error)
        log.info("Rebuilding %s from %s", path, STORE_NAME)
        return DenseIndex.from_vectors(*store.all_vectors(manifest.dim), manifest.dim)

    def _dense_from_store(self) -> DenseIndex:
        return DenseIndex.from_vectors(*self._store.all_vectors(self.embedder.dim),
                                       self.embedder.dim)

    def _persist(self) -> None:
        """dense.faiss then manifest.json, each replaced atomically."""
        generation = self._store.generation()
        if self._dense.needs_restructure():
            self._dense = self._dense_from_store()
        self._dense.write(self.folder / DENSE_NAME)
        manifest = self._manifest
        manifest.faiss_type = self._dense.kind
        manifest.articles = self._store.total("articles")
        manifest.passages = self._store.total("passages")
        manifest.updated_at = self._store.updated_at() or manifest.updated_at
        manifest.dense_generation = generation
        manifest.write(self.folder)

    def _refresh_if_stale(self) -> None:
        """Another process (the CLI beside a running bot) may have written: reload."""
        generation = self._store.generation()
        if generation == self._generation:
            return
        with self._refresh_lock:
            if generation != self._generation:
                self._dense = self._dense_from_store()
                self._generation = generation

    # -- writing ------------------------------------------------------------------------
    def add_articles(self, articles: Iterable[Article], *, guild_id: int | None = None,
                     progress: ProgressCallback | None = None) -> AddReport:
        """Add or update articles in one scope; unchanged content is not re-embedded."""
        return self._ingest(articles, guild_id=guild_id, origin="add", progress=progress)

    def build(self, articles: Iterable[Article], *,
              progress: ProgressCallback | None = None) -> AddReport:
        """Make the global built articles equal to `articles`: add, update, remove the rest.
        Articles added one by one (`add`) are kept."""
        return self._ingest(articles, guild_id=None, origin="build", progress=progress,
                            mirror=True)

    def _ingest(self, articles: Iterable[Article], *, guild_id: int | None, origin: str,
                progress: ProgressCallback | None, mirror: bool = False) -> AddReport:
        scope = scope_of(guild_id)
        with self._write_lock:
            self._refresh_if_stale()
            plan = plan_ingest(self._store, articles, scope=scope,
                               visible=visible_scopes(guild_id),
                               replace_origin=origin if mirror else None)
            total, done = plan.passage_count, 0
            if progress:
                progress(0, total)
            for batch in plan.batches():
                self._write_batch(batch, scope, origin)
                done += sum(len(planned.passages) for planned in batch)
                if progress:
                    progress(done, total)
            self._finish_plan(plan, scope, origin)
            return AddReport(
                added=[p.article_id for p in plan.to_embed if not p.replaces_existing],
                updated=[p.article_id for p in plan.to_embed if p.replaces_existing],
                unchanged=plan.unchanged, duplicates=plan.duplicates,
                removed=plan.to_remove, passages=total,
            )

    def _write_batch(self, batch: list[PlannedArticle], scope: str, origin: str) -> None:
        texts = [embedding_text(p.article.title, passage.text)
                 for p in batch for passage in p.passages]
        vectors = self.embedder.encode(texts)
        rows = iter(vectors)
        new_ids: list[int] = []
        with self._store.transaction() as db:
            stale_ids = Store.delete_passages_of(
                db, [p.article_id for p in batch if p.replaces_existing])
            for planned in batch:
                article = planned.article
                Store.upsert_article(db, planned.article_id, scope, origin, article.key,
                                     article.title, article.source, article.url, article.date,
                                     article.content_hash)
                new_ids += Store.insert_passages(db, planned.article_id, scope, article.title, [
                    NewPassage(passage.position, passage.text, next(rows))
                    for passage in planned.passages
                ])
            Store.bump_generation(db)
        self._dense.remove(stale_ids)
        self._dense.add(np.asarray(new_ids), vectors)
        self._generation = self._store.generation()

    def _finish_plan(self, plan: IngestPlan, scope: str, origin: str) -> None:
        if plan.metadata_only or plan.to_remove:
            with self._store.transaction() as db:
                for article_id, article in plan.metadata_only:
                    Store.upsert_article(db, article_id, scope, origin, article.key,
                                         article.title, article.source, article.url,
                                         article.date, article.content_hash)
                self._dense.remove(Store.delete_articles(db, plan.to_remove))
                Store.bump_generation(db)
            self._generation = self._store.generation()
        if self._manifest.dense_generation != self._store.generation():
            self._persist()

    def remove(self, article_id: str, *, guild_id: int | None = None) -> bool:
        """Remove an article. With guild_id, only that guild's own articles may be removed."""
        scopes = (GLOBAL_SCOPE,) if guild_id is None else (str(guild_id),)
        with self._write_lock:
            self._refresh_if_stale()
            if self._store.article_info(article_id, scopes) is None:
                return False
            with self._store.transaction() as db:
                self._dense.remove(Store.delete_articles(db, [article_id]))
                Store.bump_generation(db)
            self._generation = self._store.generation()
            self._persist()
            return True

    # -- reading ------------------------------------------------------------------------
    def _visible(self, scopes: tuple[str, ...]) -> _Visibility:
        """What these scopes see, worked out once per index generation, not per question."""
        cached = self._visibility.get(scopes)
        if cached is None or cached.generation != self._generation:
            ids = self._store.passage_ids_in(scopes)
            # No selector when every passage is visible: FAISS then searches unfiltered.
            selector = None if len(ids) == self._dense.size else DenseIndex.selector(ids)
            cached = _Visibility(self._generation, len(ids), selector)
            self._visibility[scopes] = cached
        return cached

    def _rankings(self, query: str, vector: np.ndarray | None, scopes: tuple[str, ...],
                  mode: SearchMode) -> list[list[tuple[int, float]]]:
        rankings = []
        selector = self._visible(scopes).selector
        if mode in ("dense", "hybrid") and vector is not None:
            rankings.append(self._dense.search(vector, CANDIDATE_POOL, selector))
        if mode in ("keyword", "hybrid"):
            match = fts_query(query)
            filter_scopes = None if selector is None else scopes
            rankings.append(
                self._store.keyword_search(match, filter_scopes, CANDIDATE_POOL) if match else [])
        return rankings

    def _search(self, query: str, vector: np.ndarray | None, guild_id: int | None, k: int,
                mode: SearchMode) -> list[Hit]:
        self._refresh_if_stale()
        scopes = visible_scopes(guild_id)
        if self._visible(scopes).passages == 0:
            raise EmptyIndexError(
                f"The index at {self.folder} holds no articles yet. Add some with "
                f"`python -m index build --corpus PATH` (or /library add in Discord)."
            )
        rankings = self._rankings(query, vector, scopes, mode)
        rows = self._store.passages([pid for ranking in rankings for pid, _ in ranking])
        articles = rank_articles(
            rankings, lambda pid: rows[pid].article_id if pid in rows else None)
        kept = drop_near_duplicates(articles, self._store.vectors, k)
        return [
            Hit(rank=rank, score=round(score, 6), article_id=rows[pid].article_id,
                title=rows[pid].title, source=rows[pid].source, url=rows[pid].url,
                date=rows[pid].date, passage=rows[pid].text, passage_id=pid)
            for rank, (pid, score) in enumerate(kept, start=1)
        ]

    def search(self, query: str, *, guild_id: int | None = None, k: int = 5,
               mode: SearchMode = "hybrid") -> list[Hit]:
        """The best passages, at most one per article, best first."""
        query = normalise_question(query)
        vector = self.embedder.encode([query])[0] if mode != "keyword" else None
        return self._search(query, vector, guild_id, k, mode)

    def ask(self, question: str, *, guild_id: int | None = None, k: int = 3) -> Answer:
        """A grounded answer: quoted sentences with citations, or abstained=True with the
        closest articles as hits. Raises QuestionError for an empty or overlong question."""
        question = normalise_question(question)
        vector = self.embedder.encode([question])[0]
        hits = self._search(question, vector, guild_id, k, "hybrid")
        evidence = (
            float(np.max(self._store.vectors([hit.passage_id for hit in hits]) @ vector))
            if hits else 0.0
        )
        return compose_answer(question, hits, evidence, self.policy)

    def get_article(self, article_id: str, *, guild_id: int | None = None) -> ArticleInfo | None:
        return self._store.article_info(article_id, visible_scopes(guild_id))

    def _listing_scopes(self, guild_id: int | None, own_only: bool) -> tuple[str, ...]:
        return (scope_of(guild_id),) if own_only else visible_scopes(guild_id)

    def list_articles(self, *, guild_id: int | None = None, own_only: bool = False,
                      offset: int = 0, limit: int = 10) -> list[ArticleInfo]:
        """Newest first. own_only: only the guild's own articles, not the global ones."""
        return self._store.list_articles(self._listing_scopes(guild_id, own_only),
                                         offset=offset, limit=limit)

    def count_articles(self, *, guild_id: int | None = None, own_only: bool = False) -> int:
        return self._store.count("articles", self._listing_scopes(guild_id, own_only))

    def info(self, *, guild_id: int | None = None) -> IndexInfo:
        """Counts are those visible from guild_id's scope."""
        scopes = visible_scopes(guild_id)
        manifest = self._manifest
        return IndexInfo(
            folder=str(self.folder), format_version=manifest.format_version,
            model_name=manifest.model_name, model_sha256=manifest.model_sha256,
            dim=manifest.dim, faiss_type=manifest.faiss_type,
            articles=self._store.count("articles", scopes),
            passages=self._store.count("passages", scopes),
            dense_vectors=self._dense.size,
            created_at=manifest.created_at,
            updated_at=self._store.updated_at() or manifest.updated_at,
        )

    # -- questions ----------------------------------------------------------------------
    def log_question(self, question: str, answer: Answer, *, guild_id: int | None,
                     user_id: int | None) -> int:
        """Store a question and whether it was answered; returns its id (for feedback)."""
        return self._store.log_question(scope_of(guild_id), user_id, question, answer.abstained)

    def record_feedback(self, question_id: int, *, user_id: int, vote: int) -> None:
        """vote is +1 or -1; a user's second vote on the same answer replaces the first."""
        if vote not in (-1, 1):
            raise ValueError(f"vote must be +1 or -1, not {vote}")
        if not self._store.question_exists(question_id):
            raise KeyError(f"no question {question_id}")
        self._store.record_feedback(question_id, user_id, vote)

    def question_stats(self, *, guild_id: int | None, top: int = 5) -> QuestionStats:
        return self._store.question_stats(scope_of(guild_id), top)

    def close(self) -> None:
        self._store.close()

