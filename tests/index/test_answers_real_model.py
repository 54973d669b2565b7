"""The real model over the seed articles: the questions the product exists for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import load_path
from index.answer import DEFAULT_MIN_EVIDENCE
from index.cli import run
from index.library import Library

pytestmark = pytest.mark.model

JAPAN_TRIP = "Kim Kardashian & Daughter North’s Latest Photos Are Facing Backlash"
MET_GALA = "North West Blasts Mother Kim Kardashian after deserting her at Met Gala"


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory, real_embedder, seeds_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("seeds") / "index"
    library = Library.open(folder, real_embedder, create=True)
    library.build(load_path(seeds_dir).articles)
    library.close()
    return folder


@pytest.fixture
def library(seed_index: Path, real_embedder):
    opened = Library.open(seed_index, real_embedder)
    yield opened
    opened.close()


def test_why_was_kim_criticized_cites_the_japan_trip(library: Library) -> None:
    answer = library.ask("why was Kim criticized?")
    assert not answer.abstained
    assert answer.citations[0].title.startswith(JAPAN_TRIP)
    assert any("critici" in quote.text or "complain" in quote.text for quote in answer.quotes)


def test_met_gala_question_cites_the_met_gala_article(library: Library) -> None:
    answer = library.ask("who went to the Met Gala with North?")
    assert not answer.abstained
    assert answer.citations[0].title == MET_GALA
    assert "Met Gala" in answer.answer


@pytest.mark.parametrize("question", [
    "what is the capital of peru?",
    "how do I bake sourdough bread at home?",
])
def test_off_topic_questions_abstain_with_closest_articles(library: Library, question) -> None:
    answer = library.ask(question)
    assert answer.abstained and answer.answer is None
    assert answer.hits


def test_cli_ask_questions_file_prints_one_json_object_per_line_in_order(
    seed_index: Path, real_embedder, tmp_path: Path, capsys
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("why was Kim criticized?\n\nwhat is the capital of peru?\n")
    code = run(["ask", "--index", str(seed_index), "--json", "--questions", str(questions)],
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
    assert first["evidence"] >= DEFAULT_MIN_EVIDENCE > second["evidence"]
