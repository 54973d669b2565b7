"""keyword.tantivy/: the keyword index in tantivy, a cache of store.sqlite's FTS5 rows.

FTS5's bm25 scores every passage holding any question word ("kim" is in 15,775 of a
million passages). Tantivy's top-k search of an OR of term queries skips blocks of
postings whose best possible score cannot enter the top k (block-max WAND), so a common
name costs little. The ranking is tantivy's BM25, close to FTS5's but not equal:

- the article's title and the passage's text are one field, as FTS5's bm25 treats a row:
  one idf per word over the whole row, the title's and the text's counts saturating
  together, the whole row's length. FTS5 weighs a title word 0.5 *inside* that one
  saturation; tantivy can only weigh whole per-field scores (a boosted `title` field
  beside `body`), which scores a word in both twice over. Measured on the celebrity
  questions (benchmarks/README.md), the one field keeps FTS5's rankings better (top-50
  overlap 0.92 against 0.89) and hybrid recall (Recall@1 0.955 against 0.938 with the
  0.5-boosted title field; FTS5 0.951), so a title word counts as much as a text word;
- idf is Lucene's, ln(1 + (N - n + 0.5) / (n + 0.5)), never floored at 1e-6;
- words are stemmed by Snowball English (FTS5: the original Porter) after folding
  diacritics to ASCII (FTS5: `remove_diacritics 2`).

Like dense.faiss, the folder is rebuilt from store.sqlite whenever it is missing or
unreadable, and caught up (passage ids diffed) when the generation it records is not the
store's. The record is written only after a tantivy commit, so it can lag the folder but
never lead it; and a search whose snapshot is not the store's generation returns None, so
the caller falls back to FTS5 rather than serve what a crash left behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy
from filelock import FileLock, Timeout

from index.parts import Query, Ranking
from index.store import Store
from index.terms import content_words
from index.visible import ArticleLookup, visible_top

KEYWORD_DIR = "keyword.tantivy"
# Inside KEYWORD_DIR, beside tantivy's own files (tantivy deletes only files it made).
RECORD_NAME = "spotlight-generation.json"
# Bumped when the schema or the analyzer changes: a folder of another format is rebuilt.
FORMAT = 2
ANALYZER = "spotlight_en"
# Writer memory: small for a write's few passages (one thread, one segment per commit),
# larger for a rebuild (tantivy flushes a segment each time the heap fills).
WRITE_HEAP = 32_000_000
REBUILD_HEAP = 256_000_000
READ_CHUNK = 5_000
# Passages staged before a commit even inside one write session: a long build's folder
# then lags the store by at most this many (searches meanwhile fall back to FTS5).
COMMIT_EVERY = 20_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeywordDoc:
    """One passage as FTS5 holds it: its article's title then, its text, its scope."""

    passage_id: int
    scope: str
    title: str
    body: str


def _analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(255))  # tantivy rejects huge tokens
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", indexed=True, fast=True)  # deletes by id, hits' ids
    builder.add_text_field("scope", tokenizer_name="raw", index_option="basic")
    # Title and text. Frequencies without positions: BM25 and block-max WAND need no more.
    builder.add_text_field("text", tokenizer_name=ANALYZER, index_option="freq")
    return builder.build()


SCHEMA = _schema()
ANALYZE = _analyzer()


def _document(doc: KeywordDoc) -> tantivy.Document:
    document = tantivy.Document()
    document.add_unsigned("id", doc.passage_id)
    document.add_text("scope", doc.scope)
    document.add_text("text", doc.title)  # two values of one field: counts and length sum
    document.add_text("text", doc.body)
    return document


def query_terms(words: Iterable[str]) -> list[str]:
    """The index terms of the question's words, each once (a word may give several:
    FTS5 reads "kim_k" as the phrase "kim k"; here it is the two terms)."""
    return list(dict.fromkeys(term for word in words for term in ANALYZE.analyze(word)))


def any_term_query(terms: Sequence[str], scopes: Sequence[str] | None) -> tantivy.Query:
    """An OR of the terms: a flat union of term queries, which tantivy searches by
    block-max WAND. `scopes`: only passages of these (a filter that adds nothing to the
    score); None when nothing else exists."""
    union = tantivy.Query.boolean_query([(tantivy.Occur.Should, _term(term)) for term in terms])
    if scopes is None:
        return union
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, _within(scopes)),
                                        (tantivy.Occur.Must, union)])


def all_terms_query(terms: Sequence[str], hidden: Sequence[str]) -> tantivy.Query:
    """Passages holding every one of the terms, but none of the `hidden` scopes (few, so
    cheaper to exclude than the visible ones, often most of the index, are to intersect:
    a million passages, p50 0.7 against 3.2 ms)."""
    return tantivy.Query.boolean_query(
        [(tantivy.Occur.MustNot, tantivy.Query.term_set_query(SCHEMA, "scope", list(hidden)))]
        + [(tantivy.Occur.Must, _term(term)) for term in terms])


def _term(term: str) -> tantivy.Query:
    return tantivy.Query.term_query(SCHEMA, "text", term, index_option="freq")


def _within(scopes: Sequence[str]) -> tantivy.Query:
    """Passages of these scopes, adding nothing to a score."""
    return tantivy.Query.const_score_query(
        tantivy.Query.term_set_query(SCHEMA, "scope", list(scopes)), 0.0)


def _open(path: Path) -> tantivy.Index:
    index = tantivy.Index.open(str(path))
    index.register_tokenizer(ANALYZER, ANALYZE)  # tokenizers are not stored in the folder
    return index


def _read_record(path: Path) -> int | None:
    """The store generation the folder was last committed at; None when unknown (no
    record, another format, unreadable)."""
    try:
        record = json.loads((path / RECORD_NAME).read_text())
        if record.get("format") == FORMAT:
            return int(record["generation"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _write_record(path: Path, generation: int) -> None:
    temporary = path / f"{RECORD_NAME}.tmp"
    temporary.write_text(json.dumps({"format": FORMAT, "generation": generation}))
    os.replace(temporary, path / RECORD_NAME)


@dataclass(frozen=True)
class _Snapshot:
    generation: int  # of the store, -1 when the folder's state is unknown
    searcher: tantivy.Searcher | None


class TantivyKeywords:
    """keyword.tantivy kept in step with a Store. Searching is safe from any thread;
    catch_up, apply and sync only from the one thread holding the library's write lock
    (apply and sync also with the folder's file lock: tantivy allows one writer)."""

    def __init__(self, folder: Path, store: Store, articles: ArticleLookup,
                 process_lock: FileLock) -> None:
        self.path = folder / KEYWORD_DIR
        self._store = store
        self._articles = articles
        self._process_lock = process_lock
        self._index: tantivy.Index | None = None
        self._snapshot = _Snapshot(-1, None)
        self._damaged = False  # a search failed reading the folder: rebuild it
        # Changes applied but not yet committed (index/embedded.py commits them when its
        # write session ends), and the store generation they bring the folder to.
        self._writer: tantivy.IndexWriter | None = None
        self._staged: int | None = None
        self._staged_count = 0

    @classmethod
    def load(cls, folder: Path, store: Store, articles: ArticleLookup,
             process_lock: FileLock) -> TantivyKeywords:
        """The folder opened and, unless another process is writing, brought up to the
        store (rebuilt when missing, damaged or of another format)."""
        keywords = cls(folder, store, articles, process_lock)
        keywords.catch_up()
        return keywords

    @property
    def generation(self) -> int:
        return self._snapshot.generation

    # -- reading --------------------------------------------------------------------------
    def search(self, words: Sequence[str], scopes: Sequence[str], k: int) -> Ranking | None:
        """(passage id, score) of the top k visible in `scopes`, best first (ties by id);
        None when this snapshot is not the store's generation (the caller asks FTS5)."""
        current = self._current(scopes)
        if current is None:
            return None
        searcher, hidden = current
        terms = query_terms(words)
        if not terms:
            return []
        try:
            if not hidden:
                return self._top(searcher, any_term_query(terms, None), k)
            return visible_top(
                k, lambda n: self._top(searcher, any_term_query(terms, None), n),
                lambda ids: self._articles.articles_of(ids, scopes),
                lambda: self._top(searcher, any_term_query(terms, scopes), k))
        except ValueError as error:
            self._unreadable(error)
            return None

    @staticmethod
    def _top(searcher: tantivy.Searcher, query: tantivy.Query, k: int) -> Ranking:
        hits = searcher.search(query, k, count=False).hits
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        return sorted(zip(ids, (score for score, _ in hits), strict=True),
                      key=lambda hit: (-hit[1], hit[0]))

    def document_frequency(self, word: str, scopes: Sequence[str]) -> int | None:
        """Passages in `scopes` holding `word`; None when this snapshot is not the store's
        generation. When every passage is visible, read from the term dictionary (passages
        removed since tantivy last merged segments still count: an idf input, like FTS5's
        own, not a listing); else counted within `scopes` (a server's private words never
        weigh in another's answers; a million passages: p50 0.7 ms, FTS5's join 35 ms,
        up to seconds for a common word)."""
        current = self._current(scopes)
        if current is None:
            return None
        searcher, hidden = current
        terms = ANALYZE.analyze(word)
        if not terms:
            return 0
        try:
            if hidden:
                # FTS5 reads a word of several terms ("o'neal") as a phrase: here, all of them.
                return searcher.search(all_terms_query(terms, hidden), 1, count=True).count
            return min(searcher.doc_freq("text", term) for term in terms)  # the same bound
        except ValueError as error:
            self._unreadable(error)
            return None

    def _current(self, scopes: Sequence[str]) -> tuple[tantivy.Searcher, tuple[str, ...]] | None:
        """The searcher and the scopes holding passages `scopes` may not see (none: no
        filter needed); None when this snapshot is not the store's generation."""
        snapshot = self._snapshot
        if snapshot.searcher is None:
            return None
        # The generation and the other scopes in one read of the store, so a passage this
        # snapshot holds is never shown unfiltered to a server that may not see it.
        with self._store.snapshot():
            if self._store.generation() != snapshot.generation:
                return None
            return snapshot.searcher, self._store.scopes_outside(scopes)

    def _unreadable(self, error: ValueError) -> None:
        """A damaged file: FTS5 answers until it is rebuilt at the next refresh or write."""
        log.warning("Keyword search in %s failed (%s); using FTS5 until it is rebuilt",
                    self.path, error)
        self._damaged = True
        self._snapshot = _Snapshot(-1, None)

    # -- keeping up with the store -----------------------------------------------------
    def catch_up(self) -> None:
        """Read the folder's last commit (another process's, perhaps); when it is not
        the store's generation and no other process is writing, apply the difference.
        Until then searches fall back to FTS5."""
        if self._index is None:
            self._try_open()
        elif not self._damaged:
            self._reload()
        if not self._damaged and self.generation == self._store.generation():
            return
        try:
            self._process_lock.acquire(timeout=0)
        except Timeout:
            return  # another process is writing: its commit is read at the next refresh
        try:
            self.sync()
        finally:
            self._process_lock.release()

    def apply(self, removed: Sequence[int], added: Sequence[KeywordDoc],
              generation_before: int, generation_after: int) -> None:
        """One committed store write, staged here; `commit` publishes it (at the end of
        the library's write session: a tantivy commit costs ~60 ms of fsyncs, once per
        batch of a build it was a fifth of the ingest time). When this folder was not at
        `generation_before` (another process wrote, or a write was lost), the difference
        with the store is applied and committed instead."""
        try:
            if self._index is None or self._staged_generation != generation_before:
                self.sync()
                return
            self._stage(removed, added, generation_after)
            if self._staged_count >= COMMIT_EVERY:
                self._publish()
        except (ValueError, OSError):
            self._failed()

    def commit(self) -> None:
        """Publish what `apply` staged: tantivy's commit, then the record, then searches
        read it. Until then they fall back to FTS5 (the store is ahead)."""
        try:
            self._publish()
        except (ValueError, OSError):
            self._failed()

    def _failed(self) -> None:
        # The store's write is committed and must stand: FTS5 answers until the folder
        # is rebuilt at the next refresh or write.
        log.exception("Updating %s failed; it will be rebuilt from the store", self.path)
        self._discard()
        self._damaged = True
        self._snapshot = _Snapshot(-1, None)

    def sync(self) -> None:
        """Apply what the store holds and the folder does not, and the reverse; rebuild
        the folder when it cannot be opened or read."""
        self._publish()  # what is staged first: the folder's ids are then all it holds
        if self._damaged or (self._index is None and not self._try_open()):
            self.rebuild()
            return
        assert self._index is not None
        self._reload()
        with self._store.snapshot():
            generation = self._store.generation()
            if generation == self.generation:
                return
            stored = {row[0] for row in self._store.db.execute("SELECT rowid FROM passages_fts")}
        try:
            held = set(self._held_ids())
        except ValueError as error:
            log.warning("%s is unreadable (%s); rebuilding it from the store", self.path,
                        error)
            self.rebuild()
            return
        missing = sorted(stored - held)
        log.info("Catching up %s: %d passages to add, %d to remove", self.path,
                 len(missing), len(held - stored))
        self._stage(sorted(held - stored), self._docs(missing), generation)
        self._publish()

    def _held_ids(self) -> list[int]:
        searcher = self._snapshot.searcher
        assert searcher is not None
        if searcher.num_docs == 0:
            return []
        return [key for key, _ in searcher.search(tantivy.Query.all_query(), searcher.num_docs,
                                                  count=False, order_by_field="id").hits]

    # -- staged changes: one writer per write session -------------------------------------
    @property
    def _staged_generation(self) -> int:
        return self.generation if self._staged is None else self._staged

    def _stage(self, removed: Sequence[int], added: Iterable[KeywordDoc],
               generation: int) -> None:
        assert self._index is not None
        if self._writer is None:
            self._writer = self._index.writer(WRITE_HEAP, 1)
        if removed:
            self._writer.delete_documents_by_query(
                tantivy.Query.term_set_query(SCHEMA, "id", list(removed)))
        count = len(removed)
        for doc in added:
            self._writer.add_document(_document(doc))
            count += 1
        self._staged = generation
        self._staged_count += count

    def _publish(self) -> None:
        writer, generation = self._writer, self._staged
        if writer is None or generation is None:
            return
        self._writer, self._staged, self._staged_count = None, None, 0
        try:
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # merges done and the writer's lock released
        _write_record(self.path, generation)  # only now: the record never leads the folder
        self._reload()

    def _discard(self) -> None:
        writer, self._writer, self._staged, self._staged_count = self._writer, None, None, 0
        if writer is not None:
            try:
                writer.rollback()
                writer.wait_merging_threads()
            except (ValueError, OSError):
                log.warning("Could not roll back %s's writer", self.path)

    # -- the folder -------------------------------------------------------------------------
    def _try_open(self) -> bool:
        """Open the folder when it holds a record of this format and tantivy reads it."""
        if _read_record(self.path) is None:
            return False
        try:
            index = _open(self.path)
            self._index = index
            self._reload()
            return True
        except (ValueError, OSError) as error:
            log.warning("%s is unreadable (%s); it will be rebuilt from the store", self.path,
                        error)
            self._index = None
            return False

    def rebuild(self) -> None:
        """The whole folder anew from the store, beside the old one, then swapped in: a
        crash leaves the old folder (stale: caught up at the next open) or none (rebuilt)."""
        log.info("Building %s from the store", self.path)
        self._discard()
        building = self.path.with_name(f"{KEYWORD_DIR}.new")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        index = tantivy.Index(SCHEMA, str(building))
        index.register_tokenizer(ANALYZER, ANALYZE)
        writer = index.writer(REBUILD_HEAP, 1)
        with self._store.snapshot():
            generation = self._store.generation()
            for doc in self._all_docs():
                writer.add_document(_document(doc))
        writer.commit()
        writer.wait_merging_threads()
        _write_record(building, generation)
        old = self.path.with_name(f"{KEYWORD_DIR}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        building.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        self._index = _open(self.path)
        self._damaged = False
        self._reload()

    def _reload(self) -> None:
        """The searcher of the folder's last commit, labelled with the generation its
        record names. The record is read first: it is written after its commit, so the
        searcher then holds at least that generation. (Read after, it could name another
        process's commit made since the reload, and a stale searcher would pass for the
        store's.) A searcher ahead of its label only sends searches to FTS5 until the
        next refresh reads the newer record."""
        assert self._index is not None
        generation = _read_record(self.path)
        self._index.reload()
        searcher = self._index.searcher()
        self._snapshot = _Snapshot(-1 if generation is None else generation, searcher)

    # -- rows of the store ------------------------------------------------------------------
    _ROWS = ("SELECT f.rowid, p.scope, f.title, f.body FROM passages_fts f "
             "JOIN passages p ON p.id = f.rowid")

    def _all_docs(self) -> Iterator[KeywordDoc]:
        cursor: sqlite3.Cursor = self._store.db.execute(self._ROWS)
        while rows := cursor.fetchmany(READ_CHUNK):
            yield from (KeywordDoc(*row) for row in rows)

    def _docs(self, passage_ids: Sequence[int]) -> Iterator[KeywordDoc]:
        for start in range(0, len(passage_ids), READ_CHUNK):
            chunk = passage_ids[start:start + READ_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from (KeywordDoc(*row) for row in self._store.db.execute(
                f"{self._ROWS} WHERE f.rowid IN ({marks})", chunk))


class TantivyKeywordRetriever:
    """Words, ranked by tantivy's BM25 (block-max WAND); FTS5's when tantivy lags."""

    name = "keyword"
    needs_vector = False  # started while the question is being embedded

    def __init__(self, keywords: TantivyKeywords, store: Store) -> None:
        self.keywords = keywords
        self._store = store

    def retrieve(self, query: Query, k: int) -> Ranking:
        words = content_words(query.text)
        if not words:
            return []
        found = self.keywords.search(words, query.scopes, k)
        if found is None:
            return self._store.keyword_search(words, query.scopes, k)
        return found
