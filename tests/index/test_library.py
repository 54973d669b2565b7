"""The library's contract, with the fake embedder: storage, scopes, errors, recovery."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from corpus.records import Article
from index.config import DEFAULT_MAX_QUESTION_CHARS
from index.embedder import FakeEmbedder
from index.errors import IndexMismatchError, QuestionError
from index.library import Library
from index.manifest import MANIFEST_NAME

GUILD_A, GUILD_B = 111, 222


def article(title: str, text: str, source: str | None = None) -> Article:
    return Article(title=title, text=text, source=source or f"{title.lower()}.txt")


STORIES = [
    article("Volcano erupts", "The volcano erupted at dawn, covering the valley in ash. "
            "Villagers left their homes as lava flowed towards the river."),
    article("Chef wins award", "The chef won the golden spoon award for her ramen. "
            "Critics praised the rich broth and the handmade noodles."),
    article("Striker transfers", "The striker signed with a new club for a record fee. "
            "Fans gathered outside the stadium to welcome him."),
]


@pytest.fixture
def library(built_library) -> Library:
    return built_library(STORIES)


def sources(hits) -> list[str]:
    return [hit.source for hit in hits]


def test_manifest_describes_the_folder(library: Library) -> None:
    manifest = json.loads((library.folder / MANIFEST_NAME).read_text())
    assert manifest["model_name"] == "fake-hashing"
    assert manifest["dim"] == 64
    assert manifest["articles"] == 3
    assert manifest["format_version"] == 2


def test_other_format_version_or_corrupt_manifest_is_refused(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    library.close()
    path = library.folder / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(IndexMismatchError, match="format version 99"):
        Library.open(library.folder, fake_embedder)
    path.write_text("{not json")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        Library.open(library.folder, fake_embedder)


def test_stale_or_damaged_dense_file_is_rebuilt_from_the_store(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    expected = library.search("golden spoon", k=1, mode="dense")
    library.close()
    (library.folder / "dense.faiss").write_bytes(b"garbage")
    reopened = Library.open(library.folder, fake_embedder)
    assert reopened.search("golden spoon", k=1, mode="dense") == expected
    reopened.close()


@pytest.mark.parametrize("question", ["", "   ", "<@123> <#456>"])
def test_empty_question_is_refused(library: Library, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        library.ask(question)


def test_overlong_question_is_refused_with_the_cap(library: Library) -> None:
    with pytest.raises(QuestionError, match=str(DEFAULT_MAX_QUESTION_CHARS)):
        library.ask("why " * 2_500)


def test_discord_mentions_do_not_count_as_words(library: Library) -> None:
    plain = library.search("volcano ash", k=1)
    assert library.search("<@!999> volcano ash", k=1) == plain


def test_searches_during_writes_never_fail(library: Library) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            try:
                assert library.search("volcano ash", k=1)[0].source == "volcano erupts.txt"
            except BaseException as error:
                errors.append(error)
                return

    readers = [threading.Thread(target=keep_searching) for _ in range(3)]
    for reader in readers:
        reader.start()
    for n in range(30):
        library.add_articles([article(f"Note {n}", f"Filler note number {n} about gardens.")])
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert library.info().articles == 33


def test_large_index_switches_to_an_inverted_file_and_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_embedder = FakeEmbedder(dim=512)  # fewer hash collisions among 60 similar notes
    # Four lists, all probed: this checks the wiring; recall at scale is benchmarked.
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 40)
    monkeypatch.setattr("index.dense._ivf_lists", lambda size: 4)
    library = Library.open(tmp_path / "index", fake_embedder, create=True)
    notes = [article(f"Note {n}", f"Garden note {n} about tulips and roses.") for n in range(60)]
    library.build([*STORIES, *notes])
    manifest = json.loads((library.folder / MANIFEST_NAME).read_text())
    assert manifest["faiss_type"].startswith("IVF")
    assert sources(library.search("volcano erupted ash lava", k=1, mode="dense")) == [
        "volcano erupts.txt"]
    target = library.search("golden spoon ramen", k=1)[0]
    assert library.remove(target.article_id)
    assert target.article_id not in {
        hit.article_id for hit in library.search("golden spoon ramen", k=5, mode="dense")}
    library.close()
    reopened = Library.open(tmp_path / "index", fake_embedder)
    assert reopened.search("striker record fee", k=1)[0].title == "Striker transfers"
    reopened.close()
    # A damaged dense.faiss is rebuilt at open, to today's shape: `info` tells the index
    # served, before the manifest is next written.
    (tmp_path / "index" / "dense.faiss").write_bytes(b"not a faiss index")
    monkeypatch.setattr("index.dense._ivf_lists", lambda size: 5)
    rebuilt = Library.open(tmp_path / "index", fake_embedder)
    assert rebuilt.info().faiss_type == "IVF5,SQfp16(IP)"
    assert rebuilt.search("striker record fee", k=1)[0].title == "Striker transfers"
    rebuilt.close()
    assert json.loads((tmp_path / "index" / MANIFEST_NAME).read_text())["faiss_type"] == (
        "IVF5,SQfp16(IP)")


def test_small_adds_do_not_rewrite_the_dense_file_and_a_reopen_catches_up(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    dense_file = library.folder / "dense.faiss"
    written = dense_file.stat().st_mtime_ns
    library.add_articles([article("Comet seen", "A bright comet was seen over the sky.")])
    assert dense_file.stat().st_mtime_ns == written  # one small add: no rewrite
    # A crash now (no close) leaves the file behind the store; opening catches it up.
    reopened = Library.open(library.folder, fake_embedder)
    assert sources(reopened.search("bright comet", k=1, mode="dense")) == ["comet seen.txt"]
    assert reopened.info().dense_vectors == reopened.info().passages
    reopened.close()
    assert dense_file.stat().st_mtime_ns != written  # close wrote what was pending


def test_the_embedding_backend_is_recorded_and_vectors_of_another_are_not_mixed(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    manifest = json.loads((library.folder / MANIFEST_NAME).read_text())
    assert manifest["embedding_backend"] == fake_embedder.backend
    library.close()
    quantised = FakeEmbedder()
    quantised.backend = "onnx-int8"  # same weights' digest, other vectors
    with pytest.raises(IndexMismatchError, match="backend"):
        Library.open(library.folder, quantised)
