"""Split articles into passages of whole sentences, small enough to embed well.

Regex based on purpose: chunking runs on every article at ingest and must cost far less
than embedding the passages it makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.records import Article, Passage

# Sentence-ending punctuation, any closing quotes/brackets, then whitespace. Whether it
# really ends a sentence is decided by what comes before (abbreviation?) and after.
# Only the first mark of a run may start a match and the runs are possessive, so a long
# run of dots or quotes costs linear time, not a rescan from every position in it.
_CANDIDATE_END = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S", "e.g" (before the final period)
_OPENING_PUNCTUATION = "\"'“‘([¿¡*#@"
_SENTENCE_ENDINGS = (".", "!", "?", "…", ":", ";", ",", '"', "”", "'", "’", ")")
_MAX_HEADING_WORDS = 12
# Past this many characters per word on average a "sentence" is not prose (a base64 blob,
# a run of symbols); it is cut by characters so no passage grows without bound.
_MAX_CHARS_PER_WORD = 20

# Words that end with a period without ending the sentence. Left out on purpose: words
# that also end sentences in news prose ("rep", "wed", "sat", "sun", "art").
_ABBREVIATIONS = frozenset(
    (
        *("mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "rev", "fr"),
        *("hon", "gov", "sen", "pres", "gen", "col", "lt", "capt", "sgt", "cmdr", "adm"),
        *("maj", "supt", "insp", "det", "messrs", "mme", "mlle", "esq"),
        *("inc", "ltd", "co", "corp", "bros", "plc", "llc", "dept", "univ", "assn", "est"),
        *("vs", "etc", "al", "approx", "ca", "cf", "ie", "eg", "viz", "ed", "eds"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
        *("ave", "blvd", "rd", "hwy"),
    )
)
# Abbreviations only before a number: "No. 1", "Vol. 2", "Fig. 3" (but "she said no.").
_NUMBER_ABBREVIATIONS = frozenset(
    ("no", "nos", "vol", "vols", "p", "pp", "pg", "fig", "figs", "ch", "art", "sec", "para")
)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` in order, whitespace collapsed; paragraph breaks always split."""
    sentences: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        sentences.extend(_split_paragraph(paragraph))
    return sentences


def _split_paragraph(paragraph: str) -> list[str]:
    paragraph = " ".join(paragraph.split())
    if not paragraph:
        return []
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE_END.finditer(paragraph):
        end = match.end()
        if end >= len(paragraph):
            break
        if _ends_sentence(paragraph, match.start(), match.group(), end):
            sentences.append(paragraph[start:end].rstrip())
            start = end
    sentences.append(paragraph[start:].rstrip())
    return sentences


def _ends_sentence(text: str, punct_at: int, punctuation: str, next_at: int) -> bool:
    following = text[next_at]
    if following in _OPENING_PUNCTUATION and next_at + 1 < len(text):
        following = text[next_at + 1]
    # '"Really?" she asked.' and 'Mr. Smith' both continue; a new sentence starts in
    # upper case or with a number (also true of an emoji or CJK text, which have no case).
    if following.islower():
        return False
    if punctuation[0] != "." or punctuation.startswith(".."):
        return True
    word_start = text.rfind(" ", 0, punct_at) + 1
    word = text[word_start:punct_at].lstrip(_OPENING_PUNCTUATION)
    if len(word) == 1 and word.isalpha():
        return False  # an initial: "J. K. Rowling"
    word = word.casefold()
    if word in _ABBREVIATIONS or (following.isdigit() and word in _NUMBER_ABBREVIATIONS):
        return False
    # "U.S. officials" continues; accept the rare "…in the U.S. The next…" merge, which
    # only makes a passage a sentence longer, over splitting inside a sentence.
    return _ACRONYM.fullmatch(word) is None


@dataclass(frozen=True)
class _Sentence:
    text: str
    words: int
    paragraph: int
    heading: bool = False  # a short unpunctuated paragraph of its own: a section title


def chunk_article(
    article: Article,
    *,
    min_words: int = 40,
    max_words: int = 150,
    overlap_sentences: int = 1,
) -> list[Passage]:
    """Passages of whole sentences, about `min_words`..`max_words` words each.

    A passage never ends mid-sentence, except that a single sentence longer than twice
    `max_words` (a run-on scrape without punctuation) is cut at word boundaries. Each
    passage after the first repeats the last `overlap_sentences` sentences of the one
    before, so an answer spanning the cut is found whole in one of them. A passage is
    closed early at a paragraph break once it holds `min_words` and the next paragraph
    would not fit. A short tail is merged into the passage before it, or the two are
    re-split evenly when merging would make one passage too long.
    """
    if min_words < 1 or max_words < min_words or overlap_sentences < 0:
        raise ValueError("need 1 <= min_words <= max_words and overlap_sentences >= 0")
    sentences = _sentences_of(article.text, max_words)
    if not sentences:
        return []
    paragraph_words: dict[int, int] = {}
    for sentence in sentences:
        paragraph_words[sentence.paragraph] = (
            paragraph_words.get(sentence.paragraph, 0) + sentence.words
        )

    chunks: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    current_words = 0
    new_in_current = 0  # sentences not carried over from the previous chunk
    for sentence in sentences:
        if new_in_current:
            too_long = current_words + sentence.words > max_words
            new_paragraph = sentence.paragraph != current[-1].paragraph
            paragraph_fits = current_words + paragraph_words[sentence.paragraph] <= max_words
            if too_long or (new_paragraph and current_words >= min_words and not paragraph_fits):
                if current[-1].heading and new_in_current > 1:
                    # A section title opens the next passage rather than ending this one.
                    heading = current.pop()
                    chunks.append(current)
                    current, new_in_current = [heading], 1
                else:
                    chunks.append(current)
                    current = _overlap(current, overlap_sentences, sentence.words, max_words)
                    new_in_current = 0
                current_words = _words(current)
        current.append(sentence)
        current_words += sentence.words
        new_in_current += 1
    tail = current[len(current) - new_in_current :]
    if chunks and _words(tail) < min_words:
        chunks[-1:] = _absorb_tail(chunks[-1], tail, min_words, max_words, overlap_sentences)
    else:
        chunks.append(current)
    return [
        Passage(position=position, text=" ".join(s.text for s in chunk),
                sentences=tuple(s.text for s in chunk))
        for position, chunk in enumerate(chunks)
    ]


def _sentences_of(text: str, max_words: int) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    for paragraph_index, paragraph in enumerate(_PARAGRAPH_BREAK.split(text)):
        in_paragraph = _split_paragraph(paragraph)
        for sentence in in_paragraph:
            words = _size(sentence)
            if words <= 2 * max_words:
                heading = (
                    len(in_paragraph) == 1
                    and words <= _MAX_HEADING_WORDS
                    and not sentence.endswith(_SENTENCE_ENDINGS)
                )
                sentences.append(_Sentence(sentence, words, paragraph_index, heading))
            else:
                sentences.extend(
                    _Sentence(piece, _size(piece), paragraph_index)
                    for piece in _cut_run_on(sentence, max_words)
                )
    return sentences


def _size(sentence: str) -> int:
    """Words, for sizing passages; text with absurdly long "words" counts by characters."""
    words = sentence.count(" ") + 1  # whitespace is already single spaces
    return max(words, len(sentence) // _MAX_CHARS_PER_WORD)


def _cut_run_on(sentence: str, max_words: int) -> list[str]:
    """Pieces of `max_words` words; a "word" too long to embed is cut by characters."""
    max_chars = max_words * _MAX_CHARS_PER_WORD
    tokens = sentence.split(" ")
    pieces: list[str] = []
    for at in range(0, len(tokens), max_words):
        piece = " ".join(tokens[at : at + max_words])
        pieces.extend(piece[cut : cut + max_chars] for cut in range(0, len(piece), max_chars))
    return pieces


def _absorb_tail(
    last: list[_Sentence],
    tail: list[_Sentence],
    min_words: int,
    max_words: int,
    overlap_sentences: int,
) -> list[list[_Sentence]]:
    """The last chunk plus a short tail, as one chunk or two balanced ones."""
    merged = last + tail
    total = _words(merged)
    if total <= max_words:
        return [merged]
    # Cut where the two halves are closest in size; the second repeats the overlap.
    best_cut, best_gap, before = 1, total, 0
    for cut in range(1, len(merged)):
        before += merged[cut - 1].words
        gap = abs(total - 2 * before)
        if gap < best_gap:
            best_cut, best_gap = cut, gap
    first, second = merged[:best_cut], merged[best_cut:]
    if _words(second) < min_words and total <= max_words + min_words:
        return [merged]  # no even cut exists (one long sentence); a longer passage is better
    return [first, _overlap(first, overlap_sentences, _words(second), max_words) + second]


def _overlap(
    chunk: list[_Sentence], overlap_sentences: int, next_words: int, max_words: int
) -> list[_Sentence]:
    """The sentences to repeat at the start of the next chunk (never the whole chunk)."""
    if overlap_sentences == 0 or len(chunk) <= overlap_sentences:
        return []
    carried = chunk[-overlap_sentences:]
    if _words(carried) + next_words > max_words:
        return []
    return list(carried)


def _words(chunk: list[_Sentence]) -> int:
    return sum(s.words for s in chunk)
