"""Files to articles: one parser per format, shared by folder loads and uploaded files.

`parse_document` turns one file's bytes into articles (the bot uses it for attachments);
`load_path` walks a file or folder with it, records what it skipped and why, and drops
duplicate articles. A bad file never stops a load: it becomes a `SkippedFile`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from corpus.chunking import split_sentences
from corpus.clean import clean_text, clean_title
from corpus.dates import normalise_date
from corpus.errors import CorpusError
from corpus.extract import extract_page, html_fragment_to_text
from corpus.records import Article, LoadReport, SkippedFile

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
_SUPPORTED_HINT = "use .txt .md .html .json .jsonl"
MAX_FILE_BYTES = 50_000_000  # past this a "document" is a dump or a mistake, not an article

# A first line longer than this is a paragraph, not a title (a one-line file, say).
_MAX_TITLE_LINE_CHARS = 300
_TITLE_WORDS_FROM_TEXT = 12
_TEXT_FIELDS = ("text", "body", "content")
_DATE_FIELDS = ("date", "published")
_URL_FIELDS = ("url", "link")
_LOOKS_LIKE_HTML = re.compile(r"<(?:p|br|div|a|span|em|strong|b|i|li|h[1-6])\b", re.IGNORECASE)


class _Unusable(Exception):
    """The whole file cannot give articles; `reason` is short and names no path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Parsed:
    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # records inside the file


# ---------------------------------------------------------------------------------------
# Public entry points


def parse_document(name: str, data: bytes, *, source: str | None = None) -> list[Article]:
    """The articles in one file's bytes; `name` picks the format and appears in errors.

    Raises CorpusError (short, user-facing) when the file gives no article at all. Bad
    records inside a .json/.jsonl file are left out when others are good.
    """
    try:
        parsed = _parse(name, data, source or name)
    except _Unusable as problem:
        raise CorpusError(f"{name}: {problem.reason}") from None
    if not parsed.articles:
        reason = parsed.skipped[0].reason if parsed.skipped else "no articles found"
        raise CorpusError(f"{name}: {reason}")
    return parsed.articles


def load_path(path: Path) -> LoadReport:
    """Articles from a file or a folder (recursive, sorted, hidden files ignored).

    Each article's source is its file's path relative to `path` (a file's own name when
    `path` is a file). Exact and near-exact duplicates keep the first copy.
    """
    path = Path(path)
    if path.is_file():
        files = [(path, path.name)]
    elif path.is_dir():
        files = sorted(
            ((file, file.relative_to(path).as_posix()) for file in _visible_files(path)),
            key=lambda pair: pair[1],
        )
    else:
        raise CorpusError(f"{path}: no such file or folder")

    report = LoadReport()
    articles: list[Article] = []
    for file, relative in files:
        try:
            parsed = _parse(relative, _read(file), relative)
        except _Unusable as problem:
            report.skipped.append(SkippedFile(relative, problem.reason))
            continue
        articles.extend(parsed.articles)
        report.skipped.extend(parsed.skipped)
    report.articles, report.duplicates = drop_duplicates(articles)
    return report


def drop_duplicates(articles: Iterable[Article]) -> tuple[list[Article], list[tuple[str, str]]]:
    """First copy of each story (by content hash), and (dropped, kept) article keys."""
    kept: dict[str, Article] = {}
    duplicates: list[tuple[str, str]] = []
    for article in articles:
        first = kept.setdefault(article.content_hash, article)
        if first is not article:
            duplicates.append((article.key, first.key))
    return list(kept.values()), duplicates


def article_from_text(
    title: str, text: str, *, source: str, url: str | None = None, date: str | None = None
) -> Article:
    """An article from pasted title and text, cleaned; CorpusError when either is empty."""
    title = clean_title(title)
    body = clean_text(text)
    if not title:
        raise CorpusError("the title is empty")
    if not body:
        raise CorpusError("the text is empty")
    return Article(title=title, text=body, source=source, url=url, date=normalise_date(date))


# ---------------------------------------------------------------------------------------
# Reading and decoding


def _visible_files(folder: Path) -> Iterable[Path]:
    for file in folder.rglob("*"):
        relative = file.relative_to(folder)
        if not any(part.startswith(".") for part in relative.parts) and file.is_file():
            yield file


def _read(file: Path) -> bytes:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise _Unusable(f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
        return file.read_bytes()
    except OSError as error:
        raise _Unusable(f"unreadable ({error.strerror or type(error).__name__})") from None


def _decode(data: bytes) -> str:
    """Text from bytes in any likely encoding: UTF-8 first, then Windows-1252/Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise _Unusable("binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # defined for every byte


# ---------------------------------------------------------------------------------------
# Formats


def _parse(name: str, data: bytes, source: str) -> _Parsed:
    suffix = PurePosixPath(name).suffix.lower()
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise _Unusable(f"unsupported file type; {_SUPPORTED_HINT}")
    if not data.strip():
        raise _Unusable("empty file")
    return parser(name, data, source)


def _parse_txt(name: str, data: bytes, source: str) -> _Parsed:
    title, body = _split_title(_decode(data), name)
    return _Parsed([_make_article(title, body, source=source)])


def _parse_markdown(name: str, data: bytes, source: str) -> _Parsed:
    text = _decode(data)
    metadata, text = _front_matter(text)
    heading = _MD_H1.search(text)
    if heading is not None:
        title = heading.group(1)
        body = text[: heading.start()] + text[heading.end() :]
    elif metadata.get("title"):
        title, body = metadata["title"], text
    else:
        title, body = _split_title(text, name)
    return _Parsed(
        [
            _make_article(
                _strip_markdown(title),
                _strip_markdown(body),
                source=source,
                date=metadata.get("date"),
            )
        ]
    )


def _parse_html(name: str, data: bytes, source: str) -> _Parsed:
    if b"\x00" in data:
        raise _Unusable("binary file, not text")
    page = extract_page(data)
    if not page.text:
        raise _Unusable("no article text found in the page")
    title = page.title or _title_from_name(name)
    return _Parsed([_make_article(title, page.text, source=source, url=page.url, date=page.date)])


def _parse_json(name: str, data: bytes, source: str) -> _Parsed:
    try:
        value = json.loads(_decode(data))
    except json.JSONDecodeError as error:
        raise _Unusable(f"not valid JSON (line {error.lineno}: {error.msg})") from None
    if isinstance(value, dict):
        return _records_to_articles([(None, value)], source)
    if isinstance(value, list):
        return _records_to_articles(enumerate(value, start=1), source)
    raise _Unusable("JSON must be an article object or a list of them")


def _parse_jsonl(name: str, data: bytes, source: str) -> _Parsed:
    records: list[tuple[int, object]] = []
    bad_lines: list[SkippedFile] = []
    for number, line in enumerate(_decode(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError:
            bad_lines.append(SkippedFile(f"{source}:{number}", "not valid JSON"))
    parsed = _records_to_articles(records, source)
    parsed.skipped[:0] = bad_lines
    parsed.skipped.sort(key=lambda skipped: int(skipped.path.rsplit(":", 1)[1]))
    return parsed


_PARSERS: dict[str, Callable[[str, bytes, str], _Parsed]] = {
    ".txt": _parse_txt,
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".json": _parse_json,
    ".jsonl": _parse_jsonl,
}


# ---------------------------------------------------------------------------------------
# Shared pieces


def _make_article(
    title: str,
    body: str,
    *,
    source: str,
    url: str | None = None,
    date: object = None,
    external_id: str | None = None,
) -> Article:
    text = clean_text(body)
    if not text:
        raise _Unusable("no article text after the title")
    return Article(
        title=clean_title(title) or _title_from_text(text),
        text=text,
        source=source,
        url=url,
        date=normalise_date(date),
        external_id=external_id,
    )


def _split_title(text: str, name: str) -> tuple[str, str]:
    """(title, body): the first non-empty line is the title unless it is a paragraph."""
    stripped = text.lstrip()
    first_line, _, rest = stripped.partition("\n")
    if len(first_line) > _MAX_TITLE_LINE_CHARS:
        return _title_from_name(name), stripped
    return first_line, rest


def _title_from_name(name: str) -> str:
    stem = PurePosixPath(name).stem
    words = re.sub(r"[-_]+", " ", stem).split()
    return " ".join(words).capitalize() if words else "Untitled"


def _title_from_text(text: str) -> str:
    """The first sentence when short, else its first words and an ellipsis."""
    first = split_sentences(text[: _MAX_TITLE_LINE_CHARS * 2])[0]
    words = first.split()
    if len(words) <= _TITLE_WORDS_FROM_TEXT:
        return " ".join(words).rstrip(".")
    return " ".join(words[:_TITLE_WORDS_FROM_TEXT]) + "…"


def _records_to_articles(records: Iterable[tuple[int | None, object]], source: str) -> _Parsed:
    """One article per JSON object; a bad record is skipped as `source:N` (N = its line
    in a .jsonl file, its 1-based index in a JSON list)."""
    parsed = _Parsed()
    for position, record in records:
        where = source if position is None else f"{source}:{position}"
        try:
            parsed.articles.append(_record_to_article(record, source, position))
        except _Unusable as problem:
            parsed.skipped.append(SkippedFile(where, problem.reason))
    return parsed


def _record_to_article(record: object, source: str, position: int | None) -> Article:
    if not isinstance(record, dict):
        raise _Unusable("not a JSON object")
    body = _first_string(record, _TEXT_FIELDS)
    if not body:
        raise _Unusable("record has no text, body or content")
    if _LOOKS_LIKE_HTML.search(body):
        body = html_fragment_to_text(body)
    record_id = record.get("id")
    if record_id is not None and not isinstance(record_id, bool | dict | list):
        external_id: str | None = str(record_id)
    else:
        # Records in one file share its source; without an id their position tells
        # them apart (a lone object needs nothing more).
        external_id = None if position is None else f"record-{position}"
    return _make_article(
        _first_string(record, ("title",)) or "",
        body,
        source=source,
        url=_first_string(record, _URL_FIELDS),
        date=next((record[key] for key in _DATE_FIELDS if record.get(key)), None),
        external_id=external_id,
    )


def _first_string(record: dict, keys: Iterable[str]) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


# Markdown: strip syntax lightly, keeping the words. Quantifiers are bounded so a huge
# one-line file cannot make a pattern backtrack across the whole line.
_MD_H1 = re.compile(r"^[ \t]{0,3}#[ \t]+([^\n]+?)[ \t#]*$", re.MULTILINE)
_MD_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_MD_SUBSTITUTIONS = tuple(
    (re.compile(pattern, re.MULTILINE), replacement)
    for pattern, replacement in (
        (r"^[ \t]*(?:```|~~~)[^\n]*$", ""),  # code fences (the code itself stays)
        (r"^[ \t]*\[[^\]\n]{1,200}\]:[ \t]*\S+[^\n]*$", ""),  # reference definitions
        (r"!\[[^\]\n]{0,500}\]\([^)\n]{0,2000}\)", ""),  # images
        (r"\[([^\]\n]{1,500})\]\([^)\n]{0,2000}\)", r"\1"),  # inline links
        (r"\[([^\]\n]{1,500})\]\[[^\]\n]{0,200}\]", r"\1"),  # reference links
        (r"<[^<>\n]{1,500}>", ""),  # inline HTML tags
        (r"^[ \t]{0,3}#{1,6}[ \t]+([^\n]*?)[ \t#]*$", r"\1"),  # headings
        (r"^[ \t]*(?:[-*_=][ \t]*){3,}$", ""),  # rules and setext underlines
        (r"^[ \t]*>[ \t]?", ""),  # block quotes
        (r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+", ""),  # list markers
        (r"(\*\*|__)(?=\S)([^\n]{1,500}?)(?<=\S)\1", r"\2"),  # bold
        (r"(?<![\w*])\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*(?![\w*])", r"\1"),  # italic
        (r"(?<!\w)_(?=\S)([^_\n]{1,500}?)(?<=\S)_(?!\w)", r"\1"),  # italic
        (r"`([^`\n]{1,500})`", r"\1"),  # inline code
    )
)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """YAML-style `key: value` front matter (title, date) and the text after it."""
    text = text.lstrip("\ufeff")
    match = _MD_FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    metadata: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, colon, value = line.partition(":")
        if colon:
            metadata[key.strip().lower()] = value.strip().strip("\"'")
    return metadata, text[match.end() :]


def _strip_markdown(text: str) -> str:
    for pattern, replacement in _MD_SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text
