"""Files to articles: one parser per format, shared by folder loads and uploaded files.

`parse_document` turns one file's bytes into articles (the bot uses it for attachments);
`load_path` walks a file or folder with it, records what it skipped and why, and drops
duplicate articles. A bad file never stops a load: it becomes a `SkippedFile`.
"""

from __future__ import annotations

import codecs
import errno
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from corpus.chunking import split_sentences
from corpus.clean import clean_text, clean_title
from corpus.dates import normalise_date
from corpus.errors import CorpusError
from corpus.extract import extract_page, html_fragment_to_text
from corpus.records import Article, LoadReport, SkippedFile
from corpus.text import clean_url, display_path, scrub_line

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
_SUPPORTED_HINT = "use .txt .md .html .json .jsonl"
MAX_FILE_BYTES = 50_000_000  # past this a "document" is a dump or a mistake, not an article
# One article's text past this is a book or a dump; refusing it bounds the work per file
# (cleaning and chunking are linear, but a 50 MB "article" would still pin a worker).
MAX_ARTICLE_CHARS = 3_000_000
# trafilatura is the slowest parser by far; a news page is well under this.
MAX_HTML_BYTES = 5_000_000
# JSON numbers longer than this stay strings: int() refuses over 4,300 digits and
# float() of a long one overflows, and no field we read needs such a number.
_MAX_JSON_NUMBER_CHARS = 40
_MAX_ID_CHARS = 200
_MAX_REASON_CHARS = 100

log = logging.getLogger(__name__)

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

    Raises CorpusError (short, user-facing) when the file gives no article at all, and
    never anything else, whatever the bytes. Bad records inside a .json/.jsonl file are
    left out when others are good (`read_document` also says which and why).
    """
    return read_document(name, data, source=source).articles


def read_document(name: str, data: bytes, *, source: str | None = None) -> LoadReport:
    """`parse_document` with the records it left out: `skipped` names each bad record
    of a .json/.jsonl file as `source:N` with its reason, so an upload can report them.
    CorpusError when the file gives no article at all."""
    label = display_path(name)
    parsed = _parse_safely(name, data, display_path(source) if source else label)
    if isinstance(parsed, str):
        raise CorpusError(f"{label}: {parsed}")
    if not parsed.articles:
        reason = parsed.skipped[0].reason if parsed.skipped else "no articles found"
        raise CorpusError(f"{label}: {reason}")
    return LoadReport(articles=parsed.articles, skipped=parsed.skipped)


def load_path(path: Path) -> LoadReport:
    """Articles from a file or a folder (recursive, sorted, hidden files ignored).

    Each article's source is its file's path relative to `path` (a file's own name when
    `path` is a file). Exact and near-exact duplicates keep the first copy.

    Every file that exists but gives no article is in `skipped` under exactly that
    source (so an index can keep what it already holds from it); a folder that cannot be
    listed is there as its relative path with a trailing "/"; a bad record inside a JSON
    file is there as `source:N`.
    """
    path = Path(path)
    report = LoadReport()
    if path.is_dir():
        files = _walk(path, report.skipped)
    elif path.exists() or path.is_symlink():
        files = [(path, display_path(path.name))]
    else:
        raise CorpusError(f"{path}: no such file or folder")

    articles: list[Article] = []
    for file, source in files:
        parsed = _parse_safely(source, None, source, file=file)
        if isinstance(parsed, str):
            report.skipped.append(SkippedFile(source, parsed))
            continue
        articles.extend(parsed.articles)
        report.skipped.extend(parsed.skipped)
        if not parsed.articles:
            # The file itself is named too (not only its records), so an index keeps
            # what it holds from a file that gave nothing this time.
            reason = "no usable records" if parsed.skipped else "no articles found"
            report.skipped.append(SkippedFile(source, reason))
    report.skipped.sort(key=lambda skipped: _natural_key(skipped.path))
    report.articles, report.duplicates = drop_duplicates(articles)
    return report


def _parse_safely(
    name: str, data: bytes | None, source: str, *, file: Path | None = None
) -> _Parsed | str:
    """The parsed file, or a short reason why it gives nothing.

    One file must never cost the rest of a batch, so any exception (a parser's
    RecursionError or MemoryError included) becomes that file's reason.
    """
    try:
        if data is None:
            assert file is not None
            data = _read(file)
        return _parse(name, data, source)
    except _Unusable as problem:
        return problem.reason
    except Exception as error:  # the per-file safety net
        log.warning("could not parse %s", source, exc_info=True)
        return _short(f"could not be parsed ({type(error).__name__})")


def _short(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON_CHARS else reason[: _MAX_REASON_CHARS - 1] + "…"


def _natural_key(path: str) -> tuple[str, int]:
    """Sort `a.jsonl:10` after `a.jsonl:9`, and a file's records right after it."""
    head, colon, tail = path.rpartition(":")
    if colon and tail.isdigit():
        return head, int(tail)
    return path, -1


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
    if len(text) > MAX_ARTICLE_CHARS:
        raise CorpusError(f"the text is longer than {MAX_ARTICLE_CHARS:,} characters")
    title = clean_title(title[: _MAX_TITLE_LINE_CHARS * 4])
    body = clean_text(text)
    if not title:
        raise CorpusError("the title is empty")
    if not body:
        raise CorpusError("the text is empty")
    return Article(
        title=title,
        text=body,
        source=scrub_line(source),
        url=clean_url(url),
        date=normalise_date(date),
    )


# ---------------------------------------------------------------------------------------
# Reading and decoding


def _walk(folder: Path, skipped: list[SkippedFile]) -> list[tuple[Path, str]]:
    """(file, source) for every visible regular file under `folder`, sorted by source.

    Symbolic links are followed (a linked folder once: a loop is reported, not walked
    forever); anything that is not a regular file (a broken link, a FIFO, which would
    block a read forever, a socket, a device) is reported in `skipped`, never dropped.
    """
    files: list[tuple[Path, str]] = []
    entered: set[tuple[int, int]] = set()
    pending: list[tuple[Path, str]] = [(folder, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            info = directory.stat()
            if (info.st_dev, info.st_ino) in entered:
                skipped.append(SkippedFile(prefix, "symbolic link to a folder already read"))
                continue
            entered.add((info.st_dev, info.st_ino))
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            skipped.append(SkippedFile(prefix or "./", _os_reason("unreadable folder", error)))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + display_path(entry.name)
            kind = _kind(Path(entry.path))
            if kind == "folder":
                pending.append((Path(entry.path), relative + "/"))
            elif kind == "file":
                files.append((Path(entry.path), relative))
            else:
                skipped.append(SkippedFile(relative, kind))
    files.sort(key=lambda pair: pair[1])
    return files


def _kind(path: Path) -> str:
    """"file", "folder", or why the entry cannot be read as either."""
    try:
        mode = path.stat().st_mode  # follows symbolic links
    except OSError as error:
        if path.is_symlink():
            if error.errno == errno.ELOOP:
                return "symbolic link loop"
            return "broken symbolic link"
        return _os_reason("unreadable", error)
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "not a regular file (a named pipe)"
    return "not a regular file (a socket or device)"


def _os_reason(what: str, error: OSError) -> str:
    return f"{what} ({error.strerror or type(error).__name__})"


def _read(file: Path) -> bytes:
    """The file's bytes; a FIFO or device is refused before any read could block."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever, and
        # the kind check above may be stale (a file replaced by a pipe in between).
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _Unusable("not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise _Unusable(f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _Unusable(_os_reason("unreadable", error)) from None
    if len(data) > MAX_FILE_BYTES:  # it grew while we read it
        raise _Unusable(f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
    return data


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


def _bounded_text(data: bytes) -> str:
    """A one-article file's text, refused before any pattern runs when it is too long."""
    text = _decode(data)
    if len(text) > MAX_ARTICLE_CHARS:
        raise _Unusable(f"text longer than {MAX_ARTICLE_CHARS:,} characters: not one article")
    return text


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
    title, body = _split_title(_bounded_text(data), name)
    return _Parsed([_make_article(title, body, source=source)])


def _parse_markdown(name: str, data: bytes, source: str) -> _Parsed:
    text = _bounded_text(data)
    metadata, text = _front_matter(text)
    heading = next((h for h in _MD_H1.finditer(text) if h.group(1).rstrip(_HEADING_CLOSE)), None)
    if heading is not None:
        title = _heading_text(heading)
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
    if len(data) > MAX_HTML_BYTES:
        raise _Unusable(f"page is larger than {MAX_HTML_BYTES // 1_000_000} MB")
    try:
        page = extract_page(data, max_bytes=MAX_HTML_BYTES)
    except CorpusError as error:
        raise _Unusable(str(error)) from None
    if not page.text:
        raise _Unusable("no article text found in the page")
    title = page.title or _title_from_name(name)
    return _Parsed([_make_article(title, page.text, source=source, url=page.url, date=page.date)])


def _parse_json(name: str, data: bytes, source: str) -> _Parsed:
    value = _json_value(_decode(data))
    if isinstance(value, dict):
        return _records_to_articles([(None, value)], source)
    if isinstance(value, list):
        if not value:
            raise _Unusable("an empty JSON list: no articles")
        return _records_to_articles(enumerate(value, start=1), source)
    raise _Unusable("JSON must be an article object or a list of them")


def _parse_jsonl(name: str, data: bytes, source: str) -> _Parsed:
    records: list[tuple[int, object]] = []
    bad_lines: list[SkippedFile] = []
    # Split on "\n" only: str.splitlines() also splits at U+2028 and other separators,
    # which JSON allows raw inside strings.
    for number, line in enumerate(_decode(data).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, _json_value(line, say_where=False)))
        except _Unusable as problem:
            bad_lines.append(SkippedFile(f"{source}:{number}", problem.reason))
    parsed = _records_to_articles(records, source)
    parsed.skipped[:0] = bad_lines
    parsed.skipped.sort(key=lambda skipped: int(skipped.path.rsplit(":", 1)[1]))
    return parsed


def _json_value(text: str, *, say_where: bool = True) -> object:
    """Parsed JSON; _Unusable (with the reason) for anything the decoder refuses."""
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float)
    except json.JSONDecodeError as error:
        where = f" (line {error.lineno}: {error.msg})" if say_where else ""
        raise _Unusable(f"not valid JSON{where}") from None
    except RecursionError:
        raise _Unusable("not valid JSON (nested too deeply)") from None
    except ValueError as error:  # defensive: number conversions are bounded below
        raise _Unusable(_short(f"not valid JSON ({error})")) from None


def _json_int(digits: str) -> int | str:
    # A huge number stays text: int() raises past 4,300 digits, float() overflows.
    return int(digits) if len(digits) <= _MAX_JSON_NUMBER_CHARS else digits


def _json_float(digits: str) -> float | str:
    return float(digits) if len(digits) <= _MAX_JSON_NUMBER_CHARS else digits


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
    if len(body) > MAX_ARTICLE_CHARS:
        raise _Unusable(f"text longer than {MAX_ARTICLE_CHARS:,} characters: not one article")
    text = clean_text(body)
    if not text:
        raise _Unusable("no article text after the title")
    return Article(
        title=clean_title(title[:_MAX_TITLE_LINE_CHARS * 4]) or _title_from_text(text),
        text=text,
        source=scrub_line(source),
        url=clean_url(url),
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
    first_with_id: dict[str | None, int | None] = {}
    for position, record in records:
        where = source if position is None else f"{source}:{position}"
        try:
            article = _record_to_article(record, source, position)
        except _Unusable as problem:
            parsed.skipped.append(SkippedFile(where, problem.reason))
            continue
        # Two records with one id would be one article (the later silently replacing
        # the earlier): keep the first and say so.
        first = first_with_id.setdefault(article.external_id, position)
        if first != position:
            reason = _short(f"repeats id {article.external_id!r} of record {first}")
            parsed.skipped.append(SkippedFile(where, reason))
            continue
        parsed.articles.append(article)
    return parsed


def _record_to_article(record: object, source: str, position: int | None) -> Article:
    if not isinstance(record, dict):
        raise _Unusable("not a JSON object")
    body = _first_string(record, _TEXT_FIELDS)
    if not body:
        raise _Unusable("record has no text, body or content")
    if len(body) > MAX_ARTICLE_CHARS:  # before the HTML parser sees it
        raise _Unusable(f"text longer than {MAX_ARTICLE_CHARS:,} characters: not one article")
    if _LOOKS_LIKE_HTML.search(body):
        body = html_fragment_to_text(body)
    record_id = record.get("id")
    external_id: str | None = None
    if record_id is not None and not isinstance(record_id, bool | dict | list):
        external_id = scrub_line(str(record_id)).strip() or None
        if external_id is not None and len(external_id) > _MAX_ID_CHARS:
            raise _Unusable(f"id longer than {_MAX_ID_CHARS} characters")
    if external_id is None:
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


# Markdown: strip syntax lightly, keeping the words. Every pattern runs in linear time:
# no lazy group is followed by an optional run that can overlap it (the old heading
# pattern took 51 s on a 32k-space heading), and a bounded scan for a closing mark stops
# at the next opening one, so hostile runs of `**`, `[` or `(` cannot make each
# position rescan hundreds of characters.
_MD_H1 = re.compile(r"^[ \t]{0,3}#[ \t]+([^\n]*)$", re.MULTILINE)
_MD_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_HEADING_CLOSE = " \t#"  # a heading's trailing spaces and closing #s, stripped by str.rstrip


def _heading_text(match: re.Match[str]) -> str:
    return match.group(1).rstrip(_HEADING_CLOSE)


_MD_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    tuple(
        (re.compile(pattern, re.MULTILINE), replacement)
        for pattern, replacement in (
            (r"^[ \t]*(?:```|~~~)[^\n]*$", ""),  # code fences (the code itself stays)
            (r"^[ \t]*\[[^\[\]\n]{1,200}\]:[ \t]*\S+[^\n]*$", ""),  # reference definitions
            (r"!\[[^\[\]\n]{0,500}\]\([^()\n]{0,2000}\)", ""),  # images
            (r"\[([^\[\]\n]{1,500})\]\([^()\n]{0,2000}\)", r"\1"),  # inline links
            (r"\[([^\[\]\n]{1,500})\]\[[^\[\]\n]{0,200}\]", r"\1"),  # reference links
            (r"<[^<>\n]{1,500}>", ""),  # inline HTML tags
            (r"^[ \t]{0,3}#{1,6}[ \t]+([^\n]*)$", _heading_text),  # headings
            (r"^[ \t]*+(?:[-*_=][ \t]*+){3,}$", ""),  # rules and setext underlines
            (r"^[ \t]*>[ \t]?", ""),  # block quotes
            (r"^[ \t]*+(?:[-*+]|\d{1,3}[.)])[ \t]+", ""),  # list markers
            (r"\*\*(?=[^\s*])([^*\n]{1,500}?)(?<=\S)\*\*", r"\1"),  # bold
            (r"__(?=[^\s_])([^_\n]{1,500}?)(?<=\S)__", r"\1"),  # bold
            (r"(?<![\w*])\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*(?![\w*])", r"\1"),  # italic
            (r"(?<!\w)_(?=\S)([^_\n]{1,500}?)(?<=\S)_(?!\w)", r"\1"),  # italic
            (r"`([^`\n]{1,500})`", r"\1"),  # inline code
        )
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
