"""Answers and article lists as Discord embeds (within Discord's limits) or plain text.

Both renderings share the same wording and order: the functions here take a `Style` that
says how to escape text and draw a link, so the console and Discord never drift apart.
Everything that comes from an article or a member is made inert for Discord: it can
neither format the message, nor mention anyone, nor carry a link. The only links in an embed
are the articles' own source links, drawn here from their `url` (a quoted
`[Claim Nitro](https://x/login)` or a bare `https://…` shows as text). Control characters
(NUL, ESC, bidi overrides) are dropped from everything shown, in Discord and the console.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

import discord

from index.results import Answer, Citation, Hit

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
MAX_FIELDS = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000

ELLIPSIS = "…"
NOT_FOUND = "I couldn't find this in my articles."
CLOSEST_INTRO = "The closest articles I have:"
NOTHING_HELD = "I don't hold any articles yet."

ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# C0/C1 controls but tab and newline (NUL, ESC, DEL...), lone surrogates (not encodable)
# and bidi embeddings/overrides/isolates (they make text read backwards, e.g. a fake ".exe").
_UNPRINTABLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)
# Discord links `https://…`, `steam://…` and `<scheme:/…>`; a zero-width space after the
# scheme's colon leaves the text readable but no longer a link. (Matched at the colon, not
# from the scheme's start, so a long run of letters costs linear time.)
_SCHEME_COLON = re.compile(r"(?i)(?<=[a-z0-9+.-]):(?=/)")
# `[` or `]` not already escaped (preceded by an even run of backslashes): escape_markdown
# escapes only the first `[text](url)` of a line, so every bracket is escaped here.
_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")
# `<@…`, `<#…`, `</…`: mention, channel and command syntax (AllowedMentions stops pings;
# this stops the rendering too).
_ANGLE_MARKUP = re.compile(r"<(?=[@#/])")
ZERO_WIDTH_SPACE = "\u200b"
# In a written (model) answer, links are dropped, not just made inert: the sources list
# links every cited article, and a model has no other link worth showing.
_MASKED_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*<?[^)\s]{0,2000}>?\s*\)")
_BARE_LINK = re.compile(r"(?i)<?[a-z][a-z0-9+.-]{0,31}:/+[^\s<>]*>?")
# A longer link could be cut by a field's limit and leave half a link; its title is shown.
MAX_LINK_URL = 400
LINK_TITLE_CHARS = 150
HOST_CHARS = 100


# --- text primitives ---


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary and ended with "…" when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = text[: limit - len(ELLIPSIS) + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    # Only back up to a word boundary when it keeps most of the text (no giant words).
    cut = cut[:space] if space >= limit // 2 else cut[: limit - len(ELLIPSIS)]
    cut = cut.rstrip()
    # A cut right after a backslash would escape the ellipsis or leave a broken escape.
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def join_within(lines: Sequence[str], limit: int, *, separator: str = "\n") -> str:
    """As many whole lines as fit, then "…and N more"; a lone overlong first line is cut."""

    def tail(left: int) -> str:
        return f"{separator}…and {left} more" if left else ""

    # sizes[k]: length of the first k lines joined
    sizes = [0]
    for position, line in enumerate(lines):
        sizes.append(sizes[-1] + len(line) + (len(separator) if position else 0))
    for keep in range(len(lines), 0, -1):
        if sizes[keep] + len(tail(len(lines) - keep)) <= limit:
            return separator.join(lines[:keep]) + tail(len(lines) - keep)
    if not lines:
        return ""
    rest = tail(len(lines) - 1)
    return truncate(lines[0], max(1, limit - len(rest))) + rest


def printable(text: str) -> str:
    """`text` without control characters (tab and newline are kept)."""
    return _UNPRINTABLE.sub("", text)


def one_line(text: str) -> str:
    """Printable text on one line, runs of whitespace made one space (titles, questions)."""
    return " ".join(printable(text).split())


def defang_links(text: str) -> str:
    """Bare URLs shown as text: Discord no longer turns them into links."""
    return _SCHEME_COLON.sub(f":{ZERO_WIDTH_SPACE}", text)


# Escaping is most of an answer embed's cost, and the same sentences, titles and sites come
# back answer after answer (a popular story's top passages): the results are kept.
RENDER_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def escape_discord(text: str) -> str:
    """Article or member text made inert: no markdown, no links, no mentions, no controls."""
    # Nothing longer fits in an embed, and this bounds the work of escape_markdown's
    # backtracking patterns on hostile text.
    text = text[:EMBED_TOTAL_LIMIT]
    text = discord.utils.escape_markdown(defang_links(printable(text)))
    text = _BRACKET.sub(r"\1\\\2", text)
    text = _ANGLE_MARKUP.sub(f"<{ZERO_WIDTH_SPACE}", text)
    return discord.utils.escape_mentions(text)


def strip_links(text: str) -> str:
    """`[text](url)` becomes its text and bare URLs go: for answers a model wrote."""
    return _BARE_LINK.sub("", _MASKED_LINK.sub(r"\1", text))


def escape_title(text: str) -> str:
    """escape_discord on one line: for embed titles and other one-line places."""
    return escape_discord(one_line(text))


def safe_url(url: str | None) -> str | None:
    """An http(s) URL safe as a masked link's target, or None.

    Whitespace, controls, quotes, backslashes, parentheses and angle brackets are
    percent-encoded: any of them could end the link early and spill the rest of the URL
    into the message as text (or as a second, bare link). So is "@": `…/path@everyone`
    must not read as a mention, and `https://news.example@evil.example` hides its host.
    """
    if not url:
        return None
    url = url.strip()
    parts = _web_url(url)
    if parts is None:
        return None
    return "".join(_url_char(char) for char in url)


def _url_char(char: str) -> str:
    if char in '()<>\\"`@' or char.isspace() or _UNPRINTABLE.match(char):
        return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return char


def short_date(date: str | None) -> str | None:
    if not date:
        return None
    match = _DATE.match(date)
    return match.group(0) if match else date


def relative_time(iso: str | None) -> str:
    """A Discord timestamp ("3 hours ago", in each reader's time zone) or the raw text."""
    if not iso:
        return "never"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return discord.utils.format_dt(moment, "R")


def where_from(source: str, url: str | None) -> str:
    """A short "where from": a site name for web articles, else the file or label."""
    for candidate in (source, url):
        parts = _web_url(candidate) if candidate else None
        if parts is not None:
            return parts.netloc.removeprefix("www.")
    return source


def _web_url(text: str) -> SplitResult | None:
    """`text` split as an http(s) URL with a host, or None (also for "https://[bad")."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return parts


@dataclass(frozen=True)
class Style:
    """How one output medium escapes article text and draws links."""

    escape: Callable[[str], str]
    link: Callable[[str, str | None], str]  # (raw title, url or None) -> escaped link
    bold: Callable[[str], str]


def _discord_link(title: str, url: str | None) -> str:
    target = safe_url(url)
    title = truncate(one_line(title), LINK_TITLE_CHARS)
    if not target or len(target) > MAX_LINK_URL:
        return escape_title(title)
    # Brackets would end the masked link's text early; round ones read the same.
    return f"[{escape_title(title.replace('[', '(').replace(']', ')'))}]({target})"


def _plain_link(title: str, url: str | None) -> str:
    title = one_line(title)
    return f"{title} <{one_line(url)}>" if url else title


DISCORD = Style(escape=escape_discord, link=_discord_link, bold=lambda s: f"**{s}**")
# The console keeps article text as written, minus controls (ESC could drive the terminal).
PLAIN = Style(escape=printable, link=_plain_link, bold=lambda s: s)


# --- shared wording ---


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def source_line(
    *,
    title: str,
    url: str | None,
    date: str | None,
    source: str,
    style: Style,
    number: int | None = None,
) -> str:
    """`[1] Title — 2024-05-01 — example.com` (title linked where the medium can)."""
    parts = [style.link(title or "Untitled", url)]
    day = short_date(date)
    if day:
        parts.append(style.escape(truncate(one_line(day), HOST_CHARS)))
    parts.append(style.escape(truncate(one_line(where_from(source, url)), HOST_CHARS)))
    prefix = style.bold(f"[{number}]") + " " if number is not None else ""
    return prefix + " — ".join(parts)


def citation_lines(citations: Iterable[Citation], style: Style) -> list[str]:
    return [
        source_line(
            number=citation.number,
            title=citation.title,
            url=citation.url,
            date=citation.date,
            source=citation.source,
            style=style,
        )
        for citation in citations
    ]


def hit_lines(hits: Iterable[Hit], style: Style, *, numbered: bool = True) -> list[str]:
    lines = []
    for position, hit in enumerate(hits, start=1):
        line = source_line(
            title=hit.title, url=hit.url, date=hit.date, source=hit.source, style=style
        )
        lines.append(f"{position}. {line}" if numbered else f"• {line}")
    return lines


def quote_lines(answer: Answer, style: Style) -> list[str]:
    return [f"“{style.escape(quote.text)}” [{quote.citation}]" for quote in answer.quotes]


def written_answer(answer: Answer) -> str | None:
    """A free-form answer (a language model's, with [n] marks), or None when the answer
    is its quotes."""
    text = answer.text
    return text if text and text.strip() else None


def answer_lines(answer: Answer, style: Style) -> list[str]:
    """The answer's body: its free-form text (links dropped, then escaped like any article
    text) or its quotes."""
    text = written_answer(answer)
    if text is not None:
        # Cut first: nothing longer fits, and it bounds the link patterns' work.
        paragraphs = strip_links(text[:EMBED_TOTAL_LIMIT]).split("\n")
        return [style.escape(paragraph) for paragraph in paragraphs if paragraph.strip()]
    return quote_lines(answer, style)


def answer_note(answer: Answer) -> str | None:
    """How the answer was made, when a member should know: a model wrote it (check the
    sources), or the model's answer was not used and why."""
    if answer.note:
        return printable(answer.note)
    if written_answer(answer) is not None:
        model = answer.answered_by.removeprefix("llm:")
        return f"Written by a language model ({printable(model)}) from the sources below."
    return None


def has_answer(answer: Answer) -> bool:
    return not answer.abstained and bool(answer.quotes or written_answer(answer))


# --- plain text (console) ---


def answer_text(answer: Answer) -> str:
    if not has_answer(answer):
        lines = [NOT_FOUND]
        if answer.hits:
            lines += ["", CLOSEST_INTRO, *hit_lines(answer.hits, PLAIN)]
        return "\n".join(lines)
    note = answer_note(answer)
    supporting = quote_lines(answer, PLAIN) if written_answer(answer) is not None else []
    return "\n".join([
        *answer_lines(answer, PLAIN), *supporting, *([f"({note})"] if note else []), "",
        "Sources:", *citation_lines(answer.citations, PLAIN)])


# --- Discord embeds ---


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Enforce every per-part limit, then the 6,000 total by dropping trailing fields and
    finally shortening the description."""
    if embed.title:
        embed.title = truncate(embed.title, EMBED_TITLE_LIMIT)
    if embed.description:
        embed.description = truncate(embed.description, EMBED_DESCRIPTION_LIMIT)
    if embed.footer.text:
        embed.set_footer(text=truncate(embed.footer.text, FOOTER_LIMIT))
    fields = embed.fields[:MAX_FIELDS]
    embed.clear_fields()
    for field in fields:
        embed.add_field(
            name=truncate(field.name or "\u200b", FIELD_NAME_LIMIT),
            value=truncate(field.value or "\u200b", FIELD_VALUE_LIMIT),
            inline=bool(field.inline),
        )
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL_LIMIT and embed.description:
        excess = len(embed) - EMBED_TOTAL_LIMIT
        embed.description = truncate(embed.description, len(embed.description) - excess)
    return embed


def add_list_fields(embed: discord.Embed, name: str, lines: Sequence[str]) -> None:
    """Lines spread over as many fields as needed (each under 1,024), never split mid-line."""
    chunk: list[str] = []
    size = 0
    first = True

    def flush() -> None:
        nonlocal chunk, size, first
        if chunk:
            embed.add_field(
                name=name if first else f"{name} (cont.)", value="\n".join(chunk), inline=False
            )
            first = False
        chunk, size = [], 0

    for line in lines:
        line = truncate(line, FIELD_VALUE_LIMIT)
        if chunk and size + 1 + len(line) > FIELD_VALUE_LIMIT:
            flush()
        chunk.append(line)
        size += len(line) + (1 if size else 0)
    flush()


def answer_embed(
    answer: Answer, *, asked: str | None = None, footer: str | None = None
) -> discord.Embed:
    """The answer: quoted sentences with [n] markers, then numbered sources.

    `asked` is what the member typed (a follow-up shows their words, not the composed
    question the search used).
    """
    title = escape_title(asked or answer.question)
    if not has_answer(answer):
        description = NOT_FOUND if answer.hits else f"{NOT_FOUND} {NOTHING_HELD}"
        embed = discord.Embed(title=title, description=description, colour=ABSTAIN_COLOUR)
        if answer.hits:
            add_list_fields(embed, CLOSEST_INTRO.rstrip(":"), hit_lines(answer.hits, DISCORD))
    else:
        quotes = [f"> {line}" for line in answer_lines(answer, DISCORD)]
        embed = discord.Embed(
            title=title,
            description=join_within(quotes, EMBED_DESCRIPTION_LIMIT, separator="\n\n"),
            colour=ANSWER_COLOUR,
        )
        if written_answer(answer) is not None and answer.quotes:
            # What each claim was checked against, verbatim, so a member can verify it.
            add_list_fields(embed, "From the articles", quote_lines(answer, DISCORD))
        add_list_fields(embed, "Sources", citation_lines(answer.citations, DISCORD))
    footer = " · ".join(part for part in (answer_note(answer), footer) if part)
    if footer:
        embed.set_footer(text=footer)
    return fit_embed(embed)


def hits_embed(title: str, hits: Sequence[Hit], *, empty: str) -> discord.Embed:
    """Distinct articles on a topic, best first, with dates (`/sources`)."""
    embed = discord.Embed(title=escape_title(title), colour=ANSWER_COLOUR)
    embed.description = (
        join_within(hit_lines(hits, DISCORD), EMBED_DESCRIPTION_LIMIT) if hits else empty
    )
    return fit_embed(embed)


def plain_message(text: str) -> str:
    """A plain message cut to Discord's 2,000 characters, without control characters."""
    return truncate(printable(text), MESSAGE_LIMIT)
