"""The answering path, composed from its parts (index/parts.py) by `Library`.

retrieve (each retriever, within the asker's scopes) -> fuse into articles -> drop
near-copies -> rerank (optional) -> evidence (sentences, question terms) -> answerer ->
answerability (answer, or abstain listing the closest articles).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from corpus import split_sentences
from index.answerability import Answerability
from index.parts import (
    Answerer,
    Evidence,
    EvidencePassage,
    EvidenceSentence,
    Fusion,
    Query,
    Ranking,
    Reranker,
    Retriever,
)
from index.ranking import drop_near_duplicates
from index.records import EvidenceRow, PassageRow
from index.results import Answer, Hit
from index.signals import QuestionTerms, read_stored_signals
from index.storage import PassageSource
from index.terms import content_words

# How many passages each retriever hands to fusion: deep enough that an article ranked
# well by one method alone still reaches the top after fusion.
CANDIDATE_POOL = 50
# Near-copies are looked for among this many times the articles asked for.
DUPLICATE_SEARCH_FACTOR = 4
AGREEMENT_DEPTH = 5
# Threads that run the retrievers needing no vector while the question is embedded: the
# machine's cores. When all are busy the asking thread runs them itself (see _Ahead).
AHEAD_WORKERS = 2

Embed = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class Retrieved:
    passages: list[EvidencePassage]  # best article first, one passage each
    rankings: dict[str, Ranking]
    articles_of: dict[int, str]  # passage id -> article id, for what the rankings hold
    query: Query  # embedded, when the pipeline embedded it


@dataclass(frozen=True)
class _Ranked:
    rankings: dict[str, Ranking]
    articles_of: dict[int, str]


class _Ahead:
    """Work started on another thread while the asking thread embeds the question (the
    model and SQLite both release the GIL). Work no thread has picked up by the time it
    is needed is taken back and run by the asker: under a burst of questions it never
    waits in a queue behind other questions' work."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="spotlight-ahead")

    def start(self, work: Callable[[], _Ranked]) -> Future[_Ranked]:
        return self._pool.submit(work)

    @staticmethod
    def finish(started: Future[_Ranked], work: Callable[[], _Ranked]) -> _Ranked:
        return work() if started.cancel() else started.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _TermStatistics:
    """Document frequencies of question words within a scope, cached per generation:
    a name like "kim" is asked about again and again."""

    def __init__(self, store: PassageSource) -> None:
        self._store = store
        self._generation = -1
        self._cache: dict[tuple[tuple[str, ...], str], int] = {}
        self._lock = threading.Lock()

    def frequency_function(self, scopes: tuple[str, ...]) -> Callable[[str], int]:
        generation = self._store.generation()
        with self._lock:
            if generation != self._generation:
                self._cache, self._generation = {}, generation
        cache = self._cache

        def frequency(word: str) -> int:
            key = (scopes, word)
            if key not in cache:
                cache[key] = self._store.document_frequency(word, scopes)
            return cache[key]

        return frequency

    def warm(self, text: str, scopes: tuple[str, ...]) -> None:
        """Count what `QuestionTerms.of` will ask for, off the asking thread."""
        frequency = self.frequency_function(scopes)
        for word in content_words(text):
            frequency(word)
        self.documents(scopes)

    def documents(self, scopes: tuple[str, ...]) -> int:
        key = (scopes, "\x00count")
        if key not in self._cache:
            self._cache[key] = self._store.count("passages", scopes)
        return self._cache[key]


def _hit(rank: int, score: float, row: PassageRow) -> Hit:
    return Hit(rank=rank, score=round(score, 6), article_id=row.article_id, title=row.title,
               source=row.source, url=row.url, date=row.date, passage=row.text,
               passage_id=row.id)


def _evidence_passage(rank: int, score: float, row: EvidenceRow) -> EvidencePassage:
    text = row.passage.text
    spans, matrix = row.sentence_spans, row.sentence_vectors
    if matrix is not None and len(spans) == len(matrix):
        stored = read_stored_signals(row.sentence_signals, len(spans)) or [None] * len(spans)
        sentences = [
            EvidenceSentence(text[start:end], order, vector, signals)
            for order, ((start, end), vector, signals) in enumerate(
                zip(spans, matrix, stored, strict=True))
        ]
    else:
        sentences = [EvidenceSentence(sentence, order, None)
                     for order, sentence in enumerate(split_sentences(text))]
        matrix = None
    return EvidencePassage(_hit(rank, score, row.passage), row.vector, row.passage.position,
                           sentences, matrix)


class Pipeline:
    def __init__(self, store: PassageSource, dim: int, retrievers: Sequence[Retriever],
                 fusion: Fusion, answerer: Answerer, answerability: Answerability,
                 reranker: Reranker | None = None) -> None:
        self._store = store
        self._dim = dim
        self.retrievers = {retriever.name: retriever for retriever in retrievers}
        self.fusion = fusion
        self.answerer = answerer
        self.answerability = answerability
        self.reranker = reranker
        self._statistics = _TermStatistics(store)
        self._ahead = _Ahead(AHEAD_WORKERS)

    def retrieve(self, query: Query, k: int, only: str | None = None,
                 embed: Embed | None = None) -> Retrieved:
        """The best passages, one per article, near-copies dropped; `only` names one
        retriever (a search mode) instead of all. With `embed`, the question is embedded
        here (`query.vector` is a placeholder) while the retrievers that need no vector
        already run; `Retrieved.query` is then the embedded query."""
        retrievers = [self.retrievers[only]] if only else list(self.retrievers.values())
        ahead = [r for r in retrievers if embed is not None and not r.needs_vector]
        early = query  # its vector is a placeholder: the retrievers run ahead never read it

        def run_ahead() -> _Ranked:
            ranked = self._rank(ahead, early, {})
            self._statistics.warm(early.text, early.scopes)  # for evidence(), later
            return ranked

        started = self._ahead.start(run_ahead) if ahead else None
        if embed is not None:
            query = replace(query, vector=embed(query.text))
        known = _Ahead.finish(started, run_ahead) if started else _Ranked({}, {})
        ranked = self._rank([r for r in retrievers if r not in ahead], query,
                            known.articles_of)
        rankings = {r.name: (known if r in ahead else ranked).rankings[r.name]
                    for r in retrievers}
        articles_of = known.articles_of | ranked.articles_of
        fused = self.fusion.fuse(list(rankings.values()), articles_of.get)
        candidates = fused[: DUPLICATE_SEARCH_FACTOR * k]
        scores = dict(candidates)
        # Near-copies are dropped by vector alone; only the passages kept are read whole
        # (their text and sentences: most of a row).
        vectors = self._store.passage_vectors(list(scores), query.scopes)
        present = [pid for pid in scores if pid in vectors]
        if not present:
            return Retrieved([], rankings, articles_of, query)
        kept = drop_near_duplicates(np.vstack([vectors[pid] for pid in present]), k)
        # A passage removed between the two reads is left out: fewer than k, never a gap.
        evidence_rows = self._store.evidence([present[row] for row in kept], query.scopes,
                                             self._dim)
        passages = [_evidence_passage(rank, scores[row.passage.id], row)
                    for rank, row in enumerate(evidence_rows, start=1)]
        if self.reranker is not None:
            passages = self.reranker.rerank(query, passages)
        return Retrieved(passages, rankings, articles_of, query)

    def _rank(self, retrievers: Sequence[Retriever], query: Query,
              known: dict[int, str]) -> _Ranked:
        """Each retriever's candidates and the articles of those not `known` already."""
        rankings = {r.name: r.retrieve(query, CANDIDATE_POOL) for r in retrievers}
        wanted = {pid for ranking in rankings.values() for pid, _ in ranking} - known.keys()
        return _Ranked(rankings, self._store.articles_of(list(wanted), query.scopes))

    def evidence(self, query: Query, retrieved: Retrieved) -> Evidence:
        passages = retrieved.passages
        frequency = self._statistics.frequency_function(query.scopes)
        terms = QuestionTerms.of(
            query.text, frequency, self._statistics.documents(query.scopes),
            [f"{p.hit.title}\n{p.hit.passage}" for p in passages])
        return Evidence(passages, terms, self._agreement(retrieved))

    @staticmethod
    def _agreement(retrieved: Retrieved) -> float:
        if not retrieved.passages or not retrieved.rankings:
            return 0.0
        top = retrieved.passages[0].hit.article_id
        agreeing = sum(
            top in {retrieved.articles_of.get(pid) for pid, _ in ranking[:AGREEMENT_DEPTH]}
            for ranking in retrieved.rankings.values())
        return agreeing / len(retrieved.rankings)

    def ask(self, query: Query, k: int, embed: Embed | None = None) -> Answer:
        """`embed`: as in `retrieve`."""
        retrieved = self.retrieve(query, k, embed=embed)
        query = retrieved.query
        hits = [passage.hit for passage in retrieved.passages]
        if not hits:
            return Answer(question=query.text, abstained=True)
        evidence = self.evidence(query, retrieved)
        draft = self.answerer.answer(query, evidence)
        judgement = self.answerability.judge(query, evidence, draft)
        best = float(judgement.features[1])
        if not judgement.answerable:
            return Answer(question=query.text, abstained=True, hits=hits, evidence=best,
                          confidence=judgement.probability)
        return replace(draft.answer, hits=hits, evidence=best,
                       confidence=judgement.probability)

    def close(self) -> None:
        self._ahead.close()
