"""`python -m index feeds …` and `watch` against a local feed server, fake embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.cli import run
from index.embedder import FakeEmbedder
from index.library import Library
from tests.feedserver import FeedServer, item
from tests.index.backends import Backend

TEXT = ("Taylor Swift announced three more concerts in Tokyo after the first dates sold out "
        "within an hour, her label said on Monday.")


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.feed("/news.xml", [item("Taylor adds Tokyo dates", None, TEXT, guid="t1")])
        yield server


@pytest.fixture(autouse=True)
def local_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test's feed server is on 127.0.0.1; nothing from the operator's environment.
    monkeypatch.setenv("SPOTLIGHT_ALLOW_PRIVATE_URLS", "true")
    for name in ("SPOTLIGHT_FEEDS", "SPOTLIGHT_FEEDS_FILE", "SPOTLIGHT_FEED_INTERVAL_MINUTES"):
        monkeypatch.setenv(name, "")


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = run(args, embedder=FakeEmbedder())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_subscribe_watch_once_list_and_remove(site: FeedServer, library_backend: Backend,
                                              capsys) -> None:
    where = ["--index", str(library_backend.folder)]
    if library_backend.config.database_url:  # the feeds beside the library, in PostgreSQL
        where += ["--database-url", library_backend.config.database_url]
    url = site.url("/news.xml")
    code, out, _ = cli(["feeds", "add", url + "?utm_source=x", *where], capsys)
    assert code == 0 and f"Added {url}" in out
    code, out, _ = cli(["watch", "--once", *where], capsys)  # a fresh index
    assert code == 0 and out.startswith(f"ok   {url}: 1 new"), out
    code, out, _ = cli(["ask", "Where did Taylor add concerts?", *where], capsys)
    assert "Tokyo" in out
    code, out, _ = cli(["watch", "--once", *where], capsys)
    assert out.strip() == "No feed is due."
    code, out, _ = cli(["feeds", "list", *where], capsys)
    assert url in out and "ok, checked" in out and "1 articles added" in out
    code, out, _ = cli(["feeds", "remove", url, *where], capsys)
    assert code == 0 and "its articles stay" in out
    code, out, _ = cli(["feeds", "list", *where], capsys)
    assert "No global feeds" in out


def test_errors_are_one_line_each_and_other_feeds_still_poll(
        site: FeedServer, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    index = str(tmp_path / "index")
    site.set("/page.html", b"<!doctype html><html><body><p>Hello</p></body></html>",
             content_type="text/html")
    site.set("/gone.xml", b"", status=410)
    feeds_file = tmp_path / "feeds.txt"
    feeds_file.write_text(f"# operator feeds\n{site.url('/page.html')}\n{site.url('/gone.xml')}\n")
    monkeypatch.setenv("SPOTLIGHT_FEEDS", f"{site.url('/news.xml')},{site.url('/missing.xml')}")
    monkeypatch.setenv("SPOTLIGHT_FEEDS_FILE", str(feeds_file))
    code, out, _ = cli(["watch", "--once", "--index", index], capsys)
    lines = sorted(out.splitlines())
    assert code == 0 and len(lines) == 4, out
    assert any(line.startswith("GONE") and "410" in line for line in lines)
    assert any("missing.xml: the server answered HTTP 404" in line for line in lines)
    assert any("page.html: that address is a web page, not an RSS or Atom feed" in line
               for line in lines)
    assert any(line.startswith("ok") and "1 new" in line for line in lines)
    code, out, _ = cli(["feeds", "list", "--index", index], capsys)
    assert out.count("ERROR") == 2 and out.count("GONE") == 1


def test_watch_beside_a_serving_library(site: FeedServer, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "index"
    serving = Library.open(folder, FakeEmbedder(), create=True)  # as the bot holds it
    try:
        cli(["feeds", "add", site.url("/news.xml"), "--index", str(folder)], capsys)
        code, out, _ = cli(["watch", "--once", "--index", str(folder)], capsys)
        assert code == 0 and "1 new" in out
        assert serving.search("Tokyo concerts", k=1)[0].title == "Taylor adds Tokyo dates"
    finally:
        serving.close()


def test_bad_configuration_is_one_error(tmp_path: Path, capsys,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTLIGHT_FEEDS", "ftp://example.org/feed")
    code, _, err = cli(["watch", "--once", "--index", str(tmp_path / "index")], capsys)
    assert code == 2 and "SPOTLIGHT_FEEDS" in err
