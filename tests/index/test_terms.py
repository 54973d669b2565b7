"""Question words: stop-words dropped, stems shared, safe from many threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from index.terms import _stemmer, content_words, fts_any, stems


def test_stopwords_and_repeats_are_dropped_and_terms_quoted() -> None:
    assert content_words("Why was Kim criticized? Kim!") == ["kim", "criticized"]
    assert fts_any(content_words('why was "Kim" criticized OR NOT?')) == '"kim" OR "criticized"'
    assert content_words("why was it?") == []


def test_inflections_share_a_stem() -> None:
    assert stems("criticized") == stems("criticizing") == {"critic"}


def test_stemming_from_many_threads_gives_the_same_answers() -> None:
    texts = [f"criticizing photographers vacationing in Japan number{n}" for n in range(400)]
    expected = [stems(text) for text in texts]
    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(stems, texts)) == expected


def test_stems_are_cached_and_immutable() -> None:
    # Cached per text: a caller mutating the shared result would corrupt every later answer.
    first = stems("Kim Kardashian was criticized for the trip")
    assert first is stems("Kim Kardashian was criticized for the trip")
    assert isinstance(first, frozenset)
    assert {"kim", "kardashian", "critic", "trip"} <= first


def test_words_are_stemmed_by_the_c_stemmer_pyproject_declares() -> None:
    """snowballstemmer falls back to pure Python when PyStemmer is missing, with the same
    stems, ~50x slower a new word: a question's first answer took ~2-3 ms more
    (benchmarks/README.md, stop 12). The benchmarks' venv had lost it unnoticed (`make`
    reinstalls only when pyproject.toml is newer than the venv's stamp)."""
    assert type(_stemmer()).__module__ == "Stemmer"
