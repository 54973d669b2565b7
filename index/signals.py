"""Cheap text signals shared by the answerer and answerability: what a question asks for,
which of its words are specific, and sentences that withhold or are not the story."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

from index.terms import (
    STEMMER_LANGUAGE,
    STOPWORDS,
    WORD_PATTERN,
    content_words,
    stem_words,
    stems,
    stems_of_words,
    words,
)

# What kind of answer the question wants, by its opening words.
_ASKS = (
    ("reason", re.compile(r"\b(why|how come|what (?:caused|made|led)|reason)\b")),
    ("number", re.compile(r"\bhow (?:many|much|old|long|far|tall)\b|\bwhat age\b")),
    ("time", re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b")),
    ("place", re.compile(r"\bwhere\b|\bwhat (?:city|country|place|state)\b")),
    ("person", re.compile(r"\bwho(?:m|se)?\b")),
)
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|"
           "november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
# Patterns without capitals are searched in the lower-cased sentence: IGNORECASE made
# each search about three times slower, and they run on every candidate sentence.
_CUES = {
    "reason": re.compile(
        r"\b(because|after|since|due to|amid|over|following|for|as a result|after|reason|"
        r"caused?|sparked|blamed?|accus\w+|claim\w*|complain\w*|criticiz\w+|slamm?\w*|"
        r"so that|in order|leaving|left|said|says|revealed|explained)\b"),
    "number": re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                         r"twelve|twenty|thirty|forty|fifty|hundred|thousand|million|"
                         r"billion|dozen)\b"),
    "time": re.compile(rf"\b({_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|"
                       r"sunday|yesterday|today|tonight|last (?:week|month|year|night)|"
                       r"(?:19|20)\d\d|\d+ (?:days?|weeks?|months?|years?) ago|"
                       r"this (?:week|month|year))\b"),
    "place": re.compile(r"\b(?:in|at|to|from|near|outside) (?:the )?[A-Z][\w'-]+"),
    "person": re.compile(r"\s[A-Z][a-z'-]+ [A-Z][a-z'-]+"),
}
_CASED_CUES = frozenset({"place", "person"})
# Hooks that promise the point instead of making it, and lines that are not the story.
_TEASER = re.compile(
    r"\b(one thing in particular|here['’]?s (?:why|what|how|the)|here is (?:why|what|how)|"
    r"find out|you won['’]?t believe|this is (?:why|what|how)|the reason (?:may|will|might)|"
    r"for a (?:bizarre|surprising|strange|weird) reason|it['’]?s really bizarre|"
    r"what happened next|details below|see (?:below|the photos?|the video|the post)|"
    r"check (?:it )?out|take a look|keep reading|read on|scroll down|"
    r"people are talking|everyone is talking|internet is (?:losing|freaking))\b")
_BOILERPLATE = re.compile(
    r"\b(related stor(?:y|ies)|a post shared by|image credit|photo credit|getty images|"
    r"read (?:the )?full article|read more|sign up|newsletter|subscribe|click here|"
    r"follow us|advertisement|all rights reserved|source:)\b")


def asks_for(question: str) -> str | None:
    """"reason", "number", "time", "place", "person", or None (what/which/yes-no)."""
    lowered = question.casefold()
    for kind, pattern in _ASKS:
        if pattern.search(lowered):
            return kind
    return None


def has_cue(kind: str | None, sentence: str) -> bool:
    if kind is None:
        return False
    searched = sentence if kind in _CASED_CUES else sentence.lower()
    return _CUES[kind].search(searched) is not None


# A sentence ending so (closing quotes and brackets aside) withholds its point.
_TEASER_ENDINGS = ("?", "…", "...", ":")
_TEASER_TRAILING = "\"'”’) "


def is_teaser(sentence: str) -> bool:
    stripped = sentence.rstrip(_TEASER_TRAILING)
    return _TEASER.search(sentence.lower()) is not None or stripped.endswith(_TEASER_ENDINGS)


def is_boilerplate(sentence: str) -> bool:
    return _BOILERPLATE.search(sentence.lower()) is not None


class SentenceSignals(NamedTuple):
    """What a sentence says about itself, whatever the question: computed once per text,
    or read back as stored. (A NamedTuple: one is made for every stored sentence an answer
    reads, in half the time of a frozen dataclass.)"""

    stems: frozenset[str]
    words: int
    boilerplate: bool
    teaser: bool


def _signals_of(text: str) -> SentenceSignals:
    found = words(text)
    return SentenceSignals(stems_of_words(found), len(found), is_boilerplate(text),
                           is_teaser(text))


sentence_signals = lru_cache(maxsize=32_768)(_signals_of)


# Stored signals (`stored_signals`) are read back only if made by the same rules: the
# stamp changes with any of them, and a row with another stamp is computed afresh.
STORED_SIGNALS_STAMP = "s1:" + hashlib.sha256("\n".join([
    " ".join(sorted(STOPWORDS)), WORD_PATTERN, STEMMER_LANGUAGE, _TEASER.pattern,
    _BOILERPLATE.pattern, " ".join(_TEASER_ENDINGS), _TEASER_TRAILING,
]).encode()).hexdigest()[:12]


def stored_signals(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The signals of each sentence of `text` (at `spans`), as stored beside the spans at
    ingest: a passage's sentences are new to the first question that reads them, and
    computing their signals then cost that answer ~40 us a sentence (benchmarks/README.md,
    "Stop 13"). One line per sentence: word count, flags (1 boilerplate, 2 teaser), stems."""
    lines = [STORED_SIGNALS_STAMP]
    for start, end in spans:
        made = _signals_of(text[start:end])
        flags = int(made.boilerplate) | int(made.teaser) << 1
        lines.append(" ".join([str(made.words), str(flags), *sorted(made.stems)]))
    return "\n".join(lines)


def signals_current(stored: str | None) -> bool:
    """Whether `stored` was made by these rules."""
    return stored is not None and stored.split("\n", 1)[0] == STORED_SIGNALS_STAMP


def read_stored_signals(stored: str | None, sentences: int) -> list[SentenceSignals] | None:
    """What `stored_signals` wrote, or None: none stored, another stamp, not one line per
    sentence, or damaged (the answer then computes them, as for rows stored before)."""
    if not stored:
        return None
    stamp, *lines = stored.split("\n")
    if stamp != STORED_SIGNALS_STAMP or len(lines) != sentences:
        return None
    read = []
    try:
        for line in lines:
            fields = line.split(" ")
            bits = int(fields[1])
            read.append(SentenceSignals(frozenset(fields[2:]), int(fields[0]), bool(bits & 1),
                                        bool(bits & 2)))
    except (ValueError, IndexError):
        return None
    return read


def passage_stems(title: str, sentences: Iterable[SentenceSignals]) -> frozenset[str]:
    """`stems` of the title and the passage its sentences make up, from the sentences'
    signals: the answerer has just read the same ones."""
    return frozenset().union(stems(title), *(signals.stems for signals in sentences))


# A capitalised word not opening a sentence. Written to start with the capital (the word
# boundary and the sentence end checked behind it) so that the regex engine skips ahead
# to capitals: three times faster than the same test written in reading order.
CAPITALISED_WORD = re.compile(r"[A-Z](?<!\w[A-Z])(?<![.!?]\s[A-Z])[\w'-]*")


@dataclass(frozen=True)
class QuestionTerms:
    """The question's content words, their stems, and how specific each is here."""

    words: tuple[str, ...]
    stems: tuple[str, ...]  # stems[i] is the stem of words[i]
    weights: tuple[float, ...]  # inverse document frequency within the asker's scope
    names: frozenset[str]  # stems written capitalised in the evidence: people, places

    @classmethod
    def of(cls, question: str, document_frequency: Callable[[str], int], documents: int,
           evidence_texts: Iterable[str]) -> QuestionTerms:
        words = tuple(content_words(question))
        stems = tuple(stem_words(words))
        weights = tuple(
            math.log(1 + (documents + 1) / (1 + document_frequency(word))) for word in words)
        capitalised = {word.casefold() for text in evidence_texts
                       for word in CAPITALISED_WORD.findall(text)}
        names = frozenset(stem for word, stem in zip(words, stems, strict=True)
                          if word in capitalised)
        return cls(words, stems, weights, names)

    @cached_property  # read for every candidate sentence
    def total_weight(self) -> float:
        return sum(self.weights)

    def coverage(self, stems: Set[str]) -> float:
        """Share of the question's weight whose words appear among `stems`."""
        if not self.words:
            return 0.0
        found = sum(w for stem, w in zip(self.stems, self.weights, strict=True) if stem in stems)
        return found / self.total_weight

    def most_specific_missing(self, stems: Set[str]) -> float:
        """The weight of the most specific question word absent from `stems`, relative to
        the most specific word of all: 1.0 when the question's key word is missing."""
        if not self.words:
            return 0.0
        missing = [w for stem, w in zip(self.stems, self.weights, strict=True)
                   if stem not in stems]
        return max(missing, default=0.0) / max(self.weights)

    def names_found(self, stems: Set[str]) -> float:
        if not self.names:
            return 0.0
        return len(self.names & stems) / len(self.names)
