"""The library's contract, one suite for every storage backend (`library_backend`: the
embedded folder and PostgreSQL): storage, scopes, search modes, answers, the question log,
model checks, several Library objects on one store. Embedded-only behaviour (manifest.json,
dense.faiss) is in test_library.py; PostgreSQL-only in test_pg_*.py."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.errors import EmptyIndexError, IndexMismatchError, IndexMissingError
from index.library import Library
from tests.index.backends import Backend
from tests.index.test_library import GUILD_A, GUILD_B, STORIES, article, sources


@pytest.fixture
def library(library_backend: Backend, fake_embedder: FakeEmbedder) -> Library:
    opened = library_backend.open(fake_embedder, create=True)
    opened.build(STORIES)
    yield opened
    opened.close()


def ids(hits) -> list[str]:
    return [hit.article_id for hit in hits]


# -- adding, updating, removing -----------------------------------------------------------
def test_build_reports_and_search_finds_each_story(library: Library) -> None:
    info = library.info()
    assert (info.articles, info.dim, info.dense_vectors) == (3, 64, info.passages)
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
    assert library.info().dense_vectors == library.info().passages


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
        assert target.article_id not in ids(library.search("volcano erupted ash lava",
                                                           mode=mode, k=5))
    assert not library.remove(target.article_id)
    assert library.info().dense_vectors == library.info().passages


def test_new_url_or_date_with_the_same_text_updates_without_re_embedding(
    library: Library,
) -> None:
    moved = replace(STORIES[1], url="https://example.org/chef", date="2024-02-03")
    report = library.build([STORIES[0], moved, STORIES[2]])
    assert report.passages == 0 and len(report.unchanged) == 3
    hit = library.search("golden spoon ramen", k=1)[0]
    assert (hit.url, hit.date) == ("https://example.org/chef", "2024-02-03")


# -- scopes -------------------------------------------------------------------------------
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
    assert library.get_article(ids(library.search("secret gig", guild_id=GUILD_A, k=1))[0],
                               guild_id=GUILD_B) is None
    # How rare a question's word is (answer scoring) is counted within the asker's scopes.
    frequency = library.storage.passages.document_frequency
    assert frequency("basement", ("global", str(GUILD_A))) == 1
    assert frequency("basement", ("global", str(GUILD_B))) == frequency("basement",
                                                                         ("global",)) == 0
    assert frequency("ramen", ("global", str(GUILD_B))) == frequency("ramen", ("global",)) == 1


def test_candidates_vectors_are_read_only_within_the_askers_scopes(library: Library) -> None:
    library.add_articles([article("Secret gig", "A secret gig in a basement bar.")],
                         guild_id=GUILD_A)
    source, everyone = library.storage.passages, list(range(1, 1_000))
    seen_by_a = source.passage_vectors(everyone, ("global", str(GUILD_A)))
    seen_by_b = source.passage_vectors(everyone, ("global", str(GUILD_B)))
    assert set(seen_by_b) < set(seen_by_a)
    rows = source.evidence(sorted(seen_by_a), ("global", str(GUILD_A)), library.embedder.dim)
    assert {row.passage.id for row in rows} == set(seen_by_a)
    for row in rows:
        np.testing.assert_array_equal(seen_by_a[row.passage.id], row.vector)
    assert source.passage_vectors([], ("global",)) == {}


def test_a_guild_with_few_articles_among_many_still_gets_k_results(
    library_backend: Backend, fake_embedder: FakeEmbedder
) -> None:
    """Three of A's articles among 150 of B's on the same topic and 150 global ones: A's
    searches return k passages, its own first, and never one of B's (a filter applied
    after an approximate search would return too few, or none of A's)."""
    library = library_backend.open(fake_embedder, create=True)
    topic = "The harbour festival lantern parade"
    library.build([article(f"Global {n}", f"{topic} notice {n} for the town.") for n in range(150)])
    library.add_articles([article(f"B {n}", f"{topic} secret plan {n} of server B.")
                          for n in range(150)], guild_id=GUILD_B)
    library.add_articles([article(f"A {n}", f"{topic} secret plan {n} of server A.")
                          for n in range(3)], guild_id=GUILD_A)
    for mode in ("dense", "keyword", "hybrid"):
        hits = library.search(f"{topic} secret plan server", guild_id=GUILD_A, k=20, mode=mode)
        titles = [hit.title for hit in hits]
        assert len(hits) == 20, mode
        assert not [title for title in titles if title.startswith("B ")], mode
        assert {"A 0", "A 1", "A 2"} <= set(titles[:5]), (mode, titles)
    library.close()


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


# -- answers ------------------------------------------------------------------------------
def test_answer_quotes_the_matching_sentence_with_its_citation(library: Library) -> None:
    answer = library.ask("who praised the broth?")
    assert not answer.abstained
    assert answer.quotes[0].text == "Critics praised the rich broth and the handmade noodles."
    assert answer.citations[0].title == "Chef wins award"
    assert answer.to_json()["answer"].startswith('"Critics praised')


def _forget_signals(library: Library) -> None:
    """As a library stored before sentence signals were kept (or by other rules) is."""
    if library.storage.database is None:
        with library.storage.store.transaction() as db:
            db.execute("UPDATE passages SET sentence_signals = NULL")
    else:
        with library.storage.database.transaction() as connection:
            connection.execute("UPDATE passages SET sentence_signals = 's0:other rules'")


def test_sentence_signals_stored_at_ingest_serve_answers_and_are_filled_in_when_missing(
        library: Library, monkeypatch) -> None:
    question = "who praised the broth?"
    computed = library.ask(question)

    def refuse(text: str) -> None:
        raise AssertionError(f"signals computed while answering: {text!r}")

    with monkeypatch.context() as patched:
        patched.setattr("index.parts.sentence_signals", refuse)
        assert library.ask(question) == computed  # every sentence read its stored signals

    assert not library.signals_missing()
    _forget_signals(library)
    assert library.signals_missing()
    assert library.ask(question) == computed  # computed again, the same answer
    with monkeypatch.context() as patched:
        patched.setattr("index.parts.sentence_signals", refuse)
        with pytest.raises(AssertionError, match="signals computed"):
            library.ask(question)
        assert list(library.fill_signals())[-1] == library.info().passages
        assert library.ask(question) == computed
    assert list(library.fill_signals()) == []  # nothing left to fill
    assert not library.signals_missing()


def test_weak_evidence_abstains_but_still_lists_closest_articles(library: Library) -> None:
    answer = library.ask("quantum chromodynamics lattice")
    assert answer.abstained and answer.answer is None
    assert answer.hits


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
    with pytest.raises(KeyError):
        library.record_feedback(first + 1000, user_id=5, vote=1)


# -- opening ------------------------------------------------------------------------------
def test_missing_library_says_how_to_build(library_backend: Backend,
                                           fake_embedder: FakeEmbedder) -> None:
    with pytest.raises(IndexMissingError, match="python -m index build"):
        library_backend.open(fake_embedder)


def test_empty_library_says_so(library_backend: Backend, fake_embedder: FakeEmbedder) -> None:
    empty = library_backend.open(fake_embedder, create=True)
    with pytest.raises(EmptyIndexError, match="no articles"):
        empty.ask("who won?")
    empty.close()


def test_reopen_serves_the_same_results(library: Library, library_backend: Backend,
                                        fake_embedder: FakeEmbedder) -> None:
    before = library.search("record fee striker", k=3)
    library.close()
    reopened = library_backend.open(fake_embedder)
    assert reopened.search("record fee striker", k=3) == before
    reopened.close()


def test_other_model_dim_or_backend_is_refused_with_a_rebuild_hint(
    library: Library, library_backend: Backend
) -> None:
    quantised = FakeEmbedder()
    quantised.backend = "onnx-int8"  # same weights' digest, other vectors
    for embedder in (FakeEmbedder(dim=32), FakeEmbedder(name="other-model"), quantised):
        with pytest.raises(IndexMismatchError, match="--rebuild"):
            library_backend.open(embedder)


# -- several Library objects on one store (several processes) -----------------------------
def test_a_second_library_sees_writes_at_once(library: Library, library_backend: Backend,
                                              fake_embedder: FakeEmbedder) -> None:
    reader = library_backend.open(fake_embedder)
    library.add_articles([article("Comet seen", "A bright comet was seen over the sky.")])
    for mode in ("dense", "keyword"):
        assert sources(reader.search("bright comet", k=1, mode=mode)) == ["comet seen.txt"]
    library.remove(reader.search("bright comet", k=1)[0].article_id)
    assert "comet seen.txt" not in sources(reader.search("bright comet", k=3))
    reader.close()


GUILDS = (101, 202, 303)


def guild_article(guild: int, n: int) -> Article:
    # Every guild's articles share words with the others', so a missing scope filter
    # would return foreign passages.
    return Article(title=f"Secret {guild} number {n}",
                   text=f"The secret recipe {n} of guild {guild} uses saffron and honey.",
                   source=f"g{guild}-{n}.txt")


def test_threaded_guild_writes_and_reads_on_two_libraries_never_show_a_foreign_article(
    library_backend: Backend, fake_embedder: FakeEmbedder
) -> None:
    """Threads write through one Library and read through another on the same store (two
    processes' view): every write is seen, no search ever shows another guild's."""
    library = library_backend.open(fake_embedder, create=True)
    library.build([Article(title="Public recipe", text="A public saffron honey recipe.",
                           source="public.txt")])
    reader = library_backend.open(fake_embedder)
    foreign: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_as(guild: int) -> None:
        while not stop.is_set():
            try:
                for mode in ("hybrid", "dense", "keyword"):
                    for hit in reader.search("secret saffron honey recipe", guild_id=guild,
                                             k=10, mode=mode):
                        if hit.source.startswith("g") and not hit.source.startswith(f"g{guild}"):
                            foreign.append(f"{guild} saw {hit.source} ({mode})")
                answer = reader.ask("secret saffron honey recipe", guild_id=guild)
                for hit in answer.hits:
                    if hit.source.startswith("g") and not hit.source.startswith(f"g{guild}"):
                        foreign.append(f"{guild} was answered from {hit.source}")
            except BaseException as error:
                errors.append(error)
                return

    def write_as(guild: int) -> None:
        for n in range(12):
            report = library.add_articles([guild_article(guild, n)], guild_id=guild)
            if n % 3 == 2:
                library.remove(report.added[0], guild_id=guild)

    readers = [threading.Thread(target=ask_as, args=(g,)) for g in GUILDS]
    writers = [threading.Thread(target=write_as, args=(g,)) for g in GUILDS]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert foreign == []
    assert reader.count_articles(guild_id=GUILDS[0], own_only=True) == 8
    assert reader.search("secret recipe 10", guild_id=GUILDS[1], k=1)[0].title == (
        f"Secret {GUILDS[1]} number 10")
    own = sum(reader.count_articles(guild_id=guild, own_only=True) for guild in GUILDS)
    assert reader.info().dense_vectors == own + 1
    reader.close()
    library.close()
