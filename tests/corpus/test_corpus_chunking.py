"""Sentence splitting and sentence-aware chunking."""

from __future__ import annotations

import itertools

import pytest

from corpus import Article, chunk_article, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Smith met Mrs. Jones. They left.", ["Mr. Smith met Mrs. Jones.", "They left."]),
        ("Dr. J. K. Rowling spoke. Fans cheered.", ["Dr. J. K. Rowling spoke.", "Fans cheered."]),
        ("He moved to the U.S. in 2004 to act.", ["He moved to the U.S. in 2004 to act."]),
        ("It cost $3.50 at 2.5 p.m. yesterday.", ["It cost $3.50 at 2.5 p.m. yesterday."]),
        (
            '"Really?" she asked. "Yes." He nodded.',
            ['"Really?" she asked.', '"Yes."', "He nodded."],
        ),
        ("She wrote, “I’m out.” Then she left.", ["She wrote, “I’m out.”", "Then she left."]),
        ("(It was late.) Everyone left.", ["(It was late.)", "Everyone left."]),
        ("She said no. Then No. 5 won.", ["She said no.", "Then No. 5 won."]),
        ("Wait… What happened?", ["Wait…", "What happened?"]),
        ("A heading\n\nThe body\nwraps here.", ["A heading", "The body wraps here."]),
        ("Kim, Kourtney etc. were there.", ["Kim, Kourtney etc. were there."]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def _article(text: str) -> Article:
    return Article(title="T", text=text, source="t.txt")


def _numbered_sentences(count: int, words: int = 10) -> list[str]:
    return [f"Sentence {n} " + " ".join(["word"] * (words - 3)) + " end." for n in range(count)]


def _word_count(text: str) -> int:
    return len(text.split())


def test_empty_article_gives_no_passage() -> None:
    assert chunk_article(_article("")) == []
    assert chunk_article(_article(" \n\n ")) == []


def test_short_article_gives_one_passage() -> None:
    passages = chunk_article(_article("Only a few words here. And a second sentence."))
    assert [(p.position, p.text) for p in passages] == [
        (0, "Only a few words here. And a second sentence.")
    ]


def test_passages_are_whole_sentences_within_bounds_with_one_sentence_overlap() -> None:
    sentences = _numbered_sentences(60)  # 600 words in 10-word sentences
    passages = chunk_article(_article(" ".join(sentences)), min_words=40, max_words=100)
    assert [p.position for p in passages] == list(range(len(passages)))
    assert len(passages) >= 6
    for passage in passages:
        assert 40 <= _word_count(passage.text) <= 100
        parts = split_sentences(passage.text)
        assert all(part in sentences for part in parts)  # never cut mid-sentence
    for before, after in itertools.pairwise(passages):
        assert split_sentences(after.text)[0] == split_sentences(before.text)[-1]
    covered = {s for p in passages for s in split_sentences(p.text)}
    assert covered == set(sentences)


def test_no_overlap_when_asked_for_none() -> None:
    sentences = _numbered_sentences(30)
    passages = chunk_article(_article(" ".join(sentences)), max_words=100, overlap_sentences=0)
    assert [s for p in passages for s in split_sentences(p.text)] == sentences


def test_small_tail_is_merged_into_the_previous_passage() -> None:
    # 110 words: a 100-word passage would leave a 10-word tail.
    sentences = _numbered_sentences(11)
    passages = chunk_article(_article(" ".join(sentences)), min_words=40, max_words=100)
    assert len(passages) == 2
    assert all(_word_count(p.text) >= 40 for p in passages)
    assert split_sentences(passages[-1].text)[-1] == sentences[-1]


def test_sentence_longer_than_max_stays_whole() -> None:
    long_sentence = " ".join(["word"] * 180) + "."
    passages = chunk_article(_article(f"Short start here. {long_sentence} Short end here."))
    assert any(long_sentence in p.text for p in passages)


def test_run_on_text_longer_than_twice_max_is_cut_at_word_boundaries() -> None:
    words = [f"w{n}" for n in range(1000)]
    passages = chunk_article(_article(" ".join(words)), max_words=150)
    assert all(_word_count(p.text) <= 150 for p in passages)
    rebuilt = [w for p in passages for w in p.text.split()]
    assert set(rebuilt) == set(words)  # every word kept, none cut in half


def test_one_megabyte_word_is_cut_into_bounded_passages() -> None:
    passages = chunk_article(_article("x" * 1_000_000))
    assert len(passages) > 100
    assert max(len(p.text) for p in passages) <= 150 * 20


def test_passage_closes_at_a_paragraph_break_when_the_next_paragraph_does_not_fit() -> None:
    first = " ".join(_numbered_sentences(5))  # 50 words
    second = " ".join(_numbered_sentences(12))  # 120 words
    passages = chunk_article(_article(f"{first}\n\n{second}"), min_words=40, max_words=150)
    assert passages[0].text == first


def test_section_title_opens_the_next_passage() -> None:
    first = " ".join(_numbered_sentences(9))  # 90 words
    second = " ".join(_numbered_sentences(9))
    text = f"{first}\n\nIn Defense of One on One Time\n\n{second}"
    passages = chunk_article(_article(text), min_words=40, max_words=100)
    assert passages[0].text == first
    assert passages[1].text.startswith("In Defense of One on One Time Sentence 0")


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_article(_article("Text."), min_words=100, max_words=50)
