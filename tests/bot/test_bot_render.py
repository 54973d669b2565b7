"""Rendering answers within Discord's limits, escaped, and the same wording in plain text."""

from __future__ import annotations

import discord
import pytest

from bot import render
from bot.render import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MAX_FIELDS,
    NOT_FOUND,
    answer_embed,
    answer_text,
    escape_discord,
    hits_embed,
    join_within,
    safe_url,
    truncate,
)
from index.results import Answer, Citation, Hit, Quote

JAPAN_URL = "https://example.com/kim-japan_trip"


def hit(n: int, title: str = "Kim criticized over Japan trip", url: str | None = JAPAN_URL,
        passage: str = "Fans criticized Kim Kardashian for her Japan trip.") -> Hit:
    return Hit(rank=n, score=1.0 / n, article_id=f"a{n}", title=title, source=f"celebrity/{n}.txt",
               url=url, date="2024-05-01T10:00:00", passage=passage, passage_id=n)


def answered(quotes: list[str], citations: list[Citation] | None = None) -> Answer:
    citations = citations or [Citation(number=1, article_id="a1",
                                       title="Kim criticized over Japan trip",
                                       date="2024-05-01", url=JAPAN_URL,
                                       source="celebrity/1.txt")]
    return Answer(
        question="why was Kim criticized?", abstained=False,
        quotes=[Quote(text=text, citation=1 + i % len(citations)) for i, text in enumerate(quotes)],
        citations=citations, hits=[hit(1)],
    )


def assert_within_limits(embed: discord.Embed) -> None:
    assert len(embed.title or "") <= EMBED_TITLE_LIMIT
    assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
    assert len(embed.fields) <= MAX_FIELDS
    for field in embed.fields:
        assert 0 < len(field.name) <= FIELD_NAME_LIMIT
        assert 0 < len(field.value) <= FIELD_VALUE_LIMIT
    assert len(embed.footer.text or "") <= FOOTER_LIMIT
    assert len(embed) <= EMBED_TOTAL_LIMIT


# --- truncate / join_within ---

def test_truncate_leaves_short_text_alone():
    assert truncate("short text", 20) == "short text"


def test_truncate_cuts_at_a_word_boundary_with_an_ellipsis():
    text = "the quick brown fox jumps over the lazy dog"
    cut = truncate(text, 20)
    assert len(cut) <= 20
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])
    assert cut[:-1].split()[-1] in text.split()  # no half word before the ellipsis


def test_truncate_hard_cuts_a_giant_word():
    cut = truncate("x" * 5000, 100)
    assert len(cut) == 100 and cut.endswith("…")


def test_truncate_never_leaves_a_dangling_escape():
    escaped = escape_discord("a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p")  # a\_b\_c... no spaces
    for limit in range(5, len(escaped)):
        cut = truncate(escaped, limit)
        body = cut[:-1]
        assert (len(body) - len(body.rstrip("\\"))) % 2 == 0, cut


def test_join_within_keeps_whole_lines_and_counts_the_rest():
    lines = [f"line number {i}" for i in range(100)]
    joined = join_within(lines, 200)
    assert len(joined) <= 200
    kept = joined.split("\n")[:-1]
    assert kept == lines[: len(kept)]
    assert joined.endswith(f"…and {100 - len(kept)} more")


def test_join_within_returns_everything_when_it_fits():
    assert join_within(["a", "b"], 10) == "a\nb"


# --- escaping ---

@pytest.mark.parametrize("attack", ["@everyone", "@here", "<@123456789012345678>",
                                    "<@&123456789012345678>"])
def test_escape_blocks_mentions(attack):
    escaped = escape_discord(f"hello {attack} there")
    assert attack not in escaped
    assert "\u200b" in escaped


def test_escape_blocks_markdown_and_masked_links():
    escaped = escape_discord("**bold** _it_ `code` [click](https://evil.example) # head")
    assert "**bold**" not in escaped
    assert "`code`" not in escaped
    # shown as text: the bracket escaped, the URL no longer a link
    assert "\\[click\\](https:\u200b//evil.example)" in escaped


def test_safe_url_rejects_non_web_schemes_and_encodes_parentheses():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("not a url") is None
    assert safe_url("https://en.wikipedia.org/wiki/Kim_(name)") == (
        "https://en.wikipedia.org/wiki/Kim_%28name%29"
    )


# --- answers ---

def test_answer_embed_quotes_with_markers_then_numbered_linked_sources():
    embed = answer_embed(answered(["Fans criticized Kim for the trip."]), asked="why?")
    assert embed.title == "why?"
    assert "“Fans criticized Kim for the trip.” [1]" in embed.description
    sources = embed.fields[0]
    assert sources.name == "Sources"
    assert f"[Kim criticized over Japan trip]({JAPAN_URL})" in sources.value
    assert "2024-05-01" in sources.value and "example.com" in sources.value
    assert sources.value.startswith("**[1]**")
    assert_within_limits(embed)


def test_an_answer_shown_again_reuses_its_escaped_text_and_source_lines():
    answer = answered(["A *sentence* seen by <@1> before.", "Another one."])
    first = answer_embed(answer).to_dict()
    escaped, lines = render.escape_discord.cache_info(), render.source_line.cache_info()
    assert answer_embed(answer).to_dict() == first
    assert render.escape_discord.cache_info().misses == escaped.misses  # nothing escaped anew
    assert render.source_line.cache_info().misses == lines.misses
    assert "\\*sentence\\*" in first["description"] and "<@1>" not in first["description"]


def test_answer_embed_without_url_shows_plain_title_and_file():
    citation = Citation(number=1, article_id="a1", title="Met Gala", date=None, url=None,
                        source="seeds/met_gala.txt")
    embed = answer_embed(answered(["North went with Kim."], [citation]))
    assert "Met Gala — seeds/met\\_gala.txt" in embed.fields[0].value
    assert "](" not in embed.fields[0].value


def test_abstained_answer_says_so_and_lists_closest_articles():
    answer = Answer(question="who won the 1970 world cup?", abstained=True,
                    hits=[hit(1), hit(2, title="Met Gala looks", url=None)])
    embed = answer_embed(answer)
    assert embed.description == NOT_FOUND
    closest = embed.fields[0].value
    assert "1. [Kim criticized over Japan trip]" in closest and "2. Met Gala looks" in closest
    assert_within_limits(embed)


def test_abstained_answer_with_an_empty_library():
    embed = answer_embed(Answer(question="anything?", abstained=True))
    assert NOT_FOUND in embed.description and not embed.fields


def test_huge_answer_stays_within_every_limit():
    citations = [Citation(number=i, article_id=f"a{i}", title="T" * 300 + f" {i}",
                          date="2024-01-01", url=f"https://example.com/{'p' * 200}/{i}",
                          source="s" * 500) for i in range(1, 41)]
    answer = answered(["word " * 300 for _ in range(30)], citations)
    embed = answer_embed(answer, asked="q" * 1000, footer="f" * 3000)
    assert_within_limits(embed)
    assert embed.description.startswith("> “word")
    embed.to_dict()  # serialisable as sent


def test_article_text_cannot_ping_or_format_in_an_answer():
    citation = Citation(number=1, article_id="a1", title="[fake](https://evil.example) @everyone",
                        date=None, url=JAPAN_URL, source="x.txt")
    embed = answer_embed(answered(["**Shocking** @here news <@123456789012345678>"], [citation]))
    text = embed.description + embed.fields[0].value
    for raw in ("@everyone", "@here", "<@123456789012345678>", "**Shocking**",
                "[fake](https://evil.example)"):
        assert raw not in text


def test_plain_text_uses_the_same_wording():
    text = answer_text(answered(["Fans criticized Kim for the trip."]))
    assert text.splitlines()[0] == "“Fans criticized Kim for the trip.” [1]"
    assert "Sources:" in text
    assert f"[1] Kim criticized over Japan trip <{JAPAN_URL}> — 2024-05-01 — example.com" in text


def test_plain_text_abstention():
    text = answer_text(Answer(question="q", abstained=True, hits=[hit(1, url=None)]))
    assert text.startswith(NOT_FOUND)
    assert render.CLOSEST_INTRO in text
    assert "1. Kim criticized over Japan trip — 2024-05-01 — celebrity/1.txt" in text


def test_hits_embed_lists_articles_with_dates_or_says_none():
    embed = hits_embed("Articles on “Kim”", [hit(1), hit(2, title="Other")], empty="none")
    assert "1. [Kim criticized over Japan trip]" in embed.description
    assert "2024-05-01" in embed.description
    assert hits_embed("x", [], empty="nothing here").description == "nothing here"


def test_a_model_written_answer_says_so_and_shows_what_it_was_checked_against() -> None:
    answer = answered(["People were complaining that she left her kids at home."])
    answer.text = "Fans said she left her other kids at home [1]."
    answer.answered_by = "llm:llama3.1:8b"
    embed = answer_embed(answer, footer="Reply to ask a follow-up.")
    assert "Fans said she left" in embed.description
    assert [field.name for field in embed.fields][:1] == ["From the articles"]
    assert "left her kids at home" in embed.fields[0].value
    assert embed.footer.text.startswith("Written by a language model (llama3.1:8b)")
    assert embed.footer.text.endswith("Reply to ask a follow-up.")
    assert "Written by a language model" in answer_text(answer)


def test_a_fallback_answer_says_why_the_model_was_not_used() -> None:
    answer = answered(["People were complaining that she left her kids at home."])
    answer.note = "The language model timed out; showing quotes from the articles instead."
    embed = answer_embed(answer)
    assert embed.footer.text == answer.note
    assert answer.note in answer_text(answer)
    assert "From the articles" not in [field.name for field in embed.fields]
