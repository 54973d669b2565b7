"""Loading files and folders of articles in every supported format, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import (
    Article,
    CorpusError,
    LoadReport,
    SkippedFile,
    article_from_text,
    chunk_article,
    load_path,
    normalise_date,
    parse_document,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "articles"

BODY = (
    "Kim Kardashian has been vacationing in Japan with her daughter North West. "
    "People filled the comments with complaints about the trip."
)


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- formats ------------------------------------------------------------------------------


def test_txt_first_non_empty_line_is_the_title() -> None:
    [article] = parse_document("trip.txt", f"\n\n  Kim in Japan \n\n{BODY}\n".encode())
    assert article == Article(title="Kim in Japan", text=BODY, source="trip.txt")


def test_txt_is_cleaned() -> None:
    data = f"Kim in Japan\n\n{BODY}\n\nRelated story\n\nA Teaser Headline\n\nAdvertisement\n"
    [article] = parse_document("trip.txt", data.encode())
    assert article.text == BODY


def test_markdown_title_from_heading_and_syntax_stripped() -> None:
    data = (
        "---\ndate: 2023-07-30\nauthor: x\n---\n"
        "# Kim in *Japan*\n\n"
        "Kim **Kardashian** went to [Tokyo](https://example.com/tokyo) with `North`.\n\n"
        "![a photo](pic.jpg)\n\n"
        "## The comments\n\n"
        "- People were upset.\n"
        "> She ignored them.\n"
    )
    [article] = parse_document("trip.md", data.encode())
    assert article.title == "Kim in Japan"
    assert article.date == "2023-07-30"
    assert article.text == (
        "Kim Kardashian went to Tokyo with North.\n\n"
        "The comments\n\n"
        "People were upset.\nShe ignored them."
    )


def test_markdown_without_heading_uses_the_first_line() -> None:
    [article] = parse_document("notes.md", f"Kim in Japan\n\n{BODY}".encode())
    assert (article.title, article.text) == ("Kim in Japan", BODY)


def test_html_main_text_title_and_date() -> None:
    page = f"""<html><head><title>Kim in Japan | Gossip Site</title>
      <meta property="og:title" content="Kim in Japan">
      <meta property="article:published_time" content="2023-07-30T10:00:00Z"></head>
      <body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
      <article><h1>Kim in Japan</h1><p>{BODY}</p>
      <p>She did not reply to any of them and kept posting pictures from Tokyo.</p></article>
      <footer>Copyright 2023 Gossip Site. All rights reserved.</footer></body></html>"""
    [article] = parse_document("kim.html", page.encode(), source="pages/kim.html")
    assert article.title == "Kim in Japan"
    assert article.date == "2023-07-30"
    assert article.source == "pages/kim.html"
    assert article.text == (
        f"{BODY}\n\nShe did not reply to any of them and kept posting pictures from Tokyo."
    )


def test_json_object() -> None:
    record = {
        "id": 7,
        "title": "Kim in Japan",
        "body": BODY,
        "url": "https://example.com/kim",
        "published": "Sun, 30 Jul 2023 10:00:00 GMT",
    }
    [article] = parse_document("one.json", json.dumps(record).encode())
    assert article == Article(
        title="Kim in Japan",
        text=BODY,
        source="one.json",
        url="https://example.com/kim",
        date="2023-07-30",
        external_id="7",
    )
    assert article.key == "one.json#7"


def test_json_list_takes_text_body_or_content_and_skips_records_without_text(
    tmp_path: Path,
) -> None:
    records = [
        {"title": "A", "text": "Text of A."},
        {"title": "B", "content": "<p>Content of <b>B</b>.</p><p>More.</p>"},
        {"title": "No text here"},
        {"title": "D", "body": "Body of D.", "date": "not a date"},
    ]
    report = _load_one(tmp_path, json.dumps(records), "many.json")
    assert [(a.title, a.text, a.external_id, a.date) for a in report.articles] == [
        ("A", "Text of A.", "record-1", None),
        ("B", "Content of B.\n\nMore.", "record-2", None),
        ("D", "Body of D.", "record-4", None),
    ]
    assert report.skipped == [SkippedFile("many.json:3", "record has no text, body or content")]


def test_jsonl_bad_line_is_skipped_and_counted(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "A", "text": "Text of A."}),
        "{not json",
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "b", "title": "B", "text": "Text of B.", "date": "July 30, 2023"}),
    ]
    report = _load_one(tmp_path, "\n".join(lines), "feed.jsonl")
    assert [(a.key, a.date) for a in report.articles] == [
        ("feed.jsonl#a", None),
        ("feed.jsonl#b", "2023-07-30"),
    ]
    assert report.skipped == [
        SkippedFile("feed.jsonl:2", "not valid JSON"),
        SkippedFile("feed.jsonl:4", "not a JSON object"),
    ]


def test_json_record_without_title_gets_one_from_its_text() -> None:
    [article] = parse_document("x.json", json.dumps({"text": BODY}).encode())
    assert (
        article.title == "Kim Kardashian has been vacationing in Japan with her daughter North West"
    )
    long_first = {"text": "One two three four five six seven eight nine ten eleven twelve 13. Two."}
    [article] = parse_document("y.json", json.dumps(long_first).encode())
    assert article.title == "One two three four five six seven eight nine ten eleven twelve…"


def _load_one(folder: Path, content: str, name: str) -> LoadReport:
    _write(folder, name, content)
    return load_path(folder)


# --- encodings and bad files ----------------------------------------------------------------


def test_latin1_bytes_decode_to_the_pound_sign() -> None:
    data = "Chelsea sack Mutu\n\nMutu, a £15.8m signing from Parma.".encode("latin-1")
    [article] = parse_document("199.txt", data)
    assert article.text == "Mutu, a £15.8m signing from Parma."


def test_utf8_bom_and_utf16_are_read() -> None:
    [bom] = parse_document("a.txt", "\ufeffTitle\n\nBody text.".encode())
    [utf16] = parse_document("b.txt", "Title\n\nBody text.".encode("utf-16"))
    assert (bom.title, bom.text) == (utf16.title, utf16.text) == ("Title", "Body text.")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.pdf", b"%PDF-1.4 ...", "notes.pdf: unsupported file type; use .txt .md .html"),
        ("empty.txt", b"", "empty.txt: empty file"),
        ("blank.md", b"  \n\n \t", "blank.md: empty file"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.txt: binary file"),
        ("title-only.txt", b"Just a title\n\n", "title-only.txt: no article text"),
        ("bad.json", b'{"title": "x", ', "bad.json: not valid JSON (line 1"),
        ("list.json", b"[1, 2]", "list.json: not a JSON object"),
        ("scalar.json", b"42", "scalar.json: JSON must be an article object"),
        ("nav.html", b"<html><body><nav>Home</nav></body></html>", "nav.html: no article text"),
        ("all-bad.jsonl", b"{oops\n[1]\n", "all-bad.jsonl: not valid JSON"),
    ],
)
def test_parse_document_rejects_bad_input_with_a_short_message(
    name: str, data: bytes, message: str
) -> None:
    with pytest.raises(CorpusError) as caught:
        parse_document(name, data)
    assert str(caught.value).startswith(message)
    assert len(str(caught.value)) < 120


def test_one_megabyte_single_line_file_loads(tmp_path: Path) -> None:
    line = "Kim went out again and the fans were upset about it. " * 19_000
    assert len(line) > 1_000_000
    _write(tmp_path, "huge-one-liner.txt", line)
    report = load_path(tmp_path)
    [article] = report.articles
    assert article.title == "Huge one liner"  # a paragraph is not a title: the file name is
    assert article.text == line.strip()
    passages = chunk_article(article)
    assert len(passages) > 1000
    assert all(len(p.text.split()) <= 150 for p in passages)


# --- folders --------------------------------------------------------------------------------


def test_folder_load_is_recursive_sorted_relative_and_counts_skips(tmp_path: Path) -> None:
    _write(tmp_path, "b.txt", "B title\n\nText of B.")
    _write(tmp_path, "a/z.md", "# Z title\n\nText of Z.")
    _write(tmp_path, "a/y.txt", "Y title\n\nText of Y.")
    _write(tmp_path, ".hidden.txt", "Hidden\n\nNot loaded.")
    _write(tmp_path, ".git/config.txt", "Hidden\n\nNot loaded.")
    _write(tmp_path, "notes.pdf", b"%PDF")
    _write(tmp_path, "empty.txt", "")
    _write(tmp_path, "blob.txt", b"\x00\x01\x02binary")
    report = load_path(tmp_path)
    assert [a.source for a in report.articles] == ["a/y.txt", "a/z.md", "b.txt"]
    assert [a.title for a in report.articles] == ["Y title", "Z title", "B title"]
    assert report.skipped == [
        SkippedFile("blob.txt", "binary file, not text"),
        SkippedFile("empty.txt", "empty file"),
        SkippedFile("notes.pdf", "unsupported file type; use .txt .md .html .json .jsonl"),
    ]
    assert report.duplicates == []


def test_single_file_source_is_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep/er/story.txt", "Title\n\nText.")
    [article] = load_path(path).articles
    assert article.source == "story.txt"


def test_exact_and_near_exact_duplicates_keep_the_first(tmp_path: Path) -> None:
    _write(tmp_path, "1.txt", f"Kim in Japan\n\n{BODY}")
    _write(tmp_path, "2.txt", f"Kim in Japan\n\n{BODY}")  # exact copy
    _write(tmp_path, "3.txt", f"KIM IN JAPAN!\n\n  {BODY.replace('. ', '; ')}\n")  # near-exact
    _write(tmp_path, "4.txt", f"Kim in Japan\n\n{BODY} One more sentence.")  # different
    report = load_path(tmp_path)
    assert [a.source for a in report.articles] == ["1.txt", "4.txt"]
    assert report.duplicates == [("2.txt", "1.txt"), ("3.txt", "1.txt")]


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "ok.txt", "Title\n\nText.")
    locked = _write(tmp_path, "locked.txt", "Title\n\nOther text.")
    real_open = os.open

    def open_file(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if Path(os.fsdecode(path)) == locked:  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    # Tests run as root on CI, where chmod 000 does not stop a read.
    monkeypatch.setattr(os, "open", open_file)
    report = load_path(tmp_path)
    assert [a.source for a in report.articles] == ["ok.txt"]
    assert report.skipped == [SkippedFile("locked.txt", "unreadable (Permission denied)")]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_path(tmp_path / "nope")


def test_empty_folder_gives_an_empty_report(tmp_path: Path) -> None:
    report = load_path(tmp_path)
    assert (report.articles, report.skipped, report.duplicates) == ([], [], [])


def test_bundled_sample_corpus_loads_whole() -> None:
    report = load_path(SAMPLES)
    assert len(report.articles) >= 12
    assert report.skipped == []
    assert report.duplicates == []
    sources = {a.source for a in report.articles}
    assert {"north-west-met-gala.txt", "kim-kardashian-japan-trip.txt"} <= sources
    japan = next(a for a in report.articles if a.source == "kim-kardashian-japan-trip.txt")
    assert "Related story" not in japan.text
    assert all(chunk_article(a) for a in report.articles)


# --- pasted text, dates, layering ----------------------------------------------------------


def test_article_from_text_cleans_and_checks() -> None:
    article = article_from_text(
        "  Kim in   Japan ",
        f"{BODY}\n\nAdvertisement",
        source="paste:1",
        url="https://example.com/x",
        date="30 July 2023",
    )
    assert article == Article(
        title="Kim in Japan",
        text=BODY,
        source="paste:1",
        url="https://example.com/x",
        date="2023-07-30",
    )
    with pytest.raises(CorpusError, match="title is empty"):
        article_from_text(" ", BODY, source="paste:2")
    with pytest.raises(CorpusError, match="text is empty"):
        article_from_text("Title", "\n\nGetty Images\n", source="paste:3")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-07-30", "2023-07-30"),
        ("2023-07-30T10:00:00Z", "2023-07-30"),
        ("2023-07-30T10:00:00.123456789+0000", "2023-07-30"),
        ("Sun, 30 Jul 2023 10:00:00 GMT", "2023-07-30"),
        ("July 30, 2023", "2023-07-30"),
        ("30 Jul 2023", "2023-07-30"),
        ("2023/07/30", "2023-07-30"),
        (1690711200, "2023-07-30"),
        ("yesterday", None),
        ("2023-13-45", None),
        (2023, None),
        ("", None),
        (None, None),
        (["2023-07-30"], None),
    ],
)
def test_normalise_date(value: object, expected: str | None) -> None:
    assert normalise_date(value) == expected


def test_corpus_never_imports_discord_or_index() -> None:
    code = (
        "import sys, corpus\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'index', 'bot'))\n"
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
