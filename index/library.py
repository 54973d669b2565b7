"""The index's public face: open a library, add and remove articles, search, ask.

All methods are plain blocking code, safe to call from several threads (the bot calls
them through `asyncio.to_thread`). Writes are serialised; readers never see a
half-written index.

Where the articles live is a `Storage` (index/storage.py): the embedded folder (SQLite +
FAISS, the default) or PostgreSQL (`SPOTLIGHT_DATABASE_URL`); `open_library` picks one.

Scope: `guild_id=None` means the operator's global articles only; `guild_id=G` means
global articles plus G's own, never another guild's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from corpus import split_sentences
from corpus.records import Article, Passage
from index.answerability import Answerability
from index.answerers.extractive import ExtractiveAnswerer
from index.batching import BatchingEmbedder
from index.config import LibraryConfig
from index.embedded import EmbeddedStorage
from index.embedder import Embedder
from index.errors import EmptyIndexError, IndexMismatchError
from index.ingest import PlannedArticle, embedding_text, plan_ingest
from index.parts import Answerer, Query
from index.pipeline import Pipeline
from index.question import normalise_question
from index.ranking import ReciprocalRankFusion
from index.records import (
    GLOBAL_SCOPE,
    ArticleWrite,
    NewPassage,
    locate_sentences,
    scope_of,
    visible_scopes,
)
from index.rerankers import RecencyReranker
from index.results import AddReport, Answer, ArticleInfo, Hit, IndexInfo, QuestionStats
from index.spans import LEGACY_KIND, SentenceVectors, supports_spans
from index.storage import Storage

__all__ = ["Library", "SearchMode", "default_answerer", "normalise_question", "open_library"]

SearchMode = Literal["hybrid", "dense", "keyword"]
# A passage to embed: its article, itself and its sentences.
LaidOut = tuple[PlannedArticle, Passage, list[str]]
ProgressCallback = Callable[[int, int], None]
# Passages whose sentence signals `fill_signals` stores per transaction: short enough
# that a writer beside it (the bot adding articles) waits little.
SIGNALS_BATCH = 500


def default_answerer(config: LibraryConfig, answerability: Answerability,
                     sentence_vectors: SentenceVectors = LEGACY_KIND) -> Answerer:
    """The extractive answerer (with the weights fitted for the index's kind of sentence
    vectors), or the LLM one (falling back to it) when configured."""
    extractive = ExtractiveAnswerer.for_kind(sentence_vectors)
    if config.llm is None:
        return extractive
    from index.answerers.llm import LLMAnswerer  # imports httpx only when configured

    return LLMAnswerer(config.llm, fallback=extractive, answerability=answerability)


def open_library(config: LibraryConfig, embedder: Embedder, *, folder: Path,
                 create: bool = False) -> Library:
    """The library on the configured backend: PostgreSQL when `config.database_url` is
    set, else the embedded index in `folder`. (With PostgreSQL, `folder` still holds
    what is kept beside the library on this machine, such as the model cache.)

    Raises IndexMissingError (unless create=True), IndexMismatchError (another model or
    dim), DatabaseUnavailableError and SchemaVersionError (PostgreSQL)."""
    if config.database_url is None:
        return Library(EmbeddedStorage.open(folder, embedder, create=create,
                                            keyword_engine=config.keyword_engine),
                       embedder, config, folder=Path(folder))
    from index.pg.storage import PgStorage  # psycopg only when configured

    storage = PgStorage.open(config.database_url, embedder, create=create)
    return Library(storage, embedder, config, folder=Path(folder))


class Library:
    def __init__(self, storage: Storage, embedder: Embedder, config: LibraryConfig, *,
                 folder: Path) -> None:
        self.storage = storage
        self.folder = folder
        self.embedder = embedder
        self.config = config
        # Sentence vectors encoded alone or pooled in their passage score differently, so
        # the answerer and answerability take the weights fitted on the index's kind.
        answerability = Answerability.for_kind(storage.sentence_vectors)
        self.pipeline = Pipeline(
            storage.passages, embedder.dim,
            retrievers=storage.retrievers(),
            fusion=ReciprocalRankFusion(),
            answerer=default_answerer(config, answerability, storage.sentence_vectors),
            answerability=answerability,
            reranker=RecencyReranker(),  # "latest", "this week": newer articles first
        )

    @property
    def database(self):  # -> index.pg.database.Database | None (psycopg imported lazily)
        """The PostgreSQL pool the library uses, for state kept beside it; None when
        embedded."""
        return self.storage.database

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False,
             config: LibraryConfig | None = None,
             sentence_vectors: SentenceVectors | None = None) -> Library:
        """Open an embedded index folder. Raises IndexMissingError (unless create=True)
        and IndexMismatchError (other model, dim or a newer format version, or
        `sentence_vectors` asked for and not the index's). An index of the previous format
        is upgraded in place. A new index gets `sentence_vectors`, else
        SPOTLIGHT_SENTENCE_VECTORS, else the default (index/spans.py); an existing one
        keeps its own."""
        config = config or LibraryConfig()
        storage = EmbeddedStorage.open(Path(folder), embedder, create=create,
                                       sentence_vectors=sentence_vectors,
                                       keyword_engine=config.keyword_engine)
        return cls(storage, embedder, config, folder=Path(folder))

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
        with self.storage.writing():
            # Planned inside the lock: another writer's passages are already stored.
            plan = plan_ingest(self.storage.catalog, articles, scope=scope,
                               visible=visible_scopes(guild_id),
                               replace_origin=origin if mirror else None,
                               keep_sources=keep_sources)
            total, done = plan.passage_count, 0
            if progress:
                progress(0, total)
            for batch in plan.batches():
                self.storage.write([
                    ArticleWrite(planned.article_id, scope, origin, planned.article, passages)
                    for planned, passages in zip(batch, self._embed(batch), strict=True)])
                done += sum(len(planned.passages) for planned in batch)
                if progress:
                    progress(done, total)
            if plan.metadata_only or plan.to_remove:
                self.storage.write(
                    [ArticleWrite(article_id, scope, origin, article, None)
                     for article_id, article in plan.metadata_only],
                    removed=plan.to_remove)
            self.storage.flush()
            return AddReport(
                added=[p.article_id for p in plan.to_embed if not p.replaces_existing],
                updated=[p.article_id for p in plan.to_embed if p.replaces_existing],
                unchanged=plan.unchanged, duplicates=plan.duplicates,
                removed=plan.to_remove, passages=total,
            )

    def _embed(self, batch: list[PlannedArticle]) -> list[list[NewPassage]]:
        """Passages and their sentences' vectors, as the index's kind makes them."""
        laid_out = [
            (planned, passage, list(passage.sentences) or split_sentences(passage.text))
            for planned in batch for passage in planned.passages
        ]
        if self.storage.sentence_vectors == "pooled":
            made = self._embed_pooled(laid_out)
        else:
            made = self._embed_encoded(laid_out)
        embedded: dict[str, list[NewPassage]] = {planned.article_id: [] for planned in batch}
        for (planned, _, _), passage in zip(laid_out, made, strict=True):
            embedded[planned.article_id].append(passage)
        return [embedded[planned.article_id] for planned in batch]

    def _embed_encoded(self, laid_out: list[LaidOut]) -> list[NewPassage]:
        """Each passage and each of its sentences through the model, in one call (the
        model sorts by length)."""
        texts: list[str] = []
        for planned, passage, sentences in laid_out:
            texts.append(embedding_text(planned.article.title, passage.text))
            texts.extend(sentences)
        vectors = self.embedder.encode(texts)
        made: list[NewPassage] = []
        at = 0
        for _, passage, sentences in laid_out:
            found = locate_sentences(passage.text, sentences)
            made.append(NewPassage(
                passage.position, passage.text, vectors[at],
                [(start, end) for _, start, end in found],
                vectors[[at + 1 + index for index, _, _ in found]]))
            at += 1 + len(sentences)
        return made

    def _embed_pooled(self, laid_out: list[LaidOut]) -> list[NewPassage]:
        """Each passage through the model once; its sentences' vectors pooled from its
        token embeddings (index/spans.py): about half the model work of encoding them."""
        if not supports_spans(self.embedder):
            raise IndexMismatchError(
                f"The index at {self.storage.location} pools sentence vectors from passages, "
                f"which {type(self.embedder).__name__} cannot do; adding to it with encoded "
                f"sentence vectors would mix the two. Use a Spotlight embedder (torch, "
                f"onnx-fp32, onnx-int8).")
        texts, spans, located = [], [], []
        for planned, passage, sentences in laid_out:
            found = locate_sentences(passage.text, sentences)
            # The passage follows the title and a newline in the text the model reads.
            shift = len(embedding_text(planned.article.title, ""))
            texts.append(embedding_text(planned.article.title, passage.text))
            spans.append([(shift + start, shift + end) for _, start, end in found])
            located.append([(start, end) for _, start, end in found])
        vectors = self.embedder.encode_with_spans(texts, spans)
        return [NewPassage(passage.position, passage.text, vectors.texts[row], located[row],
                           vectors.spans[row])
                for row, (_, passage, _) in enumerate(laid_out)]

    def remove(self, article_id: str, *, guild_id: int | None = None) -> bool:
        """Remove an article. With guild_id, only that guild's own articles may be removed."""
        scopes = (GLOBAL_SCOPE,) if guild_id is None else (str(guild_id),)
        with self.storage.writing():
            if self.storage.catalog.article_info(article_id, scopes) is None:
                return False
            self.storage.write(removed=[article_id])
            self.storage.flush()
            return True

    def signals_missing(self) -> bool:
        """Whether `fill_signals` has passages to do (a library stored by an earlier
        version; one row read)."""
        return self.storage.signals_missing()

    def fill_signals(self) -> Iterator[int]:
        """Stores the sentence signals of passages stored before they were kept (or by
        other rules): answers are the same, a new question's ~1 ms quicker. Yields the
        passages done so far; the bot may keep answering and adding meanwhile."""
        return self.storage.fill_signals(SIGNALS_BATCH)

    # -- reading ------------------------------------------------------------------------
    def query(self, question: str, guild_id: int | None = None, *, embed: bool = True) -> Query:
        """The question validated, embedded and scoped: what the pipeline's parts take."""
        text = normalise_question(question, self.config.max_question_chars)
        self.storage.refresh()
        scopes = visible_scopes(guild_id)
        if not self.storage.catalog.has_passages_in(scopes):
            raise EmptyIndexError(
                f"The index at {self.storage.location} holds no articles yet. Add some with "
                f"`python -m index build --corpus PATH` (or /library add in Discord)."
            )
        vector = self._embed_question(text) if embed else np.zeros(self.embedder.dim, np.float32)
        return Query(text, vector, scopes)

    def search(self, query: str, *, guild_id: int | None = None, k: int = 5,
               mode: SearchMode = "hybrid") -> list[Hit]:
        """The best passages, at most one per article, best first."""
        asked = self.query(query, guild_id, embed=False)
        embed = None if mode == "keyword" else self._embed_question
        with self.storage.reading():
            retrieved = self.pipeline.retrieve(asked, k, only=None if mode == "hybrid" else mode,
                                               embed=embed)
        return [passage.hit for passage in retrieved.passages]

    def ask(self, question: str, *, guild_id: int | None = None, k: int = 3) -> Answer:
        """A grounded answer: quoted sentences with citations, or abstained=True with the
        closest articles as hits. Raises QuestionError for an empty or overlong question
        (a `Question` validated at the edge is not validated again)."""
        asked = self.query(question, guild_id, embed=False)
        ready = (self.embedder.embedded(asked.text)
                 if isinstance(self.embedder, BatchingEmbedder) else None)
        with self.storage.reading():
            if ready is not None:  # embedded already (a burst): nothing to overlap with it
                return self.pipeline.ask(replace(asked, vector=ready), k)
            # Embedded inside: the keyword side runs meanwhile.
            return self.pipeline.ask(asked, k, embed=self._embed_question)

    def _embed_question(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]

    def get_article(self, article_id: str, *, guild_id: int | None = None) -> ArticleInfo | None:
        return self.storage.catalog.article_info(article_id, visible_scopes(guild_id))

    def _listing_scopes(self, guild_id: int | None, own_only: bool) -> tuple[str, ...]:
        return (scope_of(guild_id),) if own_only else visible_scopes(guild_id)

    def list_articles(self, *, guild_id: int | None = None, own_only: bool = False,
                      offset: int = 0, limit: int = 10) -> list[ArticleInfo]:
        """Newest first. own_only: only the guild's own articles, not the global ones."""
        return self.storage.catalog.list_articles(self._listing_scopes(guild_id, own_only),
                                                  offset=offset, limit=limit)

    def count_articles(self, *, guild_id: int | None = None, own_only: bool = False) -> int:
        return self.storage.catalog.count("articles", self._listing_scopes(guild_id, own_only))

    def info(self, *, guild_id: int | None = None) -> IndexInfo:
        """Counts are those visible from guild_id's scope."""
        scopes = visible_scopes(guild_id)
        made = self.storage.describe()
        return IndexInfo(
            folder=made.location, format_version=made.format_version,
            model_name=made.model_name, model_sha256=made.model_sha256,
            dim=made.dim, faiss_type=made.index_type,
            articles=self.storage.catalog.count("articles", scopes),
            passages=self.storage.catalog.count("passages", scopes),
            dense_vectors=made.dense_vectors,
            created_at=made.created_at, updated_at=made.updated_at,
        )

    # -- questions ----------------------------------------------------------------------
    def log_question(self, question: str, answer: Answer, *, guild_id: int | None,
                     user_id: int | None) -> int:
        """Store a question and whether it was answered; returns its id (for feedback)."""
        return self.storage.questions.log_question(scope_of(guild_id), user_id, question,
                                                   answer.abstained)

    def record_feedback(self, question_id: int, *, user_id: int, vote: int) -> None:
        """vote is +1 or -1; a user's second vote on the same answer replaces the first."""
        if vote not in (-1, 1):
            raise ValueError(f"vote must be +1 or -1, not {vote}")
        if not self.storage.questions.question_exists(question_id):
            raise KeyError(f"no question {question_id}")
        self.storage.questions.record_feedback(question_id, user_id, vote)

    def question_stats(self, *, guild_id: int | None, top: int = 5) -> QuestionStats:
        return self.storage.questions.question_stats(scope_of(guild_id), top)

    def close(self) -> None:
        self.pipeline.close()
        close_answerer = getattr(self.pipeline.answerer, "close", None)
        if close_answerer is not None:  # the LLM answerer's HTTP client and threads
            close_answerer()
        self.storage.close()
