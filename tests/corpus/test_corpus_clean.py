"""Cleaning drops scraped boilerplate and keeps every sentence of the story."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import clean_text, clean_title

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "articles"
# Byte-for-byte copies of the two seed articles (samples/SOURCE.txt says where from).
JAPAN_TRIP = SAMPLES / "kim-kardashian-japan-trip.txt"
MET_GALA = SAMPLES / "north-west-met-gala.txt"

JAPAN_TRIP_BOILERPLATE = (
    "Related story",
    "Meghan Markle’s Mom Was Just Spotted With Hollywood Royalty",
    "Image Credit",
    "Getty Images",
    "A post shared by",
    "Source: Read Full Article",
    "•",
)


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_japan_trip_seed_loses_its_boilerplate() -> None:
    cleaned = clean_text(JAPAN_TRIP.read_text(encoding="utf-8"))
    for boilerplate in JAPAN_TRIP_BOILERPLATE:
        assert boilerplate not in cleaned


def test_japan_trip_seed_keeps_every_story_line() -> None:
    raw = JAPAN_TRIP.read_text(encoding="utf-8")
    cleaned_lines = set(_lines(clean_text(raw)))
    story_lines = [
        line.lstrip("• ")
        for line in _lines(raw)
        if not any(line.startswith(b) for b in JAPAN_TRIP_BOILERPLATE)
        and not line.startswith("Image Credit")
    ]
    assert len(story_lines) == 15  # 25 lines: 7 boilerplate, 3 bulleted section titles
    missing = [line for line in story_lines if line not in cleaned_lines]
    assert missing == []
    assert (
        "People were complaining about the fact that Kardashian was on a solo trip with North, "
        "while leaving her kids Saint, 7, Chicago, 5, and Psalm, 4, at home."
    ) in cleaned_lines


def test_japan_trip_seed_section_titles_lose_their_bullets() -> None:
    cleaned_lines = _lines(clean_text(JAPAN_TRIP.read_text(encoding="utf-8")))
    assert "The Comments" in cleaned_lines
    assert "No Stranger to Backlash" in cleaned_lines


def test_met_gala_seed_is_left_whole() -> None:
    raw = MET_GALA.read_text(encoding="utf-8")
    assert _lines(clean_text(raw)) == _lines(raw)


def test_paragraphs_are_separated_by_one_blank_line_and_spaces_collapsed() -> None:
    text = "  First   para\u00a0line.\r\n\r\n\r\n\n Second\tpara.  \n\u200bsame para.\n"
    assert clean_text(text) == "First para line.\n\nSecond para.\nsame para."


@pytest.mark.parametrize(
    "line",
    [
        "Related: Glenn Close says her new zombie movie is a thriller",
        "RELATED VIDEO: WATCH: Who is the Last Person Kendall Jenner Called?",
        "Image Credit: Allen Berezovsky/Getty Images",
        "Photo: Splash",
        "PHOTOS: See All of Kylie Jenner's Most Colorful Hairstyles",
        "Stefanie Keenan/Getty Images for Daily Front Row",
        "Getty Images",
        "Rex Features",
        "A post shared by Kim Kardashian (@kimkardashian)",
        "Source: Read Full Article",
        "Read more…",
        "Sign up for our daily newsletter",
        "Can't get enough of Us? Sign up now for the Us Weekly newsletter packed with news!",
        "Subscribe to the Celebrity newsletter",
        "This video is unavailable",
        "Your browser does not support HTML5 video.",
        "Ad Feedback",
        "ADVERTISEMENT",
        "Advertisement - story continues below",
        "Click to share on Twitter (Opens in new window)",
        "See the most-read stories in Entertainment this hour »",
        "WATCH: OJ Simpson Granted Parole",
        '[instagram id="ir9cKow4dA"]',
        "By Ciara Sheppard",
    ],
)
def test_boilerplate_line_is_dropped(line: str) -> None:
    text = f"Before the line.\n\n{line}\n\nAfter the line."
    assert clean_text(text) == "Before the line.\n\nAfter the line."


@pytest.mark.parametrize(
    "line",
    [
        # Story sentences that merely start like boilerplate.
        "Reuters reported that the couple had split in March.",
        "Subscribers to her channel were furious, and she apologised the next day in a long "
        "statement that she posted to every platform she uses, including a newsletter that "
        "goes out to more than a million readers every single week without fail.",
        "Watch Kim Kardashian's behind-the-scenes video from their April 2014 cover shoot:",
        "Related to this, she also cancelled her tour.",
        "Up next, she will star in a film about her mother.",
        "The Comments",
        "by then it was too late.",
    ],
)
def test_story_line_is_kept(line: str) -> None:
    assert clean_text(f"Before.\n\n{line}\n\nAfter.") == f"Before.\n\n{line}\n\nAfter."


def test_teaser_headline_after_read_next_is_dropped_even_when_repeated() -> None:
    text = (
        "Story starts.\n\nREAD NEXT\n\nKendall Jenner opens up about her acne\n\n"
        "Kendall Jenner opens up about her acne\n\nStory goes on."
    )
    assert clean_text(text) == "Story starts.\n\nStory goes on."


def test_a_sentence_after_related_story_is_kept() -> None:
    text = "Story starts.\n\nRelated story\n\nShe said she was happy with the result."
    assert clean_text(text) == "Story starts.\n\nShe said she was happy with the result."


@pytest.mark.parametrize("glyph", ["•", "·", "▪", "►", "●"])
def test_bullet_glyphs_are_removed(glyph: str) -> None:
    assert clean_text(f"{glyph} First point.\n{glyph}Second point.") == (
        "First point.\nSecond point."
    )


def test_inline_read_more_link_is_cut_from_titles_and_text() -> None:
    title = "Is Evian Water The Secret? Read more at: https://tr.im/207sZ"
    assert clean_title(title) == "Is Evian Water The Secret?"
    assert clean_text("She drinks it. Read more at: https://tr.im/x") == "She drinks it."


def test_empty_and_all_boilerplate_text_clean_to_nothing() -> None:
    assert clean_text("") == ""
    assert clean_text("\n\nAdvertisement\n\nGetty Images\n") == ""
