"""The index's public face: open a folder, add and remove articles, search, ask.

All methods are plain blocking code, safe to call from several threads (the bot calls
them through `asyncio.to_thread`). Writes are serialised by one lock; readers never see
a half-written index.

Scope: `guild_id=None` means the operator's global articles only; `guild_id=G` means
global articles plus G's own, never another guild's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import FileLock

from corpus import split_sentences
from corpus.records import Article
from index.answerability import Answerability
from index.answerers.extractive import ExtractiveAnswerer
from index.config import LibraryConfig
from index.embedder import Embedder, backend_of
from index.errors import EmptyIndexError, IndexMissingError
from index.ingest import IngestPlan, PlannedArticle, embedding_text, plan_ingest
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest
from index.parts import Answerer, Query
from index.pipeline import Pipeline
from index.question import normalise_question
from index.ranking import ReciprocalRankFusion
from index.rerankers import RecencyReranker
from index.results import AddReport, Answer, ArticleInfo, Hit, IndexInfo, QuestionStats
from index.retrievers import DenseRetriever, KeywordRetriever
from index.store import (
    GLOBAL_SCOPE,
    NewPassage,
    Store,
    locate_sentences,
    scope_of,
    utc_now,
    visible_scopes,
)
from index.vectors import FaissVectors

SearchMode = Literal["hybrid", "dense", "keyword"]
ProgressCallback = Callable[[int, int], None]
STORE_NAME = "store.sqlite"
# Held by whichever process writes, so two writers (the bot's start-up sync beside a CLI
# add) never plan from the same state and store the same passages twice.
WRITE_LOCK_NAME = "write.lock"
UPGRADE_BATCH = 256

log = logging.getLogger(__name__)


def default_answerer(config: LibraryConfig, answerability: Answerability) -> Answerer:
    """The extractive answerer, or the LLM one (falling back to it) when configured."""
    extractive = ExtractiveAnswerer()
    if config.llm is None:
        return extractive
    from index.answerers.llm import LLMAnswerer  # imports httpx only when configured

    return LLMAnswerer(config.llm, fallback=extractive, answerability=answerability)


class Library:
    def __init__(self, folder: Path, embedder: Embedder, store: Store, vectors: FaissVectors,
                 manifest: Manifest, config: LibraryConfig) -> None:
        self.folder = folder
        self.embedder = embedder
        self.config = config
        self._store = store
        self._vectors = vectors
        self._manifest = manifest
        self._write_lock = threading.Lock()
        self._process_lock = FileLock(str(folder / WRITE_LOCK_NAME))
        answerability = Answerability()
        self.pipeline = Pipeline(
            store, embedder.dim,
            retrievers=[DenseRetriever(vectors), KeywordRetriever(store)],
            fusion=ReciprocalRankFusion(),
            answerer=default_answerer(config, answerability),
            answerability=answerability,
            reranker=RecencyReranker(),  # "latest", "this week": newer articles first
        )

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False,
             config: LibraryConfig | None = None) -> Library:
        """Open an index folder. Raises IndexMissingError (unless create=True) and
        IndexMismatchError (other model, dim or a newer format version). An index of the
        previous format is upgraded in place."""
        folder = Path(folder)
        config = config or LibraryConfig()
        if not (folder / MANIFEST_NAME).exists():
            if not create:
                raise IndexMissingError(
                    f"No index at {folder}. Build one first: "
                    f"`python -m index build --corpus PATH --index {folder}`."
                )
            return cls._create(folder, embedder, config)
        manifest = Manifest.read(folder)
        manifest.check_compatible(folder, embedder.name, embedder.fingerprint, embedder.dim,
                                  backend=backend_of(embedder))
        store = Store(folder / STORE_NAME)
        vectors = FaissVectors.load(folder, store, manifest.dim, manifest.dense_generation)
        library = cls(folder, embedder, store, vectors, manifest, config)
        if manifest.format_version < FORMAT_VERSION:
            library._upgrade()
        return library

    @classmethod
    def _create(cls, folder: Path, embedder: Embedder, config: LibraryConfig) -> Library:
        folder.mkdir(parents=True, exist_ok=True)
        now = utc_now()
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_name=embedder.name,
            model_sha256=embedder.fingerprint, dim=embedder.dim, faiss_type="IDMap2,Flat(IP)",
            articles=0, passages=0, created_at=now, updated_at=now, dense_generation=0,
            embedding_backend=backend_of(embedder),
        )
        store = Store(folder / STORE_NAME)
        vectors = FaissVectors.load(folder, store, embedder.dim, -1)  # nothing on disk yet
        library = cls(folder, embedder, store, vectors, manifest, config)
        library._persist()
        return library

    def _upgrade(self) -> None:
        """Format 1 stored no sentence vectors: embed the stored passages' sentences."""
        with self._writing():
            done = 0
            while batch := self._store.passages_without_sentences(UPGRADE_BATCH):
                sentences = [split_sentences(text) for _, text in batch]
                vectors = self.embedder.encode([s for group in sentences for s in group])
                at = 0
                with self._store.transaction() as db:
                    for (passage_id, text), group in zip(batch, sentences, strict=True):
                        found = locate_sentences(text, group)
                        Store.set_sentences(db, passage_id,
                                            [(start, end) for _, start, end in found],
                                            vectors[[at + index for index, _, _ in found]])
                        at += len(group)
                done += len(batch)
                log.info("Upgrading %s: sentence vectors for %d passages", self.folder, done)
            self._manifest.format_version = FORMAT_VERSION
            self._persist()

    def _persist(self, *, force: bool = False) -> None:
        """dense.faiss (when enough changed, or `force`) then manifest.json, each replaced
        atomically."""
        self._vectors.restructure_if_needed()
        self._vectors.write(force=force)
        manifest = self._manifest
        manifest.faiss_type = self._vectors.kind
        manifest.articles = self._store.total("articles")
        manifest.passages = self._store.total("passages")
        manifest.updated_at = self._store.updated_at() or manifest.updated_at
        manifest.dense_generation = self._vectors.written_at
        manifest.write(self.folder)

    def _refresh_if_stale(self) -> None:
        """Another process (the CLI beside a running bot) may have written: reload. While
        this process writes, its writer keeps FAISS in step itself, so a reader never
        swaps the index under it."""
        if self._store.generation() == self._vectors.generation:
            return
        if not self._write_lock.acquire(blocking=False):
            return
        try:
            if self._store.generation() != self._vectors.generation:
                self._vectors.sync()
        finally:
            self._write_lock.release()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """This process's write lock and the folder's, then FAISS brought up to date with
        whatever another process wrote before."""
        with self._write_lock, self._process_lock:
            if self._store.generation() != self._vectors.generation:
                self._vectors.sync()
            yield

    # -- writing ------------------------------------------------------------------------
    def add_articles(self, articles: Iterable[Article], *, guild_id: int | None = None,
                     progress: ProgressCallback | None = None) -> AddReport:
        """Add or update articles in one scope; unchanged content is not re-embedded."""
        return self._ingest(articles, guild_id=guild_id, origin="add", progress=progress)

    def build(self, articles: Iterable[Article], *, keep_sources: Iterable[str] = (),
              progress: ProgressCallback | None = None) -> AddReport:
        """Make the global built articles equal to `articles`: add, update, remove the rest,
        except articles from `keep_sources` (files that exist but could not be read this
        time). Articles added one by one (`add`) are kept."""
        return self._ingest(articles, guild_id=None, origin="build", progress=progress,
                            mirror=True, keep_sources=frozenset(keep_sources))

    def _ingest(self, articles: Iterable[Article], *, guild_id: int | None, origin: str,
                progress: ProgressCallback | None, mirror: bool = False,
                keep_sources: frozenset[str] = frozenset()) -> AddReport:
        scope = scope_of(guild_id)
        articles = list(articles)
        with self._writing():
            # Planned inside the lock: another writer's passages are already in the store.
            plan = plan_ingest(self._store, articles, scope=scope,
                               visible=visible_scopes(guild_id),
                               replace_origin=origin if mirror else None,
                               keep_sources=keep_sources)
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

    def _embed(self, batch: list[PlannedArticle]) -> list[list[NewPassage]]:
        """Passages and their sentences, embedded in one call (the model sorts by length)."""
        laid_out = [
            (planned, passage, list(passage.sentences) or split_sentences(passage.text))
            for planned in batch for passage in planned.passages
        ]
        texts: list[str] = []
        for planned, passage, sentences in laid_out:
            texts.append(embedding_text(planned.article.title, passage.text))
            texts.extend(sentences)
        vectors = self.embedder.encode(texts)
        embedded: dict[str, list[NewPassage]] = {planned.article_id: [] for planned in batch}
        at = 0
        for planned, passage, sentences in laid_out:
            found = locate_sentences(passage.text, sentences)
            sentence_vectors = vectors[[at + 1 + index for index, _, _ in found]]
            embedded[planned.article_id].append(NewPassage(
                passage.position, passage.text, vectors[at],
                [(start, end) for _, start, end in found], sentence_vectors))
            at += 1 + len(sentences)
        return [embedded[planned.article_id] for planned in batch]

    def _write_batch(self, batch: list[PlannedArticle], scope: str, origin: str) -> None:
        embedded = self._embed(batch)
        generation_before = self._store.generation()
        new_ids: list[int] = []
        with self._store.transaction() as db:
            stale_ids = Store.delete_passages_of(
                db, [p.article_id for p in batch if p.replaces_existing])
            for planned, passages in zip(batch, embedded, strict=True):
                article = planned.article
                Store.upsert_article(db, planned.article_id, scope, origin, article.key,
                                     article.title, article.source, article.url, article.date,
                                     article.content_hash)
                new_ids += Store.insert_passages(db, planned.article_id, scope, article.title,
                                                 passages)
            Store.bump_generation(db)
        vectors = np.vstack([p.vector for group in embedded for p in group])
        self._vectors.apply(stale_ids, np.asarray(new_ids), vectors, generation_before,
                            self._store.generation())

    def _finish_plan(self, plan: IngestPlan, scope: str, origin: str) -> None:
        if plan.metadata_only or plan.to_remove:
            generation_before = self._store.generation()
            with self._store.transaction() as db:
                for article_id, article in plan.metadata_only:
                    Store.upsert_article(db, article_id, scope, origin, article.key,
                                         article.title, article.source, article.url,
                                         article.date, article.content_hash)
                removed = Store.delete_articles(db, plan.to_remove)
                Store.bump_generation(db)
            self._apply_removal(removed, generation_before)
        self._persist()

    def _apply_removal(self, removed: list[int], generation_before: int) -> None:
        self._vectors.apply(removed, np.zeros(0, dtype=np.int64),
                            np.zeros((0, self.embedder.dim), np.float32), generation_before,
                            self._store.generation())

    def remove(self, article_id: str, *, guild_id: int | None = None) -> bool:
        """Remove an article. With guild_id, only that guild's own articles may be removed."""
        scopes = (GLOBAL_SCOPE,) if guild_id is None else (str(guild_id),)
        with self._writing():
            if self._store.article_info(article_id, scopes) is None:
                return False
            generation_before = self._store.generation()
            with self._store.transaction() as db:
                removed = Store.delete_articles(db, [article_id])
                Store.bump_generation(db)
            self._apply_removal(removed, generation_before)
            self._persist()
            return True

    # -- reading ------------------------------------------------------------------------
    def query(self, question: str, guild_id: int | None = None, *, embed: bool = True) -> Query:
        """The question validated, embedded and scoped: what the pipeline's parts take."""
        text = normalise_question(question, self.config.max_question_chars)
        self._refresh_if_stale()
        scopes = visible_scopes(guild_id)
        if not self._store.has_passages_in(scopes):
            raise EmptyIndexError(
                f"The index at {self.folder} holds no articles yet. Add some with "
                f"`python -m index build --corpus PATH` (or /library add in Discord)."
            )
        vector = (self.embedder.encode([text])[0] if embed
                  else np.zeros(self.embedder.dim, np.float32))
        return Query(text, vector, scopes)

    def search(self, query: str, *, guild_id: int | None = None, k: int = 5,
               mode: SearchMode = "hybrid") -> list[Hit]:
        """The best passages, at most one per article, best first."""
        asked = self.query(query, guild_id, embed=mode != "keyword")
        retrieved = self.pipeline.retrieve(asked, k, only=None if mode == "hybrid" else mode)
        return [passage.hit for passage in retrieved.passages]

    def ask(self, question: str, *, guild_id: int | None = None, k: int = 3) -> Answer:
        """A grounded answer: quoted sentences with citations, or abstained=True with the
        closest articles as hits. Raises QuestionError for an empty or overlong question
        (a `Question` validated at the edge is not validated again)."""
        return self.pipeline.ask(self.query(question, guild_id), k)

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
            dense_vectors=self._vectors.size,
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
        if self._vectors.has_unwritten_changes:
            with self._writing():  # the next open then has nothing to catch up
                self._persist(force=True)
        close_answerer = getattr(self.pipeline.answerer, "close", None)
        if close_answerer is not None:  # the LLM answerer's HTTP client and threads
            close_answerer()
        self._store.close()

