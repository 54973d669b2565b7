"""Words that carry meaning in a question: for the keyword query and for picking sentences."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import snowballstemmer

WORD_PATTERN = r"\w+"
_WORD = re.compile(WORD_PATTERN, re.UNICODE)
STEMMER_LANGUAGE = "english"

# Question and function words: matching "why" or "was" says nothing about relevance, and
# an FTS5 OR over them scans almost every row.
STOPWORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
    "any", "are", "aren", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "cannot", "could", "couldn", "did", "didn", "do",
    "does", "doesn", "doing", "don", "down", "during", "each", "even", "ever", "few", "for",
    "from", "further", "get", "got", "had", "has", "hasn", "have", "haven", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in",
    "into", "is", "isn", "it", "its", "itself", "just", "know", "let", "like", "me", "more",
    "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only",
    "or", "other", "our", "ours", "ourselves", "out", "over", "own", "really", "said",
    "same", "say", "says", "she", "should", "so", "some", "such", "tell", "than", "that",
    "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "us", "very", "was",
    "wasn", "we", "were", "weren", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "s",
    "t", "d", "ll", "m", "re", "ve", "whats", "hey", "pls", "please", "anything",
    "something",
    # Light verbs: they carry no topic ("who went to the Met Gala?" asks about the gala),
    # and a small library lacking "went" must not read as lacking the question's subject.
    "go", "goes", "going", "went", "gone", "come", "comes", "came", "coming", "make",
    "makes", "made", "making", "take", "takes", "took", "taken", "happen", "happens",
    "happened", "think", "thinks", "want", "wants", "wanted", "give", "gave", "given",
    "thing", "things",
])


_per_thread = threading.local()


def _stemmer() -> snowballstemmer.stemmer:
    """One per thread: a stemmer keeps state between calls, so sharing one across the
    bot's worker threads corrupts stems (and raises IndexError inside snowball)."""
    stemmer = getattr(_per_thread, "stemmer", None)
    if stemmer is None:
        stemmer = _per_thread.stemmer = snowballstemmer.stemmer(STEMMER_LANGUAGE)
    return stemmer


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def content_words(text: str) -> list[str]:
    """Distinct non-stopwords, in order of first appearance."""
    return list(dict.fromkeys(word for word in words(text) if word not in STOPWORDS))


# Words repeat across sentences far more than sentences repeat across questions: a word's
# stem is looked up, not recomputed, for every new sentence a question reads (the cold
# half of `Library.ask`'s answering: ~15 -> ~6 us a sentence through PyStemmer).
STEM_CACHE_WORDS = 131_072


@lru_cache(maxsize=STEM_CACHE_WORDS)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def stem_words(words: list[str] | tuple[str, ...]) -> list[str]:
    return [stem(word) for word in words]


# Answering stems the same passages and sentences again and again (popular articles, every
# question's top three): cached, it was a quarter of `Library.ask`'s Python.
STEM_CACHE_TEXTS = 32_768


@lru_cache(maxsize=STEM_CACHE_TEXTS)
def stems(text: str) -> frozenset[str]:
    return stems_of_words(words(text))


def stems_of_words(found: list[str]) -> frozenset[str]:
    """`stems` of what `words` found."""
    return frozenset(map(stem, set(found) - STOPWORDS))


def fts_phrase(word: str) -> str:
    """One word as an FTS5 phrase: quoted, so it is never syntax (a word holds no quote)."""
    return f'"{word}"'


def fts_any(words: list[str] | tuple[str, ...]) -> str:
    """An FTS5 MATCH expression for passages holding any of `words`."""
    return " OR ".join(fts_phrase(word) for word in words)

