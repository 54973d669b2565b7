"""The embedded backend: one folder on one machine (the default).

    manifest.json  how the index was made (model, dim, FAISS type, counts)
    store.sqlite   articles, passages and their vectors, FTS5, questions (the truth)
    dense.faiss    FAISS over the passage vectors: a cache, rebuilt from SQLite if stale
    write.lock     held by the one process writing

Writes are serialised by a thread lock and the folder's file lock; readers never see a
half-written index (SQLite WAL, FAISS swapped per committed generation).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import numpy as np
from filelock import FileLock

from corpus import split_sentences
from index.embedder import Embedder, backend_of
from index.errors import IndexMissingError
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest
from index.parts import Retriever
from index.records import ArticleWrite, ModelInfo, locate_sentences, utc_now
from index.retrievers import DenseRetriever, KeywordRetriever
from index.storage import StorageInfo
from index.store import Store
from index.vectors import FaissVectors

STORE_NAME = "store.sqlite"
# Held by whichever process writes, so two writers (the bot's start-up sync beside a CLI
# add) never plan from the same state and store the same passages twice.
WRITE_LOCK_NAME = "write.lock"
UPGRADE_BATCH = 256

log = logging.getLogger(__name__)


class EmbeddedStorage:
    database = None

    def __init__(self, folder: Path, store: Store, vectors: FaissVectors,
                 manifest: Manifest) -> None:
        self.folder = folder
        self.location = str(folder)
        self.store = store
        self.catalog = self.passages = self.questions = store
        self._vectors = vectors
        self._manifest = manifest
        self._write_lock = threading.Lock()
        self._process_lock = FileLock(str(folder / WRITE_LOCK_NAME))

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False) -> EmbeddedStorage:
        """Raises IndexMissingError (unless create=True) and IndexMismatchError (other
        model, dim or a newer format version). An index of the previous format is
        upgraded in place."""
        folder = Path(folder)
        if not (folder / MANIFEST_NAME).exists():
            if not create:
                raise IndexMissingError(
                    f"No index at {folder}. Build one first: "
                    f"`python -m index build --corpus PATH --index {folder}`."
                )
            return cls.create(folder, ModelInfo.of(embedder))
        manifest = Manifest.read(folder)
        manifest.check_compatible(folder, embedder.name, embedder.fingerprint, embedder.dim,
                                  backend=backend_of(embedder))
        store = Store(folder / STORE_NAME)
        vectors = FaissVectors.load(folder, store, manifest.dim, manifest.dense_generation)
        storage = cls(folder, store, vectors, manifest)
        if manifest.format_version < FORMAT_VERSION:
            storage._upgrade(embedder)
        return storage

    @classmethod
    def create(cls, folder: Path, model: ModelInfo) -> EmbeddedStorage:
        """An empty index in `folder` for vectors of `model`."""
        folder.mkdir(parents=True, exist_ok=True)
        now = utc_now()
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_name=model.name,
            model_sha256=model.fingerprint, dim=model.dim, faiss_type="IDMap2,Flat(IP)",
            articles=0, passages=0, created_at=now, updated_at=now, dense_generation=0,
            embedding_backend=model.backend,
        )
        store = Store(folder / STORE_NAME)
        vectors = FaissVectors.load(folder, store, model.dim, -1)  # nothing on disk yet
        storage = cls(folder, store, vectors, manifest)
        storage._persist()
        return storage

    def _upgrade(self, embedder: Embedder) -> None:
        """Format 1 stored no sentence vectors: embed the stored passages' sentences."""
        with self.writing():
            done = 0
            while batch := self.store.passages_without_sentences(UPGRADE_BATCH):
                sentences = [split_sentences(text) for _, text in batch]
                vectors = embedder.encode([s for group in sentences for s in group])
                at = 0
                with self.store.transaction() as db:
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

    # -- the files beside the store -----------------------------------------------------
    def _persist(self, *, force: bool = False) -> None:
        """dense.faiss (when enough changed, or `force`) then manifest.json, each replaced
        atomically."""
        self._vectors.restructure_if_needed()
        self._vectors.write(force=force)
        manifest = self._manifest
        manifest.faiss_type = self._vectors.kind
        manifest.articles = self.store.total("articles")
        manifest.passages = self.store.total("passages")
        manifest.updated_at = self.store.updated_at() or manifest.updated_at
        manifest.dense_generation = self._vectors.written_at
        manifest.write(self.folder)

    def refresh(self) -> None:
        """Another process (the CLI beside a running bot) may have written: reload. While
        this process writes, its writer keeps FAISS in step itself, so a reader never
        swaps the index under it."""
        if self.store.generation() == self._vectors.generation:
            return
        if not self._write_lock.acquire(blocking=False):
            return
        try:
            if self.store.generation() != self._vectors.generation:
                self._vectors.sync()
        finally:
            self._write_lock.release()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """This process's write lock and the folder's, then FAISS brought up to date with
        whatever another process wrote before."""
        with self._write_lock, self._process_lock:
            if self.store.generation() != self._vectors.generation:
                self._vectors.sync()
            yield

    def write(self, articles: Sequence[ArticleWrite] = (), removed: Sequence[str] = ()) -> None:
        """SQLite first (one transaction), then FAISS brought to the new generation."""
        generation_before = self.store.generation()
        stale, added = self.store.write(articles, removed)
        vectors = [passage.vector for write in articles for passage in write.passages or ()]
        self._vectors.apply(
            stale, np.asarray(added, dtype=np.int64),
            np.vstack(vectors) if vectors else np.zeros((0, self._vectors.dim), np.float32),
            generation_before, self.store.generation())

    def flush(self) -> None:
        self._persist()

    def catch_up(self) -> None:
        """FAISS brought up to the store (after rows were written to it directly, as an
        import does) and both files written now."""
        with self.writing():
            self._persist(force=True)

    # -- reading ------------------------------------------------------------------------
    def reading(self) -> AbstractContextManager[None]:
        return nullcontext()  # each thread has its own SQLite connection already

    def retrievers(self) -> list[Retriever]:
        return [DenseRetriever(self._vectors), KeywordRetriever(self.store)]

    def describe(self) -> StorageInfo:
        manifest = self._manifest
        return StorageInfo(
            location=self.location, format_version=manifest.format_version,
            model_name=manifest.model_name, model_sha256=manifest.model_sha256,
            dim=manifest.dim, index_type=manifest.faiss_type,
            dense_vectors=self._vectors.size, created_at=manifest.created_at,
            updated_at=self.store.updated_at() or manifest.updated_at,
        )

    def close(self) -> None:
        if self._vectors.has_unwritten_changes:
            with self.writing():  # the next open then has nothing to catch up
                self._persist(force=True)
        self.store.close()
