"""The keyword side runs while the question is embedded (index/pipeline.py `_Ahead`): the
same answers as one after the other, on another thread, and on the asking thread when
every worker is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from corpus.records import Article
from index.batching import BatchingEmbedder
from index.embedder import FakeEmbedder
from index.library import Library
from index.parts import Query, Ranking
from index.pipeline import _Ahead, _Ranked

STORIES = [
    Article(title="Volcano erupts", text="The volcano erupted at dawn. Villagers fled the ash.",
            source="volcano.txt"),
    Article(title="Chef wins award", text="The chef won the golden spoon for her ramen. "
            "Critics praised the rich broth and the handmade noodles.", source="chef.txt"),
    Article(title="Singer tours", text="The singer announced a world tour starting in Lisbon, "
            "after the volcano ash cleared.", source="tour.txt"),
]
QUESTIONS = ["Why did villagers flee the volcano?", "What did the chef win?",
             "Where does the singer's tour start?", "ash ramen Lisbon"]


class WaitingEmbedder(FakeEmbedder):
    """Embeds a question only once the keyword side has started: an ask that ran them one
    after the other would wait here for good (bounded by a timeout, then noted)."""

    def __init__(self) -> None:
        super().__init__()
        self.keyword_started = threading.Event()
        self.waited_in_vain = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in QUESTIONS:
            self.waited_in_vain |= not self.keyword_started.wait(timeout=5)
        return super().encode(texts)


class Recording:
    """Wraps a retriever: which thread ran it."""

    def __init__(self, inner, started: threading.Event) -> None:
        self.inner, self.started = inner, started
        self.name, self.needs_vector = inner.name, inner.needs_vector
        self.threads: list[str] = []

    def retrieve(self, query: Query, k: int) -> Ranking:
        self.threads.append(threading.current_thread().name)
        self.started.set()
        return self.inner.retrieve(query, k)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    opened = Library.open(tmp_path / "index", WaitingEmbedder(), create=True)
    opened.embedder.keyword_started.set()  # building embeds without waiting
    opened.build(STORIES)
    yield opened
    opened.close()


def test_keyword_runs_on_another_thread_while_the_question_is_embedded(
        library: Library) -> None:
    embedder = library.embedder
    keyword = Recording(library.pipeline.retrievers["keyword"], embedder.keyword_started)
    library.pipeline.retrievers["keyword"] = keyword
    ask_threads = []
    for question in QUESTIONS:
        embedder.keyword_started.clear()
        overlapped = library.ask(question)
        ask_threads.append(keyword.threads[-1])
        # The same question, embedded first and then retrieved one retriever after another.
        embedder.keyword_started.set()
        query = library.query(question)
        alone = library.pipeline.retrieve(query, 3)
        assert [h.passage_id for h in overlapped.hits] == [p.hit.passage_id
                                                           for p in alone.passages]
        assert overlapped.hits == library.search(question, k=3)
    assert not embedder.waited_in_vain
    assert all(name.startswith("spotlight-ahead") for name in ask_threads)


def test_the_embedded_query_reaches_the_answerer(library: Library) -> None:
    query = library.query(QUESTIONS[0], embed=False)
    retrieved = library.pipeline.retrieve(query, 3, embed=library._embed_question)
    assert np.array_equal(retrieved.query.vector, library.embedder.encode([QUESTIONS[0]])[0])


def test_an_error_on_the_keyword_side_reaches_the_asker(library: Library) -> None:
    class Broken:
        name, needs_vector = "keyword", False

        def retrieve(self, query: Query, k: int) -> Ranking:
            raise RuntimeError("disk gone")

    library.pipeline.retrievers["keyword"] = Broken()
    with pytest.raises(RuntimeError, match="disk gone"):
        library.ask(QUESTIONS[0])


def test_work_no_worker_picked_up_runs_on_the_asking_thread() -> None:
    ahead = _Ahead(1)
    release = threading.Event()
    busy = ahead.start(lambda: (release.wait(5), _Ranked({}, {}))[1])
    waiting = ahead.start(lambda: _Ranked({"from": []}, {}))
    ran_on: list[str] = []

    def inline() -> _Ranked:
        ran_on.append(threading.current_thread().name)
        return _Ranked({"inline": []}, {})

    assert _Ahead.finish(waiting, inline).rankings == {"inline": []}
    assert ran_on == [threading.current_thread().name]
    release.set()
    assert isinstance(busy, Future) and busy.result(timeout=5).rankings == {}
    ahead.close()


class VectorRecording:
    """Wraps a retriever: on which thread it ran and whether its query held a real vector
    (the pipeline hands the retrievers it runs ahead a placeholder of zeros)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.needs_vector = inner.name, inner.needs_vector
        self.calls: list[tuple[str, bool]] = []

    def retrieve(self, query: Query, k: int) -> Ranking:
        self.calls.append((threading.current_thread().name, bool(np.any(query.vector))))
        return self.inner.retrieve(query, k)


def test_a_question_embedded_already_is_answered_without_running_ahead(tmp_path: Path) -> None:
    """In a burst the bot prefetched the question and its batch ran before a question
    thread got to it: nothing is left to overlap, so nothing is handed to another thread."""
    with BatchingEmbedder(FakeEmbedder(), max_wait_ms=0, max_batch=4) as batcher:
        library = Library.open(tmp_path / "index", batcher, create=True)
        library.build(STORIES)
        keyword = VectorRecording(library.pipeline.retrievers["keyword"])
        library.pipeline.retrievers["keyword"] = keyword
        try:
            overlapped = library.ask(QUESTIONS[0])
            assert keyword.calls[-1][1] is False  # ran ahead, beside the embedding
            batcher.prefetch(QUESTIONS[0])
            deadline = time.monotonic() + 30
            while batcher.pending or batcher.batches < 2:
                assert time.monotonic() < deadline, "the prefetch was never embedded"
                time.sleep(0.001)
            ready = library.ask(QUESTIONS[0])
            assert keyword.calls[-1] == (threading.current_thread().name, True)
            assert ready == overlapped
            assert batcher.embedded(QUESTIONS[0]) is None  # the ask took the prefetched row
        finally:
            library.close()
