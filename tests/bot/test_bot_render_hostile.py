"""Hostile article and member text through every embed: no link but the article's own, no
ping, no control character, whatever the text (property tests with hypothesis)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.library.pages import articles_page_embed, search_embed, stats_embed
from bot.render import (
    answer_embed,
    answer_text,
    escape_discord,
    escape_title,
    hits_embed,
    safe_url,
)
from index.results import (
    Answer,
    ArticleInfo,
    Citation,
    Hit,
    IndexInfo,
    QuestionStats,
    Quote,
)

PHISH = "photos [here](https://a.example) and [Claim Nitro](https://x.example/login)"

# Pieces an attacker writes into an article (or a member into a question).
HOSTILE = [
    PHISH,
    "[Claim Nitro](https://x.example/login)",
    "[a](<https://angle.example>)",
    "[b]( https://space.example )",
    "\\[c](https://pre-escaped.example)",
    "\\\\[d](https://double-escaped.example)",
    "https://bare.example/path",
    "HTTPS://UPPER.EXAMPLE",
    "<https://angle-bare.example>",
    "steam://run/1",
    "discord://-/channels/1",
    "x_https://glued.example",
    "[", "]", "(", ")", "](", "<", ">", "\\", "`", "*", "_", "~", "|", "#", "-", ">>> ",
    "@everyone", "@here", "<@123456789012345678>", "<@!123456789012345678>",
    "<@&123456789012345678>", "<@123>", "<@&1>", "</ask:1>", "<#123456789012345678>",
    "\x00", "\x1b[31m", "\x07", "\x7f", "\u202e", "\r", "\n", "\t", " ",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)), max_size=12
).map("".join)
# The article's own link: anything at all, including hostile or broken ones.
own_url = st.one_of(
    st.none(),
    st.sampled_from(["https://news.example/kim-japan", "https://x.example/login",
                     "https://ok.example/a(b)c", "https://ok.example/\n[x](https://evil.example)",
                     "javascript:alert(1)", "https://ok.example/" + "p" * 600]),
    hostile_text,
)

# Discord's markup, as far as links and mentions go: a backslash makes the next character
# literal; `[text](target)` is a masked link; `scheme://…` (or `<scheme:/…>`) is a link.
ESCAPED_CHAR = re.compile(r"\\.", re.DOTALL)
LINK_TARGET = re.compile(r"\]\(\s*<?([^\s)>]*)")
BARE_URL = re.compile(r"(?i)[a-z0-9+.-]:/+[^\s<>)]*")
RAW_PING = re.compile(r"@(everyone|here)\b|<@[!&]?\d")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def live_links(text: str) -> list[str]:
    """Every link a Discord client would draw in `text`."""
    unescaped = ESCAPED_CHAR.sub("", text)
    targets = LINK_TARGET.findall(unescaped)
    return targets + BARE_URL.findall(LINK_TARGET.sub("](", unescaped))


def embed_texts(embed: discord.Embed) -> Iterable[str]:
    yield embed.title or ""
    yield embed.description or ""
    yield embed.footer.text or ""
    yield embed.author.name or ""
    for field in embed.fields:
        yield field.name or ""
        yield field.value or ""


def assert_inert(embed: discord.Embed, own_urls: Iterable[str | None]) -> None:
    allowed = {safe_url(url) for url in own_urls} - {None}
    for text in embed_texts(embed):
        for link in live_links(text):
            assert link in allowed, f"link {link!r} in {text!r}"
        assert not RAW_PING.search(text), text
        assert not CONTROL.search(text), repr(text)
    assert embed.url is None  # the title links nowhere


@st.composite
def citations(draw) -> list[Citation]:
    count = draw(st.integers(min_value=1, max_value=3))
    return [Citation(number=n, article_id=f"a{n}", title=draw(hostile_text),
                     date=draw(st.one_of(st.none(), hostile_text)), url=draw(own_url),
                     source=draw(hostile_text)) for n in range(1, count + 1)]


@st.composite
def hits(draw) -> list[Hit]:
    count = draw(st.integers(min_value=0, max_value=4))
    return [Hit(rank=n, score=1.0, article_id=f"a{n}", title=draw(hostile_text),
                source=draw(hostile_text), url=draw(own_url),
                date=draw(st.one_of(st.none(), hostile_text)), passage=draw(hostile_text),
                passage_id=n) for n in range(1, count + 1)]


@st.composite
def answers(draw) -> Answer:
    cited = draw(citations())
    quotes = [Quote(text=draw(hostile_text), citation=draw(st.sampled_from(cited)).number)
              for _ in range(draw(st.integers(min_value=0, max_value=3)))]
    answer = Answer(question=draw(hostile_text), abstained=draw(st.booleans()), quotes=quotes,
                    citations=cited, hits=draw(hits()))
    answer.text = draw(st.one_of(st.none(), hostile_text))  # a language model's answer
    return answer


def own_urls_of(answer: Answer) -> list[str | None]:
    return [c.url for c in answer.citations] + [h.url for h in answer.hits]


PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(answer=answers(), asked=st.one_of(st.none(), hostile_text))
def test_answer_embeds_carry_no_foreign_link_ping_or_control(answer, asked):
    embed = answer_embed(answer, asked=asked, footer="Reply to follow up")
    assert_inert(embed, own_urls_of(answer))


@PROPERTY
@given(found=hits(), query=hostile_text)
def test_search_and_sources_embeds_carry_no_foreign_link(found, query):
    urls = [hit.url for hit in found]
    assert_inert(search_embed(query, found), urls)
    assert_inert(hits_embed(f"Articles on “{query}”", found, empty="none"), urls)


@PROPERTY
@given(title=hostile_text, url=own_url, source=hostile_text, question=hostile_text)
def test_library_pages_and_stats_carry_no_foreign_link(title, url, source, question):
    article = ArticleInfo(article_id="abc123", title=title, source=source, url=url, date=None,
                          scope="1", passages=1, added_at="2024-01-01T00:00:00Z")
    assert_inert(articles_page_embed([article], page=0, total=1, guild_id=1), [url])
    info = IndexInfo(folder="f", format_version=1, model_name="m", model_sha256="s", dim=1,
                     faiss_type="flat", articles=1, passages=1, dense_vectors=1,
                     created_at="", updated_at="")
    stats = QuestionStats(asked=2, unanswered=1, top_unanswered=[(question, 2)],
                          downvoted=[(question, 1)])
    assert_inert(stats_embed(info, stats), [])


# --- the reported cases, spelled out ---

def test_the_second_masked_link_on_a_line_is_not_live():
    assert discord.utils.escape_markdown(PHISH).count("\\[") == 1  # the library's gap
    assert live_links(escape_discord(PHISH)) == []


def test_a_quoted_phishing_link_shows_as_text_next_to_the_real_source():
    citation = Citation(number=1, article_id="a1", title=PHISH, date=None,
                        url="https://news.example/kim", source="news.example")
    answer = Answer(question="q", abstained=False, citations=[citation],
                    quotes=[Quote(text=PHISH, citation=1)],
                    hits=[Hit(rank=1, score=1.0, article_id="a1", title=PHISH, source="s",
                              url="https://news.example/kim", date=None, passage=PHISH,
                              passage_id=1)])
    embed = answer_embed(answer)
    links = [link for text in embed_texts(embed) for link in live_links(text)]
    assert links == ["https://news.example/kim"]  # the citation, nothing else
    assert "Claim Nitro" in embed.description  # the words are still shown, as text
    assert_inert(search_embed("nitro", answer.hits), ["https://news.example/kim"])


def test_a_newline_in_an_article_url_cannot_spill_a_second_link():
    url = "https://ok.example/a\n[Claim](https://evil.example)"
    target = safe_url(url)
    assert target is not None and "\n" not in target and "(" not in target
    citation = Citation(number=1, article_id="a1", title="T", date=None, url=url, source="s")
    embed = answer_embed(Answer(question="q", abstained=False, citations=[citation],
                                quotes=[Quote(text="x", citation=1)]))
    assert live_links(embed.fields[0].value) == [target]


def test_a_written_answer_keeps_its_words_and_loses_its_links():
    citation = Citation(number=1, article_id="a1", title="Kim in Japan", date=None,
                        url="https://news.example/kim", source="s")
    answer = Answer(question="q", abstained=False, citations=[citation],
                    text="She took only North [1]. @everyone "
                         "[Claim Nitro](https://x.example/login) https://evil.example/login")
    embed = answer_embed(answer)
    assert "She took only North" in embed.description and "Claim Nitro" in embed.description
    assert "evil.example" not in embed.description and "x.example" not in embed.description
    assert "@everyone" not in embed.description
    assert_inert(embed, ["https://news.example/kim"])


@pytest.mark.parametrize("question", ["why\x00 was \x1bKim[31m criticized?\x07",
                                      "why was\u202e Kim criticized?\r\nreally"])
def test_control_characters_never_reach_the_title(question):
    embed = answer_embed(Answer(question=question, abstained=True))
    assert not CONTROL.search(embed.title) and "\n" not in embed.title
    assert "Kim" in embed.title
    assert not CONTROL.search(answer_text(Answer(question=question, abstained=False,
                                                 quotes=[Quote(text=question, citation=1)])))


@pytest.mark.parametrize("attack", ["@everyone", "@here", "<@123>", "<@&1>",
                                    "<@123456789012345678>", "<@&123456789012345678>"])
def test_mentions_are_inert_in_titles_and_text(attack):
    assert not RAW_PING.search(escape_discord(f"hi {attack} there"))
    assert not RAW_PING.search(escape_title(f"hi {attack} there"))


def test_escaping_hostile_text_is_fast():
    import time

    started = time.perf_counter()
    for text in ("*" * 50_000, "[" * 50_000 + "](" + ")" * 50_000, "a:" * 50_000,
                 "\\" * 50_000, "[a](b)" * 10_000):
        escape_discord(text)
    assert time.perf_counter() - started < 2.0
