"""An embedded index folder as the source or the target of an export (index/transfer.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple
from pathlib import Path

import numpy as np

from index.embedded import STORE_NAME, EmbeddedStorage
from index.errors import IndexMissingError, TransferError
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest
from index.records import ModelInfo
from index.signals import stored_signals
from index.spans import LEGACY_KIND
from index.store import Store, read_spans, spans_json
from index.transfer import (
    ARTICLE_COLUMNS,
    BATCH,
    FEEDBACK_COLUMNS,
    QUESTION_COLUMNS,
    Counts,
    PassageRecord,
    Read,
    Snapshot,
    check_counts,
    count_rows,
    read_snapshot,
)


def _reader(db: sqlite3.Connection) -> Read:
    def read(query: str) -> Iterator[list[tuple]]:
        cursor = db.execute(query)
        while rows := cursor.fetchmany(BATCH):
            yield rows

    return read


def _passage(row: tuple, dim: int) -> PassageRecord:
    return PassageRecord(row[0], row[1], row[2], row[3], row[4], row[5],
                         np.frombuffer(row[6], dtype=np.float32).reshape(dim), read_spans(row[7]),
                         row[8])


class EmbeddedSource:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        if not (self.folder / MANIFEST_NAME).exists():
            raise IndexMissingError(f"No index at {self.folder} to export.")
        manifest = Manifest.read(self.folder)
        if manifest.format_version != FORMAT_VERSION:
            raise TransferError(
                f"The index at {self.folder} has format version {manifest.format_version}; "
                f"open it once with this Spotlight (`python -m index info --index "
                f"{self.folder}`) to upgrade it, then export it.")
        if manifest.sentence_vectors != LEGACY_KIND:
            # PostgreSQL's model record cannot say how sentences were embedded (its
            # libraries encode them); copied, pooled vectors would be taken for encoded.
            raise TransferError(
                f"The index at {self.folder} holds {manifest.sentence_vectors} sentence "
                f"vectors, which a PostgreSQL library cannot record; build it with "
                f"SPOTLIGHT_SENTENCE_VECTORS={LEGACY_KIND} to export it.")
        model = ModelInfo(manifest.model_name, manifest.model_sha256, manifest.dim,
                          manifest.embedding_backend)
        uri = f"file:{self.folder / STORE_NAME}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as db:
            db.execute("BEGIN")  # one snapshot for every read below (WAL)
            yield read_snapshot(
                _reader(db), model=model, created_at=manifest.created_at,
                passages="SELECT p.id, p.article_id, p.scope, p.position, f.title, p.text, "
                         "p.vector, p.sentence_spans, p.sentence_vectors FROM passages p "
                         "JOIN passages_fts f ON f.rowid = p.id ORDER BY p.id",
                passage=lambda row: _passage(row, model.dim))


class EmbeddedTarget:
    """A new index folder (absent or empty), written beside it and renamed into place
    once complete."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def load(self, snapshot: Snapshot) -> Counts:
        if self.folder.exists() and any(self.folder.iterdir()):
            raise TransferError(f"{self.folder} is not empty; export into a new folder.")
        partial = self.folder.with_name(self.folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        storage = EmbeddedStorage.create(partial, snapshot.model)
        try:
            with storage.store.transaction() as db:
                self._insert(db, snapshot)
                check_counts(count_rows(_reader(db)), snapshot.counts)
                Store.bump_generation(db)
            storage.catch_up()  # dense.faiss from the stored vectors, and the manifest
        except BaseException:
            storage.close()
            shutil.rmtree(partial, ignore_errors=True)
            raise
        storage.close()
        os.replace(partial, self.folder)
        return snapshot.counts

    @staticmethod
    def _insert(db: sqlite3.Connection, snapshot: Snapshot) -> None:
        for articles in snapshot.articles:
            db.executemany(f"INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ({_marks(11)})",
                           [astuple(article) for article in articles])
        for passages in snapshot.passages:
            db.executemany(
                "INSERT INTO passages (id, article_id, scope, position, text, vector, "
                f"sentence_spans, sentence_vectors, sentence_signals) VALUES ({_marks(9)})",
                [(p.id, p.article_id, p.scope, p.position, p.text,
                  np.ascontiguousarray(p.vector, dtype=np.float32).tobytes(),
                  spans_json(p.sentence_spans),
                  p.sentence_vectors, stored_signals(p.text, p.sentence_spans))
                 for p in passages])
            db.executemany("INSERT INTO passages_fts (rowid, title, body) VALUES (?, ?, ?)",
                           [(p.id, p.title, p.text) for p in passages])
        for questions in snapshot.questions:
            db.executemany(f"INSERT INTO questions ({QUESTION_COLUMNS}) VALUES ({_marks(6)})",
                           [(q.id, q.scope, q.user_id, q.question, int(q.abstained), q.asked_at)
                            for q in questions])
        for votes in snapshot.feedback:
            db.executemany(f"INSERT INTO feedback ({FEEDBACK_COLUMNS}) VALUES ({_marks(4)})",
                           [astuple(vote) for vote in votes])


def _marks(count: int) -> str:
    return ", ".join("?" * count)
