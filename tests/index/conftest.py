"""`library_backend`: the same tests against each storage backend (index/storage.py);
`built_library`: a library holding given articles (fake embedder, fresh folder);
`corpus_dir`: a small corpus folder for the command line's tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from corpus.records import Article
from index.config import LibraryConfig
from index.embedder import FakeEmbedder
from index.library import Library
from tests.index.backends import Backend


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def library_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return Backend("postgres", tmp_path / "index", LibraryConfig(database_url=url))
    return Backend("embedded", tmp_path / "index", LibraryConfig())


@pytest.fixture
def built_library(tmp_path: Path,
                  fake_embedder: FakeEmbedder) -> Iterator[Callable[[Sequence[Article]], Library]]:
    """`built_library(articles)`: a library on a fresh folder holding them, closed after
    the test."""
    opened: list[Library] = []

    def build(articles: Sequence[Article]) -> Library:
        library = Library.open(tmp_path / "index", fake_embedder, create=True)
        opened.append(library)
        library.build(list(articles))
        return library

    yield build
    for library in opened:
        library.close()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "music").mkdir(parents=True)
    (folder / "volcano.txt").write_text(
        "Volcano erupts\n\nThe volcano erupted at dawn, covering the valley in ash.\n")
    (folder / "music" / "tour.json").write_text(json.dumps([
        {"id": "t1", "title": "Singer announces tour", "text": "The singer announced a world "
         "tour starting in Lisbon.", "url": "https://example.org/tour", "date": "2024-05-01"},
    ]))
    (folder / "junk.bin.txt").write_bytes(b"\x00\x01\x02binary")
    return folder
