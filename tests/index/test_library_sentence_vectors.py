"""The library's two kinds of sentence vectors (index/spans.py): a pooled index passes each
passage through the model once and stores its sentences' pooled vectors; an index keeps its
kind for good (recorded in the manifest, never mixed); the answerer uses the weights fitted
for its index's kind. The hashing embedder stands in for the model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from corpus import split_sentences
from corpus.records import Article
from index import answerability as answerability_module
from index.answerers import extractive
from index.embedded_transfer import EmbeddedSource
from index.embedder import FakeEmbedder
from index.errors import IndexMismatchError, TransferError
from index.library import Library
from index.manifest import MANIFEST_NAME
from index.spans import DEFAULT_KIND, KIND_ENV, SpanVectors

MARK = "pooledmark"

STORIES = [
    Article(title="Volcano erupts", source="volcano.txt",
            text="The volcano erupted at dawn, covering the valley in ash. Villagers left "
                 "their homes as lava flowed towards the river."),
    Article(title="Chef wins award", source="chef.txt",
            text="The chef won the golden spoon award for her ramen. Critics praised the "
                 "rich broth and the handmade noodles."),
]
LATE = Article(title="Striker transfers", source="striker.txt",
               text="The striker signed with a new club for a record fee. Fans gathered "
                    "outside the stadium to welcome him.")


class SpyEmbedder(FakeEmbedder):
    """The hashing embedder, noting what it is asked; a pooled span's vector is that of the
    span's text plus a marker word, so a stored vector tells how it was made and from
    which characters of the text the model read."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []
        self.read: list[tuple[str, list[str]]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        return super().encode(texts)

    def encode_with_spans(self, texts, spans) -> SpanVectors:
        self.read.extend((text, [text[start:end] for start, end in text_spans])
                         for text, text_spans in zip(texts, spans, strict=True))
        return SpanVectors(FakeEmbedder.encode(self, texts), [
            FakeEmbedder.encode(self, [f"{text[start:end]} {MARK}" for start, end in text_spans])
            for text, text_spans in zip(texts, spans, strict=True)], 0)


class EncodeOnly:
    """An embedder without encode_with_spans (a wrapper that does not pass it on)."""

    def __init__(self) -> None:
        self.inner = FakeEmbedder()
        self.name, self.dim, self.backend = self.inner.name, self.inner.dim, "fake"

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode(texts)


def open_library(folder: Path, embedder, kind: str | None = None, **options) -> Library:
    return Library.open(folder, embedder, create=True, sentence_vectors=kind, **options)


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text())


def stored(library: Library):
    """Every stored passage with its sentence spans and vectors (float16 in the store)."""
    store = library.storage.store
    ids = [row[0] for row in store.db.execute("SELECT id FROM passages ORDER BY id")]
    return store.evidence(ids, ("global",), library.embedder.dim)


@pytest.fixture(autouse=True)
def no_kind_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KIND_ENV, raising=False)


def test_a_pooled_index_reads_each_passage_once_and_records_its_kind(tmp_path: Path) -> None:
    spy = SpyEmbedder()
    library = open_library(tmp_path / "index", spy, "pooled")
    library.build(STORIES)
    assert manifest_of(library.folder)["sentence_vectors"] == "pooled"
    assert library.storage.sentence_vectors == "pooled"
    assert spy.encoded == []  # no sentence encoded on its own (none past the window)
    assert [text for text, _ in spy.read] == [f"{a.title}\n{a.text}" for a in STORIES]
    for (_, pieces), story in zip(spy.read, STORIES, strict=True):
        # The spans, shifted past the title's line, cut out exactly the sentences.
        assert pieces == split_sentences(story.text)
    library.close()


def test_pooled_sentence_vectors_are_stored_against_their_sentences(tmp_path: Path) -> None:
    library = open_library(tmp_path / "index", SpyEmbedder(), "pooled")
    library.build(STORIES)
    plain = FakeEmbedder()
    rows = stored(library)
    assert len(rows) == len(STORIES)
    for row in rows:
        sentences = [row.passage.text[start:end] for start, end in row.sentence_spans]
        assert sentences == split_sentences(row.passage.text)
        expected = plain.encode([f"{sentence} {MARK}" for sentence in sentences])
        np.testing.assert_allclose(row.sentence_vectors, expected, atol=2e-3)
    library.close()


def test_an_encoded_index_stays_encoded_whatever_new_indexes_get(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), "encoded").build(STORIES)
    monkeypatch.setenv(KIND_ENV, "pooled")  # the setting is for new indexes only
    spy = SpyEmbedder()
    library = Library.open(folder, spy)
    library.add_articles([LATE])
    assert spy.read == [] and set(split_sentences(LATE.text)) <= set(spy.encoded)
    assert manifest_of(folder)["sentence_vectors"] == "encoded"
    row = next(r for r in stored(library) if r.passage.text == LATE.text)
    sentences = [row.passage.text[start:end] for start, end in row.sentence_spans]
    np.testing.assert_allclose(row.sentence_vectors, FakeEmbedder().encode(sentences),
                               atol=2e-3)
    library.close()


@pytest.mark.parametrize(("built", "asked"), [("encoded", "pooled"), ("pooled", "encoded")])
def test_asking_an_index_for_the_other_kind_is_refused(tmp_path: Path, built: str,
                                                       asked: str) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), built).close()
    with pytest.raises(IndexMismatchError, match=f"holds {built} sentence vectors") as caught:
        Library.open(folder, FakeEmbedder(), sentence_vectors=asked)
    assert "never mixed" in str(caught.value) and "--rebuild" in str(caught.value)
    assert manifest_of(folder)["sentence_vectors"] == built


def test_a_new_index_gets_the_default_kind_or_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_library(tmp_path / "a", FakeEmbedder()).close()
    assert manifest_of(tmp_path / "a")["sentence_vectors"] == DEFAULT_KIND
    for kind in ("encoded", "pooled"):
        monkeypatch.setenv(KIND_ENV, kind)
        open_library(tmp_path / kind, FakeEmbedder()).close()
        assert manifest_of(tmp_path / kind)["sentence_vectors"] == kind


def test_an_index_from_before_the_kind_is_encoded_and_answers_with_its_weights(
        tmp_path: Path) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), "encoded").build(STORIES)
    data = manifest_of(folder)
    del data["sentence_vectors"]  # as every manifest was written before
    (folder / MANIFEST_NAME).write_text(json.dumps(data))
    library = Library.open(folder, FakeEmbedder())
    assert library.storage.sentence_vectors == "encoded"
    assert library.pipeline.answerer.weights is extractive.WEIGHTS_BY_KIND["encoded"]
    assert library.pipeline.answerability.model is answerability_module.WEIGHTS_BY_KIND[
        "encoded"]
    answer = library.ask("who praised the broth?")
    assert not answer.abstained and "broth" in answer.answer
    library.close()


def test_a_pooled_index_answers_with_the_weights_fitted_on_pooled_vectors(
        tmp_path: Path) -> None:
    library = open_library(tmp_path / "index", FakeEmbedder(), "pooled")
    library.build(STORIES)
    pooled = extractive.WEIGHTS_BY_KIND["pooled"]
    assert pooled != extractive.WEIGHTS_BY_KIND["encoded"]  # fitted on their own
    assert library.pipeline.answerer.weights is pooled
    assert library.pipeline.answerability.model is answerability_module.WEIGHTS_BY_KIND[
        "pooled"]
    assert not library.ask("who praised the broth?").abstained
    library.close()


def test_an_unknown_kind_in_the_manifest_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), "encoded").close()
    data = manifest_of(folder)
    (folder / MANIFEST_NAME).write_text(json.dumps({**data, "sentence_vectors": "averaged"}))
    with pytest.raises(IndexMismatchError, match="unreadable"):
        Library.open(folder, FakeEmbedder())


def test_a_pooled_index_serves_but_refuses_writes_from_an_embedder_that_cannot_pool(
        tmp_path: Path) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), "pooled").build(STORIES)
    library = Library.open(folder, EncodeOnly())
    assert not library.ask("who praised the broth?").abstained
    with pytest.raises(IndexMismatchError, match="pools sentence vectors"):
        library.add_articles([LATE])
    assert library.count_articles() == len(STORIES)
    library.close()


def test_a_pooled_index_is_not_exported_where_its_kind_cannot_be_recorded(
        tmp_path: Path) -> None:
    folder = tmp_path / "index"
    open_library(folder, FakeEmbedder(), "pooled").build(STORIES)
    with pytest.raises(TransferError, match="pooled sentence vectors"), \
            EmbeddedSource(folder).snapshot():
        pass
