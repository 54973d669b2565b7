"""The real model over the sample articles: the questions the product exists for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import load_path
from index.cli import run
from index.library import Library
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.model

JAPAN_TRIP = "Kim Kardashian & Daughter North’s Latest Photos Are Facing Backlash"
MET_GALA = "North West Blasts Mother Kim Kardashian after deserting her at Met Gala"
# What the Japan-trip article gives as the reason (any one is an answer): the solo trip
# with North, the kids left at home, the "worst mother" comments, the braids.
KIM_REASONS = ("solo trip", "Psalm", "WORST MOTHER", "bad mom", "braids")


@pytest.fixture(scope="module", params=["encoded", "pooled"])
def sample_index(request, tmp_path_factory, real_embedder) -> Path:
    """The sample corpus the product ships with (13 articles, both seeds among them), once
    per kind of sentence vector (index/spans.py): an index built before pooling (encoded,
    with its weights) must answer as well as a new pooled one."""
    folder = tmp_path_factory.mktemp(f"samples-{request.param}") / "index"
    library = Library.open(folder, real_embedder, create=True, sentence_vectors=request.param)
    library.build(load_path(SAMPLE_DIR).articles)
    assert library.storage.sentence_vectors == request.param
    library.close()
    return folder


@pytest.fixture
def library(sample_index: Path, real_embedder):
    opened = Library.open(sample_index, real_embedder)
    yield opened
    opened.close()


def test_why_was_kim_criticized_answers_with_the_reason_from_the_japan_trip(
    library: Library,
) -> None:
    answer = library.ask("why was Kim criticized?")
    assert not answer.abstained
    assert all(citation.title.startswith(JAPAN_TRIP) for citation in answer.citations)
    assert any(reason in answer.answer for reason in KIM_REASONS), answer.answer
    assert "one thing in particular" not in answer.quotes[0].text  # not the teaser


def test_met_gala_companion_question_cites_the_met_gala_article(library: Library) -> None:
    answer = library.ask("who went to the Met Gala with North?")
    assert not answer.abstained
    assert answer.citations[0].title == MET_GALA
    assert "mother" in answer.answer


@pytest.mark.parametrize("question", [
    "what is the capital of peru?",
    "how do I bake sourdough bread at home?",
    # A covered person, an uncovered event: the articles never mention a Justice tour.
    "why did justin bieber cancel his justice tour",
])
def test_questions_the_articles_do_not_answer_abstain_with_closest_articles(
    library: Library, question: str
) -> None:
    answer = library.ask(question)
    assert answer.abstained and answer.answer is None, answer.answer
    assert answer.hits


def test_answers_stay_short(library: Library) -> None:
    for question in ("why was Kim criticized?", "how old did betty white turn",
                     "what did taylor swift deny"):
        answer = library.ask(question)
        assert answer.abstained or len(answer.answer) <= 450, answer.answer


def test_cli_ask_questions_file_prints_one_json_object_per_line_in_order(
    sample_index: Path, real_embedder, tmp_path: Path, capsys
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("why was Kim criticized?\n\nwhat is the capital of peru?\n")
    code = run(["ask", "--index", str(sample_index), "--json", "--questions", str(questions)],
               embedder=real_embedder)
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["question"] for o in objects] == [
        "why was Kim criticized?", "what is the capital of peru?"]
    first, second = objects
    assert first["abstained"] is False and first["answer"]
    assert first["citations"][0]["title"].startswith(JAPAN_TRIP)
    hit = first["hits"][0]
    assert set(hit) == {"rank", "score", "article_id", "title", "source", "url", "date", "passage"}
    assert hit["source"].endswith(".txt") and not hit["source"].startswith("/")
    assert second["abstained"] is True and second["answer"] is None and second["hits"]
    assert first["confidence"] > second["confidence"]
