"""Moderator uploads: refused before download when wrong, summarised clearly when added."""

from __future__ import annotations

import pytest

from bot.errors import UserFacingError
from bot.library.ingest import (
    MAX_ARTICLES_PER_ADD,
    add_blocking,
    add_summary,
    check_upload,
    check_url,
    parse_upload_blocking,
    paste_source,
    pasted_article,
)
from corpus.errors import CorpusError
from corpus.records import Article
from index.results import AddReport


@pytest.mark.parametrize("name", ["a.txt", "B.MD", "page.html", "x.htm", "d.json", "d.jsonl"])
def test_supported_files_pass(name):
    check_upload(name, 1000, max_bytes=2000)


@pytest.mark.parametrize("name", ["virus.exe", "photo.png", "README", "archive.tar.gz"])
def test_other_files_are_refused_by_name(name):
    with pytest.raises(UserFacingError, match=r"send one of \.txt"):
        check_upload(name, 10, max_bytes=2000)


def test_oversized_files_are_refused_with_both_sizes():
    with pytest.raises(UserFacingError, match=r"That file is 3\.0 MB; the limit is 2\.0 MB\."):
        check_upload("big.txt", 3_000_000, max_bytes=2_000_000)


@pytest.mark.parametrize("url", ["ftp://example.com/a", "example.com/a", "javascript:alert(1)"])
def test_only_web_links_are_fetched(url):
    with pytest.raises(UserFacingError, match="http"):
        check_url(url)


def test_pasting_the_same_title_again_updates_the_same_article():
    assert paste_source("Kim's Japan Trip!") == paste_source("kim s japan trip") == (
        "paste:kim-s-japan-trip"
    )
    article = pasted_article(" Kim in Japan ", "Kim went to Japan. Fans were upset.", " ")
    assert article.source == "paste:kim-in-japan" and article.url is None


def test_pasting_nothing_is_a_corpus_error():
    with pytest.raises(CorpusError):
        pasted_article("Title", "   ", None)


def article(n: int) -> Article:
    return Article(title=f"Story {n}", text="Text.", source=f"upload:{n}.txt")


class RecordingLibrary:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Article], int]] = []

    def add_articles(self, articles, *, guild_id):
        self.calls.append((list(articles), guild_id))
        return AddReport(added=[f"id{n}" for n in range(len(articles))])


def test_adds_go_to_the_server_scope_and_are_capped():
    library = RecordingLibrary()
    _, kept = add_blocking(library, [article(n) for n in range(80)], guild_id=77)
    assert len(kept) == MAX_ARTICLES_PER_ADD
    assert library.calls[0][1] == 77 and len(library.calls[0][0]) == MAX_ARTICLES_PER_ADD
    with pytest.raises(UserFacingError):
        add_blocking(library, [], guild_id=77)


def test_summary_of_one_new_article_names_it_and_its_id():
    text = add_summary(AddReport(added=["abc123"], passages=3), [article(1)], offered=1)
    assert text == "Added “Story 1”. ID: `abc123` — answerable now."


def test_summary_of_a_duplicate_points_to_the_kept_article():
    report = AddReport(duplicates=[("upload:1.txt", "kept42")])
    assert "Already in the library as `kept42`." in add_summary(report, [article(1)], offered=1)


def test_summary_of_a_feed_counts_and_mentions_the_cap():
    report = AddReport(added=["a", "b"], updated=["c"], unchanged=["d"])
    text = add_summary(report, [article(n) for n in range(4)], offered=70)
    assert text.startswith("2 added, 1 updated, 1 already held unchanged.")
    assert "Only the first 4 of 70 were added." in text
    assert "IDs: `a`, `b`, `c`" in text


def test_an_upload_reply_names_the_records_it_left_out() -> None:
    data = b'[{"title": "Good", "text": "A good story."}, {"title": "No text"}, 7]'
    articles, left_out = parse_upload_blocking("mixed.json", data)
    assert [a.title for a in articles] == ["Good"]
    assert len(left_out) == 2
    text = add_summary(AddReport(added=["abc123"], passages=1), articles, offered=1,
                       left_out=left_out)
    assert "Left out 2:" in text and "mixed.json:2" in text
