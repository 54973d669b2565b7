"""What `Library` needs from where articles live, as small protocols.

Two backends implement `Storage`: the embedded one (index/embedded.py: SQLite + FAISS
files in one folder, one machine) and PostgreSQL (index/pg/storage.py: pgvector and
full-text search in a database several processes share). A third is a new module, not
an edit of `Library`.

    ArticleCatalog  what ingest plans from, and what listing shows
    PassageSource   what the answering pipeline reads (index/pipeline.py)
    QuestionLog     questions asked and the 👍/👎 they got
    Storage         the three, plus writing, the retrievers and a description
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from index.parts import Retriever
from index.records import ArticleWrite, EvidenceRow, PassageRow, StoredArticle
from index.results import ArticleInfo, QuestionStats
from index.spans import SentenceVectors

if TYPE_CHECKING:
    from index.pg.database import Database

Table = Literal["articles", "passages"]


class ArticleCatalog(Protocol):
    def stored_articles(self, scope: str) -> dict[str, StoredArticle]:
        """By key, the articles of one scope."""
        ...

    def article_with_hash(self, content_hash: str, scopes: Sequence[str]) -> str | None: ...

    def article_info(self, article_id: str, scopes: Sequence[str]) -> ArticleInfo | None: ...

    def list_articles(self, scopes: Sequence[str], *, offset: int,
                      limit: int) -> list[ArticleInfo]:
        """Newest first."""
        ...

    def count(self, table: Table, scopes: Sequence[str]) -> int: ...

    def has_passages_in(self, scopes: Sequence[str]) -> bool: ...


class PassageSource(Protocol):
    def generation(self) -> int:
        """Changes with every committed write (caches of counts key on it)."""
        ...

    def passages(self, passage_ids: Sequence[int],
                 scopes: Sequence[str]) -> dict[int, PassageRow]:
        """By id, those of the passages that still exist within `scopes`."""
        ...

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]:
        """Passage id -> article id, for those still existing within `scopes`: all that
        fusion needs of the candidates, without their text."""
        ...

    def passage_vectors(self, passage_ids: Sequence[int],
                        scopes: Sequence[str]) -> dict[int, np.ndarray]:
        """Passage id -> vector, for those still existing within `scopes`: what dropping
        near-copies reads of every candidate, without their text and sentences."""
        ...

    def evidence(self, passage_ids: Sequence[int], scopes: Sequence[str],
                 dim: int) -> list[EvidenceRow]:
        """The passages with their vectors, in the order asked, those gone or outside
        `scopes` left out."""
        ...

    def document_frequency(self, word: str, scopes: Sequence[str]) -> int:
        """Passages in `scopes` holding the word (stemmed as keyword search stems)."""
        ...

    def count(self, table: Table, scopes: Sequence[str]) -> int: ...


class QuestionLog(Protocol):
    def log_question(self, scope: str, user_id: int | None, question: str,
                     abstained: bool) -> int: ...

    def record_feedback(self, question_id: int, user_id: int, vote: int) -> None: ...

    def question_exists(self, question_id: int) -> bool: ...

    def question_stats(self, scope: str, top: int) -> QuestionStats: ...


@dataclass(frozen=True)
class StorageInfo:
    """How a library was made and what its vector index is (IndexInfo's scope-free half)."""

    location: str  # a folder, or a database URL without its password
    format_version: int
    model_name: str
    model_sha256: str
    dim: int
    index_type: str  # "IDMap2,Flat(IP)", "IVF…", "pgvector HNSW …"
    dense_vectors: int  # all scopes
    created_at: str
    updated_at: str


class Storage(Protocol):
    location: str
    catalog: ArticleCatalog
    passages: PassageSource
    questions: QuestionLog

    @property
    def sentence_vectors(self) -> SentenceVectors:
        """How the stored sentence vectors were made (index/spans.py): fixed per library."""
        ...

    @property
    def database(self) -> Database | None:
        """The PostgreSQL pool this library uses (others may share it), or None."""
        ...

    def retrievers(self) -> list[Retriever]:
        """Dense first, then keyword: each searches within a query's scopes."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Held around planning and writing: one writer at a time, across threads and
        processes, so two writers never plan from the same state."""
        ...

    def write(self, articles: Sequence[ArticleWrite] = (), removed: Sequence[str] = ()) -> None:
        """One transaction: all of it is visible to every reader at once, or none of it."""
        ...

    def signals_missing(self) -> bool:
        """Whether passages were stored without the sentence signals kept now (a library
        stored by an earlier version): `fill_signals` adds them."""
        ...

    def fill_signals(self, batch: int) -> Iterator[int]:
        """Stores the sentence signals of passages stored without them (or by other rules),
        `batch` passages a transaction, beside other writers; yields the count so far."""
        ...

    def flush(self) -> None:
        """After a run of writes: whatever the backend keeps beside its store (files)."""
        ...

    def refresh(self) -> None:
        """Before a read: catch up with what another process wrote."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """Around the reads that answer one question (a backend may hold one connection
        for all of them)."""
        ...

    def describe(self) -> StorageInfo: ...

    def close(self) -> None: ...
