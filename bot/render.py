"""Answers and article lists as Discord embeds (within Discord's limits) or plain text.

Both renderings share the same wording and order: the functions here take a `Style` that
says how to escape text and draw a link, so the console and Discord never drift apart.
Everything that comes from an article is escaped for Discord: it can neither format the
message nor mention anyone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

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
_URL_UNSAFE = {"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", " ": "%20"}


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


def escape_discord(text: str) -> str:
    """Article text made inert: no markdown, no @everyone / user / role mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def safe_url(url: str | None) -> str | None:
    """An http(s) URL safe inside a masked link, or None."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    for char, code in _URL_UNSAFE.items():
        url = url.replace(char, code)
    return url


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
        if candidate and urlsplit(candidate).scheme in ("http", "https"):
            host = urlsplit(candidate).netloc
            return host.removeprefix("www.")
    return source


@dataclass(frozen=True)
class Style:
    """How one output medium escapes article text and draws links."""

    escape: Callable[[str], str]
    link: Callable[[str, str | None], str]  # (raw title, url or None) -> escaped link
    bold: Callable[[str], str]


def _discord_link(title: str, url: str | None) -> str:
    target = safe_url(url)
    if not target:
        return escape_discord(title)
    # Brackets would end the masked link's text early; round ones read the same.
    return f"[{escape_discord(title.replace('[', '(').replace(']', ')'))}]({target})"


def _plain_link(title: str, url: str | None) -> str:
    return f"{title} <{url}>" if url else title


DISCORD = Style(escape=escape_discord, link=_discord_link, bold=lambda s: f"**{s}**")
PLAIN = Style(escape=lambda s: s, link=_plain_link, bold=lambda s: s)


# --- shared wording ---


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
        parts.append(day)
    parts.append(style.escape(where_from(source, url)))
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


# --- plain text (console) ---


def answer_text(answer: Answer) -> str:
    if answer.abstained or not answer.quotes:
        lines = [NOT_FOUND]
        if answer.hits:
            lines += ["", CLOSEST_INTRO, *hit_lines(answer.hits, PLAIN)]
        return "\n".join(lines)
    return "\n".join(
        [*quote_lines(answer, PLAIN), "", "Sources:", *citation_lines(answer.citations, PLAIN)]
    )


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
    title = escape_discord(asked or answer.question)
    if answer.abstained or not answer.quotes:
        description = NOT_FOUND if answer.hits else f"{NOT_FOUND} {NOTHING_HELD}"
        embed = discord.Embed(title=title, description=description, colour=ABSTAIN_COLOUR)
        if answer.hits:
            add_list_fields(embed, CLOSEST_INTRO.rstrip(":"), hit_lines(answer.hits, DISCORD))
    else:
        quotes = [f"> {line}" for line in quote_lines(answer, DISCORD)]
        embed = discord.Embed(
            title=title,
            description=join_within(quotes, EMBED_DESCRIPTION_LIMIT, separator="\n\n"),
            colour=ANSWER_COLOUR,
        )
        add_list_fields(embed, "Sources", citation_lines(answer.citations, DISCORD))
    if footer:
        embed.set_footer(text=footer)
    return fit_embed(embed)


def hits_embed(title: str, hits: Sequence[Hit], *, empty: str) -> discord.Embed:
    """Distinct articles on a topic, best first, with dates (`/sources`)."""
    embed = discord.Embed(title=escape_discord(title), colour=ANSWER_COLOUR)
    embed.description = (
        join_within(hit_lines(hits, DISCORD), EMBED_DESCRIPTION_LIMIT) if hits else empty
    )
    return fit_embed(embed)


def plain_message(text: str) -> str:
    """A plain message cut to Discord's 2,000 characters."""
    return truncate(text, MESSAGE_LIMIT)
