"""Text out of HTML: whole pages through trafilatura, feed-entry fragments through lxml."""

from __future__ import annotations

from dataclasses import dataclass

import lxml.etree
import lxml.html
import trafilatura
from trafilatura.utils import decode_file

from corpus.dates import normalise_date
from corpus.errors import CorpusError
from corpus.text import scrub

_BLOCK_TAGS = (
    "p", "div", "section", "article", "blockquote", "li", "ul", "ol", "table", "tr",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "figure", "figcaption", "header", "footer",
)  # fmt: skip


MIN_PAGE_WORDS = 15
# trafilatura's time grows with the page; a news page is far smaller than this.
MAX_PAGE_BYTES = 5_000_000


@dataclass(frozen=True)
class ExtractedPage:
    title: str | None
    text: str  # paragraphs separated by blank lines; empty when the page has no main text
    date: str | None
    url: str | None


def extract_page(
    html: str | bytes, *, url: str | None = None, max_bytes: int = MAX_PAGE_BYTES
) -> ExtractedPage:
    """The main text, title, date and canonical URL of an article page.

    Text shorter than `MIN_PAGE_WORDS` counts as none: it is navigation or a cookie
    banner that trafilatura's fallback picked up, not an article. CorpusError when the
    page (after any decompression) is larger than `max_bytes`.
    """
    html = _page_text(html, max_bytes)
    document = _extract(html, url, favor_precision=True) or _extract(
        html, url, favor_precision=False
    )
    if document is None:
        return ExtractedPage(title=None, text="", date=None, url=None)
    title = " ".join((document.title or "").split()) or None
    lines = [" ".join(line.split()) for line in (document.text or "").split("\n")]
    # trafilatura starts the text with the page's <h1>, which repeats the title.
    if lines and title and lines[0] == title:
        lines = lines[1:]
    # trafilatura puts one block per line; make each a paragraph for the chunker.
    text = "\n\n".join(line for line in lines if line)
    if len(text.split()) < MIN_PAGE_WORDS:
        text = ""
    return ExtractedPage(
        title=title, text=text, date=normalise_date(document.date), url=document.url
    )


def _page_text(html: str | bytes, max_bytes: int) -> str:
    """The page as text, never more than `max_bytes`.

    trafilatura inflates gzip/zlib/brotli bytes by itself, up to 20 MB by default (a
    33 kB bomb became 10 MB of HTML); decoding here with our cap first means it only
    ever sees text of a bounded size.
    """
    if isinstance(html, bytes):
        html = decode_file(html, max_size=max_bytes)
    if len(html) > max_bytes:
        raise CorpusError(f"page is larger than {max_bytes / 1_000_000:g} MB")
    return scrub(html)  # lxml refuses lone surrogates and most control characters


def _extract(
    html: str, url: str | None, *, favor_precision: bool
) -> trafilatura.settings.Document | None:
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        favor_precision=favor_precision,
        include_comments=False,
        include_tables=False,
        # No guessing from "Copyright 2023" or the URL: a wrong date is worse than none.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if document is None or not (document.text or "").strip():
        return None
    return document


def html_fragment_to_text(fragment: str) -> str:
    """Plain text of an HTML snippet (an RSS summary), one paragraph per block element."""
    fragment = scrub(fragment)
    if "<" not in fragment and "&" not in fragment:
        return fragment
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return ""
    for element in list(root.iter("script", "style", "noscript", "iframe")):
        element.drop_tree()
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")
    return root.text_content()
