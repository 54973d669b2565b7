"""Moving a library between backends without re-embedding: `python -m index export`.

    export --index DIR --to postgresql://…     the embedded folder into an empty database
    export --from postgresql://… --index DIR   a database's library into a new folder

Articles, passages (text, vectors, sentence spans and vectors, scope), questions and
feedback are copied as they are, ids included, in one transaction on the receiving side:
an export that fails or is killed leaves the target as it was. Each side reads from one
snapshot, so writes made meanwhile are either all in the copy or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Protocol, TypeVar

import numpy as np

from index.errors import TransferError
from index.records import ModelInfo

BATCH = 1_000  # rows read and written at a time: memory stays flat at any size
R = TypeVar("R")


@dataclass(frozen=True)
class ArticleRecord:
    id: str
    scope: str
    key: str
    origin: str
    title: str
    source: str
    url: str | None
    date: str | None
    content_hash: str
    added_at: str
    updated_at: str


@dataclass(frozen=True)
class PassageRecord:
    id: int
    article_id: str
    scope: str
    position: int
    title: str  # the article's, as the keyword index holds it
    text: str
    vector: np.ndarray  # float32
    sentence_spans: list[tuple[int, int]]
    sentence_vectors: bytes | None  # float16, as stored


@dataclass(frozen=True)
class QuestionRecord:
    id: int
    scope: str
    user_id: int | None
    question: str
    abstained: bool
    asked_at: str


@dataclass(frozen=True)
class FeedbackRecord:
    question_id: int
    user_id: int
    vote: int
    voted_at: str


def columns(record: type) -> str:
    """A record's fields, as the column list both backends' tables name them by."""
    return ", ".join(field.name for field in fields(record))


ARTICLE_COLUMNS = columns(ArticleRecord)
QUESTION_COLUMNS = columns(QuestionRecord)
FEEDBACK_COLUMNS = columns(FeedbackRecord)


@dataclass(frozen=True)
class Counts:
    articles: int
    passages: int
    questions: int
    feedback: int

    def __str__(self) -> str:
        return (f"{self.articles} articles, {self.passages} passages, {self.questions} "
                f"questions, {self.feedback} votes")


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of a library, read in batches."""

    model: ModelInfo
    created_at: str
    counts: Counts
    articles: Iterator[list[ArticleRecord]]
    passages: Iterator[list[PassageRecord]]
    questions: Iterator[list[QuestionRecord]]
    feedback: Iterator[list[FeedbackRecord]]


class LibrarySource(Protocol):
    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """Open for as long as its iterators are read."""
        ...


class LibraryTarget(Protocol):
    def load(self, snapshot: Snapshot) -> Counts:
        """Everything in one transaction, committed only when the target then holds
        `snapshot.counts` (else `check_counts` raises and nothing is kept)."""
        ...


# A query's rows, in batches: how each backend is read (from one snapshot).
Read = Callable[[str], Iterator[list[tuple]]]


def count_rows(read: Read) -> Counts:
    return Counts(*(int(next(iter(read(f"SELECT count(*) FROM {table}")))[0][0])
                    for table in ("articles", "passages", "questions", "feedback")))


def _records(read: Read, query: str, record: Callable[[tuple], R]) -> Iterator[list[R]]:
    for rows in read(query):
        yield [record(row) for row in rows]


def read_snapshot(read: Read, *, model: ModelInfo, created_at: str, passages: str,
                  passage: Callable[[tuple], PassageRecord]) -> Snapshot:
    """A library's rows as records; `passages` selects PassageRecord's fields, which
    `passage` makes a record of."""
    return Snapshot(
        model=model, created_at=created_at, counts=count_rows(read),
        articles=_records(read, f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY id",
                          lambda row: ArticleRecord(*row)),
        passages=_records(read, passages, passage),
        questions=_records(read, f"SELECT {QUESTION_COLUMNS} FROM questions ORDER BY id",
                           lambda row: QuestionRecord(*row[:4], bool(row[4]), row[5])),
        feedback=_records(read, f"SELECT {FEEDBACK_COLUMNS} FROM feedback "
                                "ORDER BY question_id, user_id",
                          lambda row: FeedbackRecord(*row)),
    )


def check_counts(copied: Counts, expected: Counts) -> None:
    if copied != expected:
        raise TransferError(f"The copy would hold {copied}, the source holds {expected}; "
                            "nothing was kept.")


def copy_library(source: LibrarySource, target: LibraryTarget) -> Counts:
    with source.snapshot() as snapshot:
        return target.load(snapshot)
