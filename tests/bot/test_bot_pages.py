"""Moderator views and /help: pages, search results, stats, overview."""

from __future__ import annotations

from bot.help.cog import help_embed
from bot.library.pages import (
    articles_page_embed,
    page_count,
    search_embed,
    stats_embed,
)
from bot.render import EMBED_TOTAL_LIMIT
from index.results import ArticleInfo, Hit, IndexInfo, QuestionStats

INFO = IndexInfo(folder="/x", format_version=1, model_name="m", model_sha256="s", dim=384,
                 faiss_type="flat", articles=1234, passages=5678, dense_vectors=5678,
                 created_at="2024-05-01T00:00:00+00:00", updated_at="2024-05-02T12:00:00+00:00")


def info_for(n: int, scope: str = "global") -> ArticleInfo:
    return ArticleInfo(article_id=f"id{n}", title=f"Story {n}", source=f"s/{n}.txt",
                       url=None, date="2024-05-01", scope=scope, passages=3,
                       added_at="2024-05-01T00:00:00Z")


def test_page_count():
    assert [page_count(n) for n in (0, 1, 10, 11, 25)] == [1, 1, 1, 2, 3]


def test_article_page_shows_ids_dates_scope_and_position():
    embed = articles_page_embed([info_for(1), info_for(2, scope="77")], page=1, total=25,
                                guild_id=77)
    assert "`id1` Story 1 — 2024-05-01 — s/1.txt · global" in embed.description
    assert "`id2` Story 2" in embed.description and "· this server" in embed.description
    assert embed.footer.text == "Page 2 of 3 · 25 articles"


def test_empty_library_page_says_how_to_add():
    assert "/library add" in articles_page_embed([], page=0, total=0, guild_id=1).description


def test_search_embed_shows_ids_and_snippets_escaped():
    hit = Hit(rank=1, score=0.5, article_id="abc", title="Kim", source="k.txt", url=None,
              date=None, passage="Kim said **nothing** to @everyone " + "long " * 100,
              passage_id=1)
    embed = search_embed("kim", [hit])
    assert "`abc`" in embed.description
    assert "**nothing**" not in embed.description and "@everyone" not in embed.description
    assert len(embed.description) < 400  # snippet, not the whole passage


def test_stats_show_what_the_library_lacks():
    stats = QuestionStats(asked=40, unanswered=10,
                          top_unanswered=[("who is the richest kardashian?", 4)],
                          downvoted=[("why was Kim criticized?", 2)])
    embed = stats_embed(INFO, stats)
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Articles"] == "1,234" and fields["Passages"] == "5,678"
    assert fields["Questions asked"] == "40" and fields["Unanswered"] == "10 (25%)"
    assert fields["Last update"].startswith("<t:")
    assert "“who is the richest kardashian?” ×4" in fields["Most asked, not answered"]
    assert "“why was Kim criticized?” ×2" in fields["👎 answers"]


def test_stats_with_no_questions_yet():
    embed = stats_embed(INFO, QuestionStats(asked=0, unanswered=0, top_unanswered=[],
                                            downvoted=[]))
    fields = {field.name: field.value for field in embed.fields}
    assert fields["Unanswered"] == "0" and fields["👎 answers"] == "None yet."
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_help_says_what_it_knows_and_how_fresh():
    embed = help_embed(INFO, info_for(9))
    what = next(field.value for field in embed.fields if field.name == "What I know")
    assert what.startswith("1,234 articles (5,678 passages), updated <t:")
    assert "Newest: Story 9 (2024-05-01)" in what
    assert any("/library add" in field.value for field in embed.fields)
