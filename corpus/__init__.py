"""Articles in, passages out: loading, cleaning and chunking news articles.

Never imports discord or the index: the bot and the index build on this layer.
"""

from corpus.chunking import chunk_article, split_sentences
from corpus.clean import clean_text, clean_title
from corpus.dates import normalise_date
from corpus.errors import CorpusError
from corpus.loaders import (
    SUPPORTED_EXTENSIONS,
    article_from_text,
    drop_duplicates,
    load_path,
    parse_document,
    read_document,
)
from corpus.records import Article, LoadReport, Passage, SkippedFile, normalised_text
from corpus.text import clean_url, scrub
from corpus.web import fetch_url

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Article",
    "CorpusError",
    "LoadReport",
    "Passage",
    "SkippedFile",
    "article_from_text",
    "chunk_article",
    "clean_text",
    "clean_title",
    "clean_url",
    "drop_duplicates",
    "fetch_url",
    "load_path",
    "normalise_date",
    "normalised_text",
    "parse_document",
    "read_document",
    "scrub",
    "split_sentences",
]
