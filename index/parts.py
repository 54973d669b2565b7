"""The answering path's parts and the records they pass along.

`Library` composes a pipeline from these protocols (see index/pipeline.py), so a new
retriever, fusion, reranker or answerer is a new class in a new file, not an edit of
`Library`:

    question -> Query -> Retriever* -> Fusion -> near-copy suppression -> Reranker?
             -> Evidence (sentences of the top passages) -> Answerer -> Answerability
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index.results import Answer, Hit
from index.signals import QuestionTerms, SentenceSignals, sentence_signals

Ranking = list[tuple[int, float]]  # (passage id, score), best first


@dataclass(frozen=True)
class Query:
    """A validated question, embedded once, and what its asker may see."""

    text: str
    vector: np.ndarray
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class EvidenceSentence:
    """One sentence of a retrieved passage; `vector` is None for passages stored before
    sentence vectors existed (their meaning signal falls back to the passage's)."""

    text: str
    order: int  # within its passage
    vector: np.ndarray | None
    stored: SentenceSignals | None = None  # as stored at ingest, when they were

    @property
    def signals(self) -> SentenceSignals:
        return self.stored if self.stored is not None else sentence_signals(self.text)


@dataclass(frozen=True)
class EvidencePassage:
    hit: Hit
    vector: np.ndarray  # the passage's own (title + text) vector
    position: int  # of the passage within its article: 0 is the lede
    sentences: list[EvidenceSentence]
    # The sentences' vectors as one matrix (row i: sentences[i].vector), as the store
    # keeps them, when it has them: the answerer's cosines need no restacking.
    sentence_vectors: np.ndarray | None = None


@dataclass(frozen=True)
class Evidence:
    """What the answerer may quote, best article first, plus what retrieval said about it."""

    passages: list[EvidencePassage]
    terms: QuestionTerms
    # Share of retrievers that rank the top article among their own top five.
    agreement: float = 0.0

    @property
    def hits(self) -> list[Hit]:
        return [passage.hit for passage in self.passages]


@dataclass(frozen=True)
class Draft:
    """An answerer's answer before answerability decides whether to show it."""

    answer: Answer
    confidence: float  # in [0, 1]: how sure the answerer is that its lead answers


class Retriever(Protocol):
    name: str
    # False: ranks from the question's text alone, so the pipeline runs it while the
    # question is being embedded (its `query.vector` is then a placeholder).
    needs_vector: bool

    def retrieve(self, query: Query, k: int) -> Ranking:
        """At most k passages visible in query.scopes, best first."""
        ...


class Fusion(Protocol):
    def fuse(self, rankings: Sequence[Ranking],
             article_of: Callable[[int], str | None]) -> Ranking:
        """One (passage id, score) per article, best article first."""
        ...


class Reranker(Protocol):
    def rerank(self, query: Query, passages: list[EvidencePassage]) -> list[EvidencePassage]:
        ...


class Answerer(Protocol):
    name: str

    def answer(self, query: Query, evidence: Evidence) -> Draft:
        ...
