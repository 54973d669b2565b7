"""What the index hands back: plain records, ready for JSON or for rendering in Discord."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    article_id: str
    title: str
    source: str
    url: str | None
    date: str | None
    passage: str
    passage_id: int

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("passage_id")
        return data


@dataclass(frozen=True)
class Citation:
    number: int
    article_id: str
    title: str
    date: str | None
    url: str | None
    source: str


@dataclass(frozen=True)
class Quote:
    """One sentence lifted verbatim from a passage, with the number of its citation."""

    text: str
    citation: int


@dataclass
class Answer:
    question: str
    abstained: bool
    # In display order: the sentence(s) that answer first, then at most a supporting quote.
    quotes: list[Quote] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    # Best cosine between the question and a hit's passage.
    evidence: float = 0.0
    # Answerability's estimate that the articles answer the question: what abstention is
    # decided on.
    confidence: float = 0.0
    # "extractive", or "llm:<model>" when a language model wrote `text`.
    answered_by: str = "extractive"
    # A model-written answer with [n] citation marks, checked against the passages; None
    # for the extractive answer, whose text is its quotes.
    text: str | None = None
    # Why the answer is not the configured answerer's (e.g. the model timed out).
    note: str | None = None

    @property
    def answer(self) -> str | None:
        if self.abstained:
            return None
        if self.text is not None:
            return self.text
        if not self.quotes:
            return None
        return " ".join(f'"{quote.text}" [{quote.citation}]' for quote in self.quotes)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer,
            "evidence": round(self.evidence, 4),
            "confidence": round(self.confidence, 4),
            "answered_by": self.answered_by,
            "note": self.note,
            "quotes": [asdict(quote) for quote in self.quotes],
            "citations": [asdict(citation) for citation in self.citations],
            "hits": [hit.to_json() for hit in self.hits],
        }


@dataclass(frozen=True)
class ArticleInfo:
    article_id: str
    title: str
    source: str
    url: str | None
    date: str | None
    scope: str  # "global" or a guild id
    passages: int
    added_at: str  # ISO 8601 UTC


@dataclass(frozen=True)
class AddReport:
    added: list[str] = field(default_factory=list)  # article ids new to the index
    updated: list[str] = field(default_factory=list)  # same source, changed text
    unchanged: list[str] = field(default_factory=list)  # same content hash: not re-embedded
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (source, kept article id)
    removed: list[str] = field(default_factory=list)  # by a build: gone from the corpus
    passages: int = 0  # passages embedded by this call


@dataclass(frozen=True)
class IndexInfo:
    folder: str
    format_version: int
    model_name: str
    model_sha256: str
    dim: int
    faiss_type: str
    articles: int
    passages: int
    dense_vectors: int  # all scopes; equals the passage count of a healthy index
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class QuestionStats:
    asked: int
    unanswered: int
    top_unanswered: list[tuple[str, int]]  # (question, times asked)
    downvoted: list[tuple[str, int]]  # (question, thumbs down)
