"""The embedded backend: one folder on one machine (the default).

    manifest.json  how the index was made (model, dim, FAISS type, counts)
    store.sqlite   articles, passages and their vectors, FTS5, questions (the truth)
    dense.faiss    FAISS over the passage vectors: a cache, rebuilt from SQLite if stale
    keyword.tantivy/  with SPOTLIGHT_KEYWORD_ENGINE=tantivy: the keyword index, a cache of
                   the FTS5 rows, committed after each write (index/tantivy_keyword.py)
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
from index.config import DEFAULT_KEYWORD_ENGINE
from index.embedded_passages import EmbeddedPassages
from index.embedder import Embedder, backend_of
from index.errors import IndexMissingError
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest
from index.parts import Retriever
from index.passage_articles import PassageArticles
from index.records import ArticleWrite, ModelInfo, locate_sentences, utc_now
from index.retrievers import DenseRetriever, KeywordRetriever
from index.spans import LEGACY_KIND, SentenceVectors, kind_for_new_index
from index.storage import PassageSource, StorageInfo
from index.store import Store
from index.tantivy_keyword import KeywordDoc, TantivyKeywordRetriever, TantivyKeywords
from index.vectors import FaissVectors

STORE_NAME = "store.sqlite"
# Held by whichever process writes, so two writers (the bot's start-up sync beside a CLI
# add) never plan from the same state and store the same passages twice.
WRITE_LOCK_NAME = "write.lock"
UPGRADE_BATCH = 256

log = logging.getLogger(__name__)


class EmbeddedStorage:
    database = None

    def __init__(self, folder: Path, store: Store, articles: PassageArticles,
                 vectors: FaissVectors, manifest: Manifest,
                 keyword_engine: str = DEFAULT_KEYWORD_ENGINE) -> None:
        self.folder = folder
        self.location = str(folder)
        self.store = store
        self.catalog = self.questions = store
        self._vectors = vectors
        self._manifest = manifest
        self._write_lock = threading.Lock()
        self._process_lock = FileLock(str(folder / WRITE_LOCK_NAME))
        # None: FTS5 answers keyword searches (and always holds the rows tantivy copies).
        self._articles = articles
        self._keywords = (TantivyKeywords.load(folder, store, articles, self._process_lock)
                          if keyword_engine == "tantivy" else None)
        self.passages: PassageSource = EmbeddedPassages(store, vectors, self._keywords,
                                                        self._articles)

    @property
    def sentence_vectors(self) -> SentenceVectors:
        return self._manifest.sentence_vectors

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False,
             sentence_vectors: str | None = None,
             keyword_engine: str = DEFAULT_KEYWORD_ENGINE) -> EmbeddedStorage:
        """Raises IndexMissingError (unless create=True) and IndexMismatchError (other
        model, dim or a newer format version; `sentence_vectors` asked for and not the
        index's kind). An index of the previous format is upgraded in place. A new index
        gets `sentence_vectors`, else the default kind (index/spans.py)."""
        folder = Path(folder)
        if not (folder / MANIFEST_NAME).exists():
            if not create:
                raise IndexMissingError(
                    f"No index at {folder}. Build one first: "
                    f"`python -m index build --corpus PATH --index {folder}`."
                )
            return cls.create(folder, ModelInfo.of(embedder),
                              kind_for_new_index(embedder, sentence_vectors),
                              keyword_engine=keyword_engine)
        manifest = Manifest.read(folder)
        manifest.check_compatible(folder, embedder.name, embedder.fingerprint, embedder.dim,
                                  backend=backend_of(embedder))
        manifest.check_sentence_vectors(folder, sentence_vectors)
        store = Store(folder / STORE_NAME)
        articles = PassageArticles(store)
        vectors = FaissVectors.load(folder, store, articles, manifest.dim,
                                    manifest.dense_generation)
        storage = cls(folder, store, articles, vectors, manifest, keyword_engine)
        if manifest.format_version < FORMAT_VERSION:
            storage._upgrade(embedder)
        return storage

    @classmethod
    def create(cls, folder: Path, model: ModelInfo,
               sentence_vectors: SentenceVectors = LEGACY_KIND, *,
               keyword_engine: str = DEFAULT_KEYWORD_ENGINE) -> EmbeddedStorage:
        """An empty index in `folder` for vectors of `model`."""
        folder.mkdir(parents=True, exist_ok=True)
        now = utc_now()
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_name=model.name,
            model_sha256=model.fingerprint, dim=model.dim, faiss_type="IDMap2,Flat(IP)",
            articles=0, passages=0, created_at=now, updated_at=now, dense_generation=0,
            embedding_backend=model.backend, sentence_vectors=sentence_vectors,
        )
        store = Store(folder / STORE_NAME)
        articles = PassageArticles(store)
        vectors = FaissVectors.load(folder, store, articles, model.dim, -1)  # nothing on disk
        storage = cls(folder, store, articles, vectors, manifest, keyword_engine)
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
                        Store.set_sentences(db, passage_id, text,
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
        this process writes, its writer keeps FAISS and tantivy in step itself, so a
        reader never swaps an index under it."""
        if not self._behind():
            return
        if not self._write_lock.acquire(blocking=False):
            return
        try:
            self._catch_up_caches()
        finally:
            self._write_lock.release()

    def _behind(self) -> bool:
        generation = self.store.generation()
        return generation != self._vectors.generation or (
            generation != self._articles.generation) or (
            self._keywords is not None and generation != self._keywords.generation)

    def _catch_up_caches(self) -> None:
        """The article map, FAISS, then tantivy (which waits for no other process: FTS5
        answers until it has caught up), brought to the store's generation. Under the
        write lock."""
        if self.store.generation() != self._articles.generation:
            self._articles.sync()
        if self.store.generation() != self._vectors.generation:
            self._vectors.sync()
        if self._keywords is not None and self.store.generation() != self._keywords.generation:
            self._keywords.catch_up()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """This process's write lock and the folder's, then FAISS brought up to date with
        whatever another process wrote before."""
        with self._write_lock, self._process_lock:
            self._catch_up_caches()
            try:
                yield
            finally:
                if self._keywords is not None:
                    self._keywords.commit()  # this session's writes, in one tantivy commit

    def write(self, articles: Sequence[ArticleWrite] = (), removed: Sequence[str] = ()) -> None:
        """SQLite first (one transaction), then the article map, FAISS and tantivy brought
        to the new generation."""
        generation_before = self.store.generation()
        stale, added = self.store.write(articles, removed)
        generation_after = self.store.generation()
        passages = [(write, passage) for write in articles for passage in write.passages or ()]
        # The map first: any passage a search can return is then one it knows.
        self._articles.apply(stale, added, [(write.article_id, write.scope)
                                            for write, _ in passages],
                             generation_before, generation_after)
        self._vectors.apply(
            stale, np.asarray(added, dtype=np.int64),
            np.vstack([passage.vector for _, passage in passages]) if passages
            else np.zeros((0, self._vectors.dim), np.float32),
            generation_before, generation_after)
        if self._keywords is not None:
            # The rows FTS5 was given (Store.insert_passages), in the order of `added`.
            self._keywords.apply(stale, [
                KeywordDoc(passage_id, write.scope, write.article.title, passage.text)
                for passage_id, (write, passage) in zip(added, passages, strict=True)],
                generation_before, generation_after)

    def flush(self) -> None:
        self._persist()

    def signals_missing(self) -> bool:
        return self.store.signals_missing()

    def fill_signals(self, batch: int) -> Iterator[int]:
        """No write lock: a column only this writes changes, in SQLite's own short
        transactions; FAISS, tantivy and the generation stay as they are."""
        return self.store.fill_signals(batch)

    def catch_up(self) -> None:
        """FAISS brought up to the store (after rows were written to it directly, as an
        import does) and both files written now."""
        with self.writing():
            self._persist(force=True)

    # -- reading ------------------------------------------------------------------------
    def reading(self) -> AbstractContextManager[None]:
        return nullcontext()  # each thread has its own SQLite connection already

    def retrievers(self) -> list[Retriever]:
        keyword: Retriever = (KeywordRetriever(self.store) if self._keywords is None
                              else TantivyKeywordRetriever(self._keywords, self.store))
        return [DenseRetriever(self._vectors), keyword]

    def describe(self) -> StorageInfo:
        manifest = self._manifest
        # The index as served: one rebuilt at open reaches the manifest only when written.
        return StorageInfo(
            location=self.location, format_version=manifest.format_version,
            model_name=manifest.model_name, model_sha256=manifest.model_sha256,
            dim=manifest.dim, index_type=self._vectors.kind,
            dense_vectors=self._vectors.size, created_at=manifest.created_at,
            updated_at=self.store.updated_at() or manifest.updated_at,
        )

    def close(self) -> None:
        if self._vectors.has_unwritten_changes:
            with self.writing():  # the next open then has nothing to catch up
                self._persist(force=True)
        self.store.close()
