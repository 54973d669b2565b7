"""The library's contract, with the fake embedder: storage, scopes, errors, recovery."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from corpus.records import Article
from index.config import DEFAULT_MAX_QUESTION_CHARS
from index.embedder import FakeEmbedder
from index.errors import EmptyIndexError, IndexMismatchError, IndexMissingError, QuestionError
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
def library(tmp_path: Path, fake_embedder: FakeEmbedder) -> Library:
    opened = Library.open(tmp_path / "index", fake_embedder, create=True)
    opened.build(STORIES)
    yield opened
    opened.close()


def sources(hits) -> list[str]:
    return [hit.source for hit in hits]


def test_build_reports_and_search_finds_each_story(library: Library) -> None:
    info = library.info()
    assert (info.articles, info.dim) == (3, 64)
    assert info.passages >= 3
    for mode in ("hybrid", "dense", "keyword"):
        assert sources(library.search("ramen broth noodles", mode=mode, k=1)) == [
            "chef wins award.txt"]


def test_rebuild_of_unchanged_corpus_embeds_nothing(library: Library) -> None:
    report = library.build(STORIES)
    assert report.passages == 0
    assert len(report.unchanged) == 3 and not report.added


def test_changed_article_is_re_embedded_and_old_text_is_gone(library: Library) -> None:
    changed = replace(STORIES[0], text="The volcano is quiet again; scientists lowered the alert.")
    report = library.build([changed, *STORIES[1:]])
    assert len(report.updated) == 1 and report.passages >= 1
    assert library.search("lava flowed river", mode="keyword", k=3) == []
    assert sources(library.search("scientists lowered alert", k=1)) == ["volcano erupts.txt"]


def test_build_removes_articles_gone_from_the_corpus_but_keeps_added_ones(
    library: Library,
) -> None:
    extra = article("Comet seen", "A bright comet was seen over the northern sky.")
    library.add_articles([extra])
    report = library.build(STORIES[:2])
    assert len(report.removed) == 1
    assert "striker transfers.txt" not in sources(library.search("striker club fee", k=5))
    assert sources(library.search("bright comet sky", k=1)) == ["comet seen.txt"]


def test_duplicate_articles_are_indexed_once(library: Library) -> None:
    copy = replace(STORIES[1], source="mirror/chef.txt", text=STORIES[1].text.upper())
    report = library.add_articles([copy])
    assert report.duplicates and not report.added
    assert library.info().articles == 3


def test_remove_deletes_from_both_indexes(library: Library) -> None:
    target = library.search("volcano ash", k=1)[0]
    assert library.remove(target.article_id)
    for mode in ("dense", "keyword"):
        assert target.article_id not in {hit.article_id for hit in library.search(
            "volcano erupted ash lava", mode=mode, k=5)}
    assert not library.remove(target.article_id)


def test_guild_articles_are_invisible_to_other_guilds(library: Library) -> None:
    secret = article("Secret gig", "The band played a secret gig in a tiny basement bar.")
    library.add_articles([secret], guild_id=GUILD_A)
    seen_by_a = sources(library.search("secret basement gig", guild_id=GUILD_A, k=5))
    assert "secret gig.txt" in seen_by_a
    for guild in (GUILD_B, None):
        for mode in ("hybrid", "dense", "keyword"):
            hits = library.search("secret basement gig band", guild_id=guild, k=10, mode=mode)
            assert "secret gig.txt" not in sources(hits)
    assert library.count_articles(guild_id=GUILD_A, own_only=True) == 1
    assert library.count_articles(guild_id=GUILD_B) == 3
    listed = library.list_articles(guild_id=GUILD_B, limit=50)
    assert "secret gig.txt" not in [info.source for info in listed]


def test_a_guild_cannot_remove_global_or_other_guilds_articles(library: Library) -> None:
    mine = article("Bake sale", "The club held a bake sale for the new roof.")
    library.add_articles([mine], guild_id=GUILD_A)
    own_id = library.list_articles(guild_id=GUILD_A, own_only=True)[0].article_id
    global_id = library.search("volcano", k=1)[0].article_id
    assert not library.remove(global_id, guild_id=GUILD_A)
    assert not library.remove(own_id, guild_id=GUILD_B)
    assert library.remove(own_id, guild_id=GUILD_A)


def test_same_text_in_two_guilds_is_kept_for_each(library: Library) -> None:
    note = article("Club news", "Our club meets on Fridays at the old library.")
    assert library.add_articles([note], guild_id=GUILD_A).added
    assert library.add_articles([note], guild_id=GUILD_B).added
    assert library.search("club meets fridays", guild_id=GUILD_B, k=1)[0].title == "Club news"


def test_reopen_serves_the_same_results(library: Library, fake_embedder: FakeEmbedder) -> None:
    before = library.search("record fee striker", k=3)
    library.close()
    reopened = Library.open(library.folder, fake_embedder)
    assert reopened.search("record fee striker", k=3) == before
    reopened.close()


def test_manifest_describes_the_folder(library: Library) -> None:
    manifest = json.loads((library.folder / MANIFEST_NAME).read_text())
    assert manifest["model_name"] == "fake-hashing"
    assert manifest["dim"] == 64
    assert manifest["articles"] == 3
    assert manifest["format_version"] == 2


def test_missing_index_says_how_to_build(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(IndexMissingError, match="python -m index build"):
        Library.open(tmp_path / "nowhere", fake_embedder)


def test_empty_index_says_so(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    empty = Library.open(tmp_path / "index", fake_embedder, create=True)
    with pytest.raises(EmptyIndexError, match="no articles"):
        empty.ask("who won?")
    empty.close()


def test_other_model_or_dim_is_refused_with_a_rebuild_hint(library: Library) -> None:
    library.close()
    for embedder in (FakeEmbedder(dim=32), FakeEmbedder(name="other-model")):
        with pytest.raises(IndexMismatchError, match="--rebuild"):
            Library.open(library.folder, embedder)


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


def test_weak_evidence_abstains_but_still_lists_closest_articles(library: Library) -> None:
    answer = library.ask("quantum chromodynamics lattice")
    assert answer.abstained and answer.answer is None
    assert answer.hits


def test_answer_quotes_the_matching_sentence_with_its_citation(library: Library) -> None:
    answer = library.ask("who praised the broth?")
    assert not answer.abstained
    assert answer.quotes[0].text == "Critics praised the rich broth and the handmade noodles."
    assert answer.citations[0].title == "Chef wins award"
    assert answer.to_json()["answer"].startswith('"Critics praised')


def test_questions_and_feedback_feed_the_stats(library: Library) -> None:
    answered = library.ask("who praised the broth?")
    unanswered = library.ask("quantum chromodynamics lattice")
    first = library.log_question(answered.question, answered, guild_id=GUILD_A, user_id=1)
    library.log_question(unanswered.question, unanswered, guild_id=GUILD_A, user_id=1)
    library.log_question(unanswered.question.upper(), unanswered, guild_id=GUILD_A, user_id=2)
    library.record_feedback(first, user_id=5, vote=-1)
    library.record_feedback(first, user_id=5, vote=-1)
    stats = library.question_stats(guild_id=GUILD_A)
    assert (stats.asked, stats.unanswered) == (3, 2)
    assert stats.top_unanswered == [("quantum chromodynamics lattice", 2)]
    assert stats.downvoted == [("who praised the broth?", 1)]
    assert library.question_stats(guild_id=GUILD_B).asked == 0
    with pytest.raises(ValueError):
        library.record_feedback(first, user_id=5, vote=3)


def test_a_second_process_sees_writes_without_restart(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    reader = Library.open(library.folder, fake_embedder)
    library.add_articles([article("Comet seen", "A bright comet was seen over the sky.")])
    assert sources(reader.search("bright comet", k=1, mode="dense")) == ["comet seen.txt"]
    reader.close()


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


def test_new_url_or_date_with_the_same_text_updates_without_re_embedding(
    library: Library,
) -> None:
    moved = replace(STORIES[1], url="https://example.org/chef", date="2024-02-03")
    report = library.build([STORIES[0], moved, STORIES[2]])
    assert report.passages == 0 and len(report.unchanged) == 3
    hit = library.search("golden spoon ramen", k=1)[0]
    assert (hit.url, hit.date) == ("https://example.org/chef", "2024-02-03")


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
