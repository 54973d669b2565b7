"""Questions that arrive together are embedded together.

`BatchingEmbedder` wraps any Embedder. A call with exactly one text (a question:
`Library.query` embeds `[text]`) joins a queue; one worker thread takes what is queued,
waiting at most `max_wait_ms` after the oldest text arrived for more to join (or until
`max_batch` texts are queued), makes one `encode` call for all of them and hands each
caller its own row. While that call runs, new questions queue up and form the next batch,
so a burst is embedded in a few model calls instead of one per question, and a lone
question pays at most `max_wait_ms`. Any other call (an ingest batch, no text at all) goes
straight to the wrapped embedder, in the caller's thread.

`prefetch(text)` queues a question without waiting for it: the bot calls it as a question
arrives, on the event loop, so a burst reaches the queue together instead of a few at a
time through the question threads (at most `ask_workers` of them), and the later
`encode([text])` from a question thread takes the prefetched row. Prefetched rows never
taken (the question failed before it was asked) are forgotten oldest first.
`embedded(text)` hands over a prefetched row whose batch already ran, without waiting:
the asker then has nothing to overlap with the embedding and can skip doing so.

An exception from the batch's `encode` reaches every caller of that batch. `close()`
refuses new calls, lets the worker finish the texts already queued, and joins it. The
worker starts at the first question, so a batcher never asked anything owns no thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from index.embedder import Embedder

DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_WAIT_MS = 2.0
# Prefetched questions kept until asked: far more than a burst, small in memory.
MAX_PREFETCHED = 1024


class BatcherClosedError(RuntimeError):
    """encode() on a BatchingEmbedder after close()."""


@dataclass
class _Request:
    text: str
    arrived: float
    result: Future = field(default_factory=Future)


class BatchingEmbedder:
    """The Embedder protocol over `embedder`, gathering concurrent single-text calls into
    one `encode` call (see the module docstring). Thread-safe; use as a context manager or
    call close()."""

    def __init__(self, embedder: Embedder, *, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be 1 or more")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be 0 or more")
        self.inner = embedder
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: list[_Request] = []
        self._ready = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None
        self._prefetched: OrderedDict[str, Future] = OrderedDict()
        self.batches = 0  # encode calls made for queued questions (for tests and benchmarks)

    # -- the Embedder protocol, and whatever else the wrapped embedder offers -------------
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def backend(self) -> str:
        return str(getattr(self.inner, "backend", "torch"))

    def __getattr__(self, name: str):
        # Only reached for attributes not found above (token_lengths, model_path, ...).
        if name == "inner":  # not set yet: __init__ failed or unpickling
            raise AttributeError(name)
        return getattr(self.inner, name)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._closed:
            raise BatcherClosedError("the embedder was closed")
        if len(texts) != 1 or self.max_batch == 1:
            return self.inner.encode(texts)
        with self._ready:
            prefetched = self._prefetched.pop(texts[0], None)
        return (prefetched or self._submit(texts[0])).result()

    def prefetch(self, text: str) -> None:
        """Start embedding a question that `encode([text])` will ask for soon; never blocks
        on the model."""
        if self.max_batch == 1:
            return
        with self._ready:
            if text in self._prefetched:
                return
        future = self._submit(text)
        with self._ready:
            self._prefetched[text] = future
            while len(self._prefetched) > MAX_PREFETCHED:
                self._prefetched.popitem(last=False)

    def embedded(self, text: str) -> np.ndarray | None:
        """The vector of a prefetched `text` if its batch already ran (taken, like
        `encode` takes it), else None: never waits, never queues."""
        with self._ready:
            prefetched = self._prefetched.get(text)
            if prefetched is None or not prefetched.done() or prefetched.exception():
                return None
            del self._prefetched[text]
        return prefetched.result()[0]

    # -- lifecycle ------------------------------------------------------------------------
    def close(self, timeout: float | None = None) -> None:
        """Refuse new calls; the questions already queued are still embedded. Waits up to
        `timeout` seconds (None: as long as it takes) for the worker to finish."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Questions queued and not yet handed to the model."""
        with self._ready:
            return len(self._queue)

    def __enter__(self) -> BatchingEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the queue ------------------------------------------------------------------------
    def _submit(self, text: str) -> Future:
        request = _Request(text, time.monotonic())
        with self._ready:
            if self._closed:
                raise BatcherClosedError("the embedder was closed")
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="embed-batcher",
                                                daemon=True)
                self._worker.start()
            self._queue.append(request)
            # The worker sleeps on an empty queue, or waits for a batch to fill up.
            if len(self._queue) == 1 or len(self._queue) >= self.max_batch:
                self._ready.notify()
        return request.result

    def _next_batch(self) -> list[_Request]:
        """Blocks until there is work; [] once closed and drained."""
        with self._ready:
            while not self._queue and not self._closed:
                self._ready.wait()
            if self._queue and not self._closed:
                deadline = self._queue[0].arrived + self.max_wait
                while len(self._queue) < self.max_batch and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._ready.wait(remaining)
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
            return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            self._embed(batch)

    def _embed(self, batch: list[_Request]) -> None:
        try:
            vectors = np.asarray(self.inner.encode([request.text for request in batch]))
            if vectors.shape[0] != len(batch):
                raise ValueError(f"the embedder returned {vectors.shape[0]} rows for "
                                 f"{len(batch)} texts")
        except BaseException as error:  # every caller of the batch sees it
            for request in batch:
                request.result.set_exception(error)
            return
        finally:
            self.batches += 1
        for row, request in enumerate(batch):
            request.result.set_result(vectors[row:row + 1].copy())


def batching(embedder: Embedder, *, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
             max_batch: int = DEFAULT_MAX_BATCH) -> Embedder:
    """`embedder` behind a BatchingEmbedder, or as it is when max_batch is 1 (batching off)."""
    if max_batch <= 1:
        return embedder
    return BatchingEmbedder(embedder, max_wait_ms=max_wait_ms, max_batch=max_batch)
