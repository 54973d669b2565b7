"""Remove the boilerplate scraped articles carry, keeping every sentence of the story.

Boilerplate comes as whole short lines ("Related story", "Image Credit: …", "A post shared
by …", "Advertisement"), so the rules match whole lines and only lines short enough to be
boilerplate: a real paragraph that happens to start with "Subscribe" is never dropped.
"""

from __future__ import annotations

import re

from corpus.text import scrub

# A boilerplate line is short; anything longer is story text whatever it starts with.
_MAX_BOILERPLATE_CHARS = 300
_MAX_TEASER_WORDS = 25

_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200e\u200f\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # runs of whitespace other than newlines
_BLANK_LINES = re.compile(r"\n\s*\n")
_BULLET = re.compile(r"^[•·▪▫◦‣⁃●○■□►▸▶➤➢✓✔∙]+\s*")
# The lookbehind lets only the first space of a run start a match: without it a long run
# of spaces is rescanned from every position (quadratic time).
_INLINE_LINK_TAIL = re.compile(r"(?<!\s)\s*+\bRead more at:?\s*https?://\S+", re.IGNORECASE)

# Picture agencies: a short line naming one and not ending like a sentence is a credit
# ("Stefanie Keenan/Getty Images for Daily Front Row", "Rex Features").
_AGENCY = re.compile(
    r"\b(?:getty(?: images)?|rex features|rex(?=/)|shutterstock|splash news|wireimage|filmmagic"
    r"|backgrid|ap photo|reuters|afp|bauer-griffin|invision|mega agency|pa images)\b",
    re.IGNORECASE,
)
_MAX_CREDIT_WORDS = 12

# Lines that announce a teaser headline on the next line ("Related story" / headline).
_TEASER_MARKER = re.compile(
    r"(?:related(?: (?:story|stories|articles?|posts?|content|coverage|reading|links?|news))?"
    r"|read (?:next|more|also)|also read|recommended(?: for you)?|you (?:may|might) also like"
    r"|more(?: stories)?(?: from \w+)?)\s*:?",
    re.IGNORECASE,
)

_BOILERPLATE = re.compile(
    "|".join(
        (
            # link-outs: "Related: …", "RELATED VIDEO: …", "Read more: …", "More: …"
            r"related(?: [a-z]+)?\s*:.*",
            r"(?:read (?:more|next|also)|also read|see also|more)\s*(?::.*|…|\.\.\.|»)?",
            r"read more (?:at|on|here)\b.*",
            r"see the most[- ]read .*",
            # picture credits and embeds
            r"(?:image|photo|picture|video)s?\s*(?:credits?|courtesy|source)\s*:.*",
            r"(?:photo(?:graph)?s?|pictures?|images?|credits?)\s*:.*",
            r"(?:a )?(?:post|photo|video) shared by .*",
            r"view this (?:post|photo|video) on instagram",
            r"(?:instagram|twitter|youtube|facebook|tiktok)(?: (?:stories|post|video|photo))?",
            r"\[(?:instagram|tweet|twitter|embed|caption|video|youtube|gallery)\b[^\]]*\]",
            # "Source: Read Full Article" and its cousins
            r"(?:source\s*:\s*)?read (?:the )?full (?:article|story).*",
            # newsletters and sharing
            r"(?:sign up|signup|subscribe)\b.*",
            r".*\b(?:sign up|subscribe)\b.*\bnewsletters?\b.*",
            r"get (?:our|the) .*newsletter.*",
            r"click to share on .*",
            r"(?:share|tweet|pin it|email|print)(?: (?:this|on|via) [\w ]+)?",
            r"follow us on .*",
            # video players and ads
            r"this video (?:is|has been) (?:unavailable|not available|no longer available"
            r"|removed).*",
            r"your browser does not support .*",
            r"(?:video )?(?:player )?(?:is )?loading(?:\.\.\.|…)?",
            r"(?:now playing|up next|replay video|play video|skip ad|autoplay)(?:\s*:.*)?",
            r"ad(?:vertisement)?(?: feedback)?",
            r"advertisement\W*(?:story|article)? ?continues? (?:below|after).*",
            r"(?:story|article) continues (?:below|after).*",
            r"continue reading (?:below|the main story).*",
            r"sponsored(?: content)?|paid content|advertiser content",
        )
    ),
    re.IGNORECASE,
)
# Case matters for these: "WATCH: …" video teasers and "By Jane Doe" bylines are capitalised
# that way, while a sentence such as "Watch: she is back" or "by then" is not.
_CASED_BOILERPLATE = re.compile(r"WATCH:.*[^.!?…\"”]|By(?: [A-Z][\w.'’-]+){1,4}")


def clean_title(title: str) -> str:
    """A title on one line, single-spaced, without trailing link-outs."""
    title = _INLINE_LINK_TAIL.sub("", _INVISIBLE.sub("", scrub(title)))
    return " ".join(title.split())


def clean_text(text: str) -> str:
    """Story text without boilerplate lines; paragraphs separated by one blank line."""
    text = _INVISIBLE.sub("", scrub(text))  # scrub also turns \r\n and \r into \n
    text = _INLINE_LINK_TAIL.sub("", text)
    paragraphs: list[str] = []
    drop_teaser = False
    dropped_teasers: set[str] = set()  # scrapes often repeat the teaser line right after
    for block in _BLANK_LINES.split(text):
        kept: list[str] = []
        for raw_line in block.split("\n"):
            line = _BULLET.sub("", _SPACES.sub(" ", raw_line).strip())
            if not line:
                continue
            if drop_teaser:
                drop_teaser = False
                if _looks_like_teaser(line):
                    dropped_teasers.add(line)
                    continue
            if line in dropped_teasers:
                continue
            if len(line) <= _MAX_BOILERPLATE_CHARS:
                if _TEASER_MARKER.fullmatch(line):
                    drop_teaser = True
                    continue
                if (
                    _BOILERPLATE.fullmatch(line)
                    or _CASED_BOILERPLATE.fullmatch(line)
                    or _is_picture_credit(line)
                ):
                    continue
            kept.append(line)
        if kept:
            paragraphs.append("\n".join(kept))
    return "\n\n".join(paragraphs)


def _looks_like_teaser(line: str) -> bool:
    """A headline: short and not ending like a sentence of prose."""
    if len(line) > _MAX_BOILERPLATE_CHARS or len(line.split()) > _MAX_TEASER_WORDS:
        return False
    return not _ends_like_prose(line)


def _is_picture_credit(line: str) -> bool:
    return (
        len(line.split()) <= _MAX_CREDIT_WORDS
        and not _ends_like_prose(line)
        and _AGENCY.search(line) is not None
    )


def _ends_like_prose(line: str) -> bool:
    return line.rstrip("\"'”’)").endswith((".", "!", "?", "…", ":", ","))
