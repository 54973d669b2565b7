"""The answering path's parts: composition, the extractive answerer's choices, question
validation, and the upgrade of a format-1 index. Fake embedder: structure, not meaning."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus import split_sentences
from corpus.records import Article
from index.answerers.extractive import AnswerPolicy, ExtractiveAnswerer
from index.config import LibraryConfig
from index.embedder import FakeEmbedder
from index.errors import QuestionError
from index.library import Library
from index.manifest import MANIFEST_NAME
from index.parts import Evidence, EvidencePassage, EvidenceSentence, Query, Ranking
from index.question import Question, normalise_question
from index.records import locate_sentences
from index.results import Hit
from index.signals import (
    CAPITALISED_WORD,
    QuestionTerms,
    asks_for,
    has_cue,
    is_boilerplate,
    is_teaser,
    passage_stems,
    read_stored_signals,
    sentence_signals,
    stored_signals,
)
from index.terms import stems

STORIES = [
    Article(title="Volcano erupts", text="The volcano erupted at dawn. Villagers fled the ash.",
            source="volcano.txt"),
    Article(title="Chef wins award", text="The chef won the golden spoon for her ramen. "
            "Critics praised the rich broth and the handmade noodles.", source="chef.txt"),
]


@pytest.fixture
def library(built_library) -> Library:
    return built_library(STORIES)


class OnlyChef:
    """A retriever that always ranks the chef's first passage: proves parts are swappable."""

    name = "only-chef"
    needs_vector = True

    def __init__(self, library: Library) -> None:
        self.library = library

    def retrieve(self, query: Query, k: int) -> Ranking:
        ids = self.library.storage.store.passage_ids_in(query.scopes)
        rows = self.library.storage.store.passages(ids.tolist(), query.scopes)
        return [(pid, 1.0) for pid, row in rows.items() if row.source == "chef.txt"][:k]


def test_a_retriever_is_a_part_swapped_without_editing_library(library: Library) -> None:
    assert library.search("volcano ash", k=1)[0].source == "volcano.txt"
    library.pipeline.retrievers = {"only-chef": OnlyChef(library)}
    assert [hit.source for hit in library.search("volcano ash", k=2)] == ["chef.txt"]


def test_near_copies_are_dropped_by_vector_and_only_the_kept_passages_read_whole(
        library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    chef = STORIES[1]
    library.add_articles([replace(chef, text=f"{chef.text} Delicious.", source="copy.txt")])
    source = library.pipeline._store
    read_whole: list[list[int]] = []
    evidence = source.evidence

    def recording(passage_ids, scopes, dim):
        read_whole.append(list(passage_ids))
        return evidence(passage_ids, scopes, dim)

    monkeypatch.setattr(source, "evidence", recording)
    hits = library.search("chef ramen broth noodles", k=2)
    assert len([hit for hit in hits if hit.title == chef.title]) == 1  # the copy dropped
    assert [hit.source for hit in hits][1] == "volcano.txt"
    assert read_whole == [[hit.passage_id for hit in hits]]


def evidence_of(question: str, sentences: list[tuple[str, list[float]]],
                vector: list[float]) -> tuple[Query, Evidence]:
    """One passage made of `sentences` (text, 2-d vector), for the answerer alone."""
    text = " ".join(s for s, _ in sentences)
    hit = Hit(rank=1, score=1.0, article_id="a1", title="Story", source="s.txt", url=None,
              date=None, passage=text, passage_id=1)
    unit = [np.array(v, np.float32) / np.linalg.norm(v) for _, v in sentences]
    passage = EvidencePassage(hit, np.array(vector, np.float32), 0, [
        EvidenceSentence(s, order, u) for order, ((s, _), u) in enumerate(
            zip(sentences, unit, strict=True))])
    query = Query(question, np.array(vector, np.float32), ("global",))
    terms = QuestionTerms.of(question, lambda word: 1, 10, [text])
    return query, Evidence([passage], terms, 1.0)


def test_why_question_leads_with_the_reason_not_the_teaser() -> None:
    query, evidence = evidence_of("why was Kim criticized?", [
        ("Her photos sparked comments criticizing her for one thing in particular, and it's "
         "really bizarre.", [1.0, 0.1]),
        ("People were complaining because she left her kids at home.", [0.9, 0.3]),
        ("Image Credit: Getty Images", [0.2, 1.0]),
    ], [1.0, 0.2])
    draft = ExtractiveAnswerer().answer(query, evidence)
    assert draft.answer.quotes[0].text.startswith("People were complaining")
    assert all("Image Credit" not in quote.text for quote in draft.answer.quotes)
    assert 0.0 <= draft.confidence <= 1.0


def test_quotes_stay_within_the_length_budget_and_skip_repeats() -> None:
    long = "The chef won the golden spoon award for her ramen in Tokyo last night. " * 3
    query, evidence = evidence_of("what did the chef win?", [
        (long.strip(), [1.0, 0.0]),
        (long.strip().replace("Tokyo", "Osaka"), [1.0, 0.01]),
        ("The chef won the golden spoon.", [1.0, 0.0]),
    ], [1.0, 0.0])
    quotes = ExtractiveAnswerer(AnswerPolicy(max_chars=300)).answer(query, evidence).answer.quotes
    assert sum(len(q.text) for q in quotes) <= 300
    assert len({q.text for q in quotes}) == len(quotes)


@pytest.mark.parametrize(("question", "kind"), [
    ("why was Kim criticized?", "reason"), ("how old is betty white", "number"),
    ("when did prince die", "time"), ("where was the wedding", "place"),
    ("who went to the met gala with north", "person"), ("what did she wear", None),
])
def test_what_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asks_for(question) == kind


def test_teasers_and_boilerplate_are_recognised() -> None:
    assert is_teaser("Here’s why fans are furious.")
    assert is_teaser("Would a dad ever get treated this way?")
    assert not is_teaser("She left her three other kids at home.")
    assert is_boilerplate("A post shared by Kim Kardashian (@kimkardashian)")
    assert not is_boilerplate("Kim shared a post from Tokyo.")


def test_stored_signals_read_back_as_each_sentence_computes_them() -> None:
    text = ("Kim took North to Japan! Here's why fans are furious: "
            "A post shared by Kim (@kim) Related stories ... So what?")
    sentences = split_sentences(text)
    spans = [(start, end) for _, start, end in locate_sentences(text, sentences)]
    assert len(spans) == len(sentences) >= 3
    stored = stored_signals(text, spans)
    read = read_stored_signals(stored, len(spans))
    assert read == [sentence_signals(text[start:end]) for start, end in spans]
    assert any(signals.teaser for signals in read) and any(s.boilerplate for s in read)
    assert read_stored_signals(stored, len(spans) + 1) is None  # spans changed since
    other_rules = "s0:000000000000" + stored[stored.index("\n"):]
    assert read_stored_signals(other_rules, len(spans)) is None
    assert read_stored_signals(None, len(spans)) is None
    damaged = stored.replace("\n", "\nx ", 1)  # a line whose word count is no number
    assert read_stored_signals(damaged, len(spans)) is None
    assert read_stored_signals(stored.rsplit("\n", 1)[0] + "\n", len(spans)) is None
    assert read_stored_signals(stored_signals(text, []), 0) == []


def test_a_passages_stems_are_its_titles_and_its_sentences() -> None:
    title = "Kim Kardashian Slammed For Japan Trip"
    text = ("Kim took North to Japan. She left Saint, Chicago and Psalm at home! "
            "Fans called it the “WORST MOTHER AWARD”.")
    signals = [sentence_signals(sentence) for sentence in split_sentences(text)]
    assert passage_stems(title, signals) == stems(f"{title} {text}")


@pytest.mark.parametrize(("kind", "sentence", "expected"), [
    ("reason", "Because she left the kids at home.", True),
    ("reason", "She wore a red dress.", False),
    ("time", "In MARCH 2019 she moved.", True),
    ("number", "Twenty fans waited.", True),
    ("place", "She flew to Tokyo.", True),  # a place is written with a capital
    ("place", "She flew to the moon.", False),
    ("person", "She met Pete Davidson.", True),
    ("person", "she met pete davidson.", False),
    (None, "Because of it.", False),
])
def test_a_cue_for_what_the_question_asks_is_found_in_any_case(
        kind: str | None, sentence: str, expected: bool) -> None:
    assert has_cue(kind, sentence) is expected


def test_a_missing_specific_word_weighs_as_much_as_it_is_rare() -> None:
    frequency = {"justin": 50, "bieber": 50, "justice": 0, "tour": 3}.get
    terms = QuestionTerms.of("why did justin bieber cancel his justice tour",
                             lambda word: frequency(word, 0), 1000, ["Justin Bieber sang."])
    found = {"justin", "bieber"}
    assert terms.most_specific_missing(found) == 1.0
    assert terms.coverage(found) < 0.3
    assert terms.names == {"justin", "bieber"}


def test_names_are_capitalised_words_not_opening_a_sentence() -> None:
    terms = QuestionTerms.of("did justice league tour", lambda word: 1, 10,
                             ["The tour was over. Justice came late to the League's party."])
    assert terms.names == frozenset()  # "Justice" opens a sentence, "League's" is another word
    terms = QuestionTerms.of("did justice league tour", lambda word: 1, 10,
                             ["Zack's Justice League, on tour"])
    assert terms.names == {"justic", "leagu"}


@given(st.text(alphabet=st.sampled_from("aZ'-_.!? \n\t\u00a0É1é"), max_size=40))
def test_capitalised_words_are_found_as_read_in_order(text: str) -> None:
    """The pattern starts at the capital for speed; it finds what the plain reading-order
    pattern finds."""
    assert CAPITALISED_WORD.findall(text) == re.findall(r"(?<![.!?]\s)\b[A-Z][\w'-]*", text)


def test_question_is_validated_once_with_the_configured_limit(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    long_question = "volcano " * 100  # 800 characters: over the default 500
    roomy = Library.open(tmp_path / "index", fake_embedder, create=True,
                         config=LibraryConfig(max_question_chars=1_000))
    roomy.build(STORIES)
    assert roomy.search(long_question, k=1)[0].source == "volcano.txt"
    with pytest.raises(QuestionError, match="1000"):
        roomy.ask("why " * 400)
    roomy.close()
    checked = normalise_question("kim \x00\x1b[31m \ud800 north", 500)
    assert isinstance(checked, Question) and checked == "kim [31m north"
    assert normalise_question(checked, 5) is checked  # validated once, not again


def test_evidence_carries_its_sentences_vectors_as_stored(library: Library) -> None:
    """The answerer reads the sentences' vectors as one matrix; its rows are the
    sentences', as the store keeps them, and none where the store has none."""
    query = library.query("who praised the broth?", embed=True)
    passages = library.pipeline.retrieve(query, 2).passages
    assert passages
    for passage in passages:
        assert passage.sentence_vectors is not None
        assert len(passage.sentences) > 0
        np.testing.assert_array_equal(passage.sentence_vectors,
                                      np.vstack([s.vector for s in passage.sentences]))
    with library.storage.store.transaction() as db:
        db.execute("UPDATE passages SET sentence_spans = NULL, sentence_vectors = NULL")
    unstored = library.pipeline.retrieve(query, 2).passages
    assert unstored and all(p.sentence_vectors is None for p in unstored)
    assert all(s.vector is None for p in unstored for s in p.sentences)


def test_a_format_1_index_is_upgraded_in_place_with_sentence_vectors(
    library: Library, fake_embedder: FakeEmbedder
) -> None:
    before = library.ask("who praised the broth?")
    store = library.storage.store
    with store.transaction() as db:
        db.execute("UPDATE passages SET sentence_spans = NULL, sentence_vectors = NULL")
    library.close()
    path = library.folder / MANIFEST_NAME
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 1}))
    upgraded = Library.open(library.folder, fake_embedder)
    missing = upgraded.storage.store.passages_without_sentences(10)
    assert missing == []
    assert json.loads(path.read_text())["format_version"] == 2
    after = upgraded.ask("who praised the broth?")
    assert [q.text for q in after.quotes] == [q.text for q in before.quotes]
    upgraded.close()


def test_answer_json_says_how_it_was_made(library: Library) -> None:
    data = library.ask("who praised the broth?").to_json()
    assert {"answered_by", "confidence", "note", "quotes"} <= set(data)
    assert data["answered_by"] == "extractive"

