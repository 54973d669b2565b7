"""index/batching.py: questions that arrive together share one encode call, each caller gets
its own row, a failed call fails all its callers, and close() drains and joins.

Nothing here asserts timing: batches are made to merge by a gate that holds the first
model call (the others queue behind it) or by a batch size that a long wait cannot beat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from corpus.records import Article
from index.batching import BatcherClosedError, BatchingEmbedder, batching
from index.embedder import FakeEmbedder, backend_of
from index.library import Library

QUESTIONS = [f"why was celebrity number {n} in the news today?" for n in range(40)]
LONG_WAIT_MS = 60_000.0  # never reached in a test: batches here end by filling up


class RecordingEmbedder(FakeEmbedder):
    """The hashing embedder, recording each encode call's texts; `gate`, when given, holds
    every call until it is set (so the calls behind it queue up)."""

    def __init__(self, gate: threading.Event | None = None, fail: Exception | None = None,
                 rows: int | None = None) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self.gate = gate
        self.fail = fail
        self.rows = rows
        self.entered = threading.Event()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.fail is not None:
            raise self.fail
        vectors = super().encode(texts)
        return vectors if self.rows is None else vectors[: self.rows]


def in_threads(count: int, call: Callable[[int], object]) -> list[object]:
    """call(0..count-1) from `count` threads at once; results (or exceptions) in order."""
    def guarded(n: int) -> object:
        try:
            return call(n)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(guarded, range(count)))


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def batcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "embed-batcher"]


def test_concurrent_questions_share_one_encode_call_and_get_their_own_rows() -> None:
    inner = RecordingEmbedder()
    with BatchingEmbedder(inner, max_wait_ms=LONG_WAIT_MS, max_batch=10) as batcher:
        rows = in_threads(10, lambda n: batcher.encode([QUESTIONS[n]]))
    assert len(inner.calls) == 1 and sorted(inner.calls[0]) == sorted(QUESTIONS[:10])
    alone = FakeEmbedder()
    for n, row in enumerate(rows):
        assert isinstance(row, np.ndarray) and row.shape == (1, alone.dim)
        assert row.dtype == np.float32
        np.testing.assert_allclose(row, alone.encode([QUESTIONS[n]]), atol=1e-6)
    assert batcher.batches == 1


def test_a_burst_is_split_into_batches_of_at_most_max_batch() -> None:
    gate = threading.Event()
    inner = RecordingEmbedder(gate)
    batcher = BatchingEmbedder(inner, max_wait_ms=0, max_batch=10)
    with ThreadPoolExecutor(max_workers=25) as pool:
        first = pool.submit(batcher.encode, [QUESTIONS[0]])
        assert inner.entered.wait(30)  # the worker is inside the first call, alone
        rest = [pool.submit(batcher.encode, [QUESTIONS[n]]) for n in range(1, 25)]
        wait_until(lambda: batcher.pending == 24, "24 questions queued behind the first")
        gate.set()
        rows = [first.result(30)] + [future.result(30) for future in rest]
    batcher.close()
    assert [len(call) for call in inner.calls] == [1, 10, 10, 4]
    assert sorted(text for call in inner.calls for text in call) == sorted(QUESTIONS[:25])
    expected = FakeEmbedder().encode(QUESTIONS[:25])
    np.testing.assert_allclose(np.vstack(rows), expected, atol=1e-6)


def test_prefetched_questions_are_batched_together_and_taken_by_encode() -> None:
    """The bot prefetches a burst from its event loop: the model sees full batches even
    though one question thread then asks for the rows one by one."""
    gate = threading.Event()
    inner = RecordingEmbedder(gate)
    with BatchingEmbedder(inner, max_wait_ms=0, max_batch=8) as batcher:
        batcher.prefetch(QUESTIONS[0])
        assert inner.entered.wait(30)  # the first is in the model; the rest queue behind it
        for text in QUESTIONS[1:17]:
            batcher.prefetch(text)
        batcher.prefetch(QUESTIONS[3])  # asked twice before it is taken: queued once
        assert batcher.pending == 16
        gate.set()
        rows = [batcher.encode([text]) for text in QUESTIONS[:17]]
        assert [len(call) for call in inner.calls] == [1, 8, 8]
        np.testing.assert_allclose(np.vstack(rows), FakeEmbedder().encode(QUESTIONS[:17]),
                                   atol=1e-6)
        batcher.encode([QUESTIONS[3]])  # taken already: embedded again, not an old future
        assert len(inner.calls) == 4


def test_prefetched_rows_never_taken_are_forgotten_oldest_first(monkeypatch) -> None:
    monkeypatch.setattr("index.batching.MAX_PREFETCHED", 3)
    inner = RecordingEmbedder()
    with BatchingEmbedder(inner, max_wait_ms=0, max_batch=4) as batcher:
        for text in QUESTIONS[:4]:
            batcher.prefetch(text)
        wait_until(lambda: sum(len(call) for call in inner.calls) == 4, "four embedded")
        batcher.encode([QUESTIONS[3]])  # kept: no new call
        assert sum(len(call) for call in inner.calls) == 4
        batcher.encode([QUESTIONS[0]])  # the oldest was dropped: embedded again
        assert sum(len(call) for call in inner.calls) == 5


def test_embedded_hands_over_a_finished_prefetch_and_never_waits() -> None:
    gate = threading.Event()
    inner = RecordingEmbedder(gate)
    with BatchingEmbedder(inner, max_wait_ms=0, max_batch=4) as batcher:
        assert batcher.embedded(QUESTIONS[0]) is None  # never prefetched
        batcher.prefetch(QUESTIONS[0])
        assert inner.entered.wait(30)
        assert batcher.embedded(QUESTIONS[0]) is None  # still in the model: not waited for
        gate.set()
        wait_until(lambda: batcher.batches == 1, "the prefetch embedded")
        vector = batcher.embedded(QUESTIONS[0])
        assert vector is not None and vector.shape == (FakeEmbedder().dim,)
        np.testing.assert_allclose(vector, FakeEmbedder().encode([QUESTIONS[0]])[0], atol=1e-6)
        assert batcher.embedded(QUESTIONS[0]) is None  # taken
        assert len(inner.calls) == 1


def test_embedded_leaves_a_failed_prefetch_for_encode_to_raise() -> None:
    inner = RecordingEmbedder(fail=RuntimeError("model crashed"))
    with BatchingEmbedder(inner, max_wait_ms=0, max_batch=4) as batcher:
        batcher.prefetch(QUESTIONS[0])
        wait_until(lambda: batcher.batches == 1, "the prefetch tried")
        assert batcher.embedded(QUESTIONS[0]) is None
        with pytest.raises(RuntimeError, match="model crashed"):
            batcher.encode([QUESTIONS[0]])


def test_prefetch_with_batching_off_does_nothing() -> None:
    inner = RecordingEmbedder()
    batcher = BatchingEmbedder(inner, max_wait_ms=0, max_batch=1)
    batcher.prefetch(QUESTIONS[0])
    assert inner.calls == [] and batcher_threads() == []
    batcher.close()


def test_big_calls_go_straight_through_in_the_callers_thread() -> None:
    inner = RecordingEmbedder()
    batcher = BatchingEmbedder(inner, max_wait_ms=LONG_WAIT_MS, max_batch=4)
    passages = QUESTIONS[:30]
    vectors = batcher.encode(passages)
    assert inner.calls == [passages]
    assert inner.threads == {threading.current_thread().name}
    np.testing.assert_allclose(vectors, FakeEmbedder().encode(passages), atol=1e-6)
    assert batcher.encode([]).shape == (0, inner.dim)
    assert batcher.batches == 0 and batcher_threads() == []  # no question, no worker
    batcher.close()


def test_an_error_in_the_batch_reaches_every_caller_and_the_batcher_carries_on() -> None:
    inner = RecordingEmbedder(fail=RuntimeError("the model fell over"))
    with BatchingEmbedder(inner, max_wait_ms=LONG_WAIT_MS, max_batch=5) as batcher:
        outcomes = in_threads(5, lambda n: batcher.encode([QUESTIONS[n]]))
        assert len(inner.calls) == 1
        assert all(isinstance(o, RuntimeError) and "fell over" in str(o) for o in outcomes)
        inner.fail = None
        again = in_threads(5, lambda n: batcher.encode([QUESTIONS[n]]))
        assert all(isinstance(row, np.ndarray) for row in again)


def test_a_wrong_number_of_rows_is_an_error_for_every_caller() -> None:
    with BatchingEmbedder(RecordingEmbedder(rows=2), max_wait_ms=LONG_WAIT_MS,
                          max_batch=3) as batcher:
        outcomes = in_threads(3, lambda n: batcher.encode([QUESTIONS[n]]))
    assert all(isinstance(o, ValueError) and "2 rows for 3 texts" in str(o) for o in outcomes)


def test_close_embeds_what_was_queued_refuses_the_rest_and_joins_its_thread() -> None:
    gate = threading.Event()
    inner = RecordingEmbedder(gate)
    batcher = BatchingEmbedder(inner, max_wait_ms=0, max_batch=8)
    with ThreadPoolExecutor(max_workers=5) as pool:
        queued = [pool.submit(batcher.encode, [QUESTIONS[n]]) for n in range(4)]
        assert inner.entered.wait(30)
        wait_until(lambda: batcher.pending + sum(len(c) for c in inner.calls) == 4,
                   "all four questions handed over")
        closing = pool.submit(batcher.close)
        wait_until(lambda: batcher.closed, "close() to start")
        with pytest.raises(BatcherClosedError):
            batcher.encode([QUESTIONS[5]])
        with pytest.raises(BatcherClosedError):  # big calls too: the embedder is closed
            batcher.encode(QUESTIONS[:10])
        gate.set()
        closing.result(30)
        rows = [future.result(30) for future in queued]
    assert all(row.shape == (1, inner.dim) for row in rows)
    assert sum(len(call) for call in inner.calls) == 4  # the queue was drained, not dropped
    assert batcher_threads() == []


def test_a_batcher_never_asked_closes_without_a_thread() -> None:
    batcher = BatchingEmbedder(FakeEmbedder())
    batcher.close()
    batcher.close()  # twice is fine
    assert batcher_threads() == []


def test_it_is_the_embedder_it_wraps_to_a_library(tmp_path: Path) -> None:
    inner = FakeEmbedder()
    batcher = BatchingEmbedder(inner, max_wait_ms=1, max_batch=8)
    assert (batcher.name, batcher.dim, batcher.fingerprint) == (
        inner.name, inner.dim, inner.fingerprint)
    assert backend_of(batcher) == backend_of(inner) == "fake"
    article = Article(title="Kim Kardashian criticized over Japan trip",
                      text="Fans criticized Kim Kardashian for taking only North to Japan.",
                      source="kim.txt")
    plain = Library.open(tmp_path / "plain", inner, create=True)
    batched = Library.open(tmp_path / "batched", batcher, create=True)
    try:
        for library in (plain, batched):
            library.build([article])
        questions = ["why was Kim criticized?", "where did Kim go?", "who went to Japan?"]
        answers = in_threads(3, lambda n: batched.ask(questions[n]))
        assert answers == [plain.ask(question) for question in questions]
    finally:
        plain.close()
        batched.close()
        batcher.close()
    # An index built through the batcher opens with the bare embedder: same vectors.
    Library.open(tmp_path / "batched", inner).close()


def test_batching_off_is_the_embedder_itself() -> None:
    inner = FakeEmbedder()
    assert batching(inner, max_batch=1) is inner
    wrapped = batching(inner, max_batch=4, max_wait_ms=3)
    assert isinstance(wrapped, BatchingEmbedder)
    assert (wrapped.max_batch, wrapped.max_wait) == (4, 0.003)
    with pytest.raises(ValueError):
        BatchingEmbedder(inner, max_batch=0)


@pytest.mark.model
def test_batched_rows_match_the_real_model_one_question_at_a_time(real_embedder) -> None:
    """Padding a short question beside a long one changes nothing beyond float rounding."""
    texts = ["why was Kim criticized?", "met gala",
             "what did North West say about her mother after the Met Gala this year, and "
             "why did so many fans on social media take her side over Kim's?",
             "where did Kim Kardashian go on vacation with her daughter?"]
    with BatchingEmbedder(real_embedder, max_wait_ms=LONG_WAIT_MS,
                          max_batch=len(texts)) as batcher:
        rows = in_threads(len(texts), lambda n: batcher.encode([texts[n]]))
        assert batcher.batches == 1
    for text, row in zip(texts, rows, strict=True):
        np.testing.assert_allclose(row, real_embedder.encode([text]), atol=2e-5)
