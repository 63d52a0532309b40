"""Ranked full-text search for the market rules library, written here because DuckDB's full-text
extension cannot be installed on SFE's machines.

- Tokens: lower-cased words and numbers; English stop words dropped; a light suffix stemmer so that
  "activations", "activated" and "activation" meet ("stemming-lite": plural, -ing/-ed and common
  derivational endings, no dictionary).
- Ranking: BM25F over three fields with boosts (title x3, summary x2, body x1), each field length-
  normalised against its average: a word in a title counts more than the same word deep in a body.
- Phrases: a query's words appearing next to each other in a field earn a bonus (more in the title);
  a "quoted phrase" must appear for a document to match at all.
- Highlights: the best passage of the summary or body around the matched words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FIELDS: dict[str, float] = {"title": 3.0, "summary": 2.0, "body": 1.0}
K1 = 1.2
B = 0.75
PHRASE_BONUS = {"title": 0.5, "summary": 0.3, "body": 0.2}  # multiplies the score by 1 + the largest
SNIPPET_WORDS = 32

_WORD = re.compile(r"[a-z0-9]+(?:[.'’][a-z0-9]+)*", re.IGNORECASE)
STOP_WORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its may might must no not of on or our shall should so such than that the their them then there these
    they this those to too under until up upon was we were what when where which while who whom why will
    with within without would you your""".split()
)


def stem(word: str) -> str:
    """A light English suffix stemmer: the same word family maps to the same stem (most of the time);
    short words, numbers and acronyms are left alone."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):  # possessive: "ENA's" is "ENA"
        w = w[:-2]
    if len(w) <= 3 or not w.isalpha():
        return w
    for suffix, replacement in (
        ("ational", "ate"),
        ("ization", "ize"),
        ("isation", "ize"),
        ("fulness", "ful"),
        ("iveness", "ive"),
        ("ousness", "ous"),
        ("ations", "ate"),
        ("ation", "ate"),
        ("ments", ""),
        ("ment", ""),
        ("ness", ""),
        ("ities", "ity"),
        ("ies", "y"),
        ("sses", "ss"),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + replacement
            break
    else:
        if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 4:
            w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4 and re.search("[aeiouy]", w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":  # stopp -> stop
                w = w[:-1]
            break
    if w.endswith("e") and len(w) > 4:  # activate / activat(ion) / activat(ed) meet
        w = w[:-1]
    return w


def words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for every word in the text, in order."""
    return [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text or "")]


def tokens(text: str) -> list[str]:
    """The searchable tokens of a text: stems of its non-stop words, in order."""
    return [stem(w) for w, _, _ in words(text) if w.lower() not in STOP_WORDS]


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...]  # distinct stems, in query order
    sequence: tuple[str, ...]  # all stems in order (for the phrase bonus)
    phrases: tuple[tuple[str, ...], ...]  # quoted phrases that must appear

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_query(text: str) -> Query:
    quoted = re.findall(r'"([^"]+)"', text or "")
    phrases = tuple(p for p in (tuple(tokens(q)) for q in quoted) if p)
    sequence = tuple(tokens((text or "").replace('"', " ")))
    return Query(tuple(dict.fromkeys(sequence)), sequence, phrases)


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    if n == 0 or n > len(haystack):
        return False
    first = needle[0]
    return any(
        haystack[i] == first and tuple(haystack[i : i + n]) == tuple(needle)
        for i in range(len(haystack) - n + 1)
    )


@dataclass(frozen=True)
class Document:
    key: object  # whatever the caller uses to find the document again
    title: str
    summary: str
    body: str

    def text(self, name: str) -> str:
        return getattr(self, name)


@dataclass
class _Indexed:
    doc: Document
    fields: dict[str, list[str]]
    counts: dict[str, Counter]


@dataclass(frozen=True)
class Hit:
    key: object
    score: float
    matched_terms: tuple[str, ...]
    phrase_in: tuple[str, ...]  # fields where the query's words appear as a phrase
    snippet: tuple[tuple[str, bool], ...]  # (text, is_match) segments of the best passage
    title_segments: tuple[tuple[str, bool], ...]


@dataclass
class SearchIndex:
    documents: list[_Indexed] = field(default_factory=list)
    avg_length: dict[str, float] = field(default_factory=dict)
    doc_freq: Counter = field(default_factory=Counter)

    @classmethod
    def build(cls, docs: Iterable[Document]) -> SearchIndex:
        index = cls()
        for doc in docs:
            fields = {name: tokens(doc.text(name)) for name in FIELDS}
            counts = {name: Counter(toks) for name, toks in fields.items()}
            index.documents.append(_Indexed(doc, fields, counts))
            index.doc_freq.update({t for c in counts.values() for t in c})
        n = max(len(index.documents), 1)
        index.avg_length = {
            name: max(sum(len(d.fields[name]) for d in index.documents) / n, 1.0) for name in FIELDS
        }
        return index

    def idf(self, term: str) -> float:
        n, df = len(self.documents), self.doc_freq.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _score(self, d: _Indexed, query: Query) -> tuple[float, tuple[str, ...]]:
        score, matched = 0.0, []
        for term in query.terms:
            weighted_tf = 0.0
            for name, boost in FIELDS.items():
                tf = d.counts[name].get(term, 0)
                if tf:
                    norm = 1 - B + B * len(d.fields[name]) / self.avg_length[name]
                    weighted_tf += boost * tf / norm
            if weighted_tf:
                matched.append(term)
                score += self.idf(term) * weighted_tf * (K1 + 1) / (K1 + weighted_tf)
        return score, tuple(matched)

    def search(self, text: str, limit: int = 20) -> list[Hit]:
        query = parse_query(text)
        if query.empty:
            return []
        hits = []
        for d in self.documents:
            if any(not any(_contains(toks, p) for toks in d.fields.values()) for p in query.phrases):
                continue
            score, matched = self._score(d, query)
            if not matched:
                continue
            phrase_in: tuple[str, ...] = ()
            if len(query.sequence) > 1:
                phrase_in = tuple(n for n in FIELDS if _contains(d.fields[n], query.sequence))
                score *= 1 + max((PHRASE_BONUS[n] for n in phrase_in), default=0.0)
            hits.append(
                Hit(
                    key=d.doc.key,
                    score=score,
                    matched_terms=matched,
                    phrase_in=phrase_in,
                    snippet=snippet(d.doc, set(matched)),
                    title_segments=highlight(d.doc.title, set(matched)),
                )
            )
        hits.sort(key=lambda h: (-h.score, str(h.key)))
        return hits[:limit]


def highlight(text: str, stems: set[str]) -> tuple[tuple[str, bool], ...]:
    """The text as (segment, is_match) pieces, a match being a word whose stem was searched for."""
    segments: list[tuple[str, bool]] = []
    position = 0
    for word, start, end in words(text):
        if word.lower() not in STOP_WORDS and stem(word) in stems:
            if start > position:
                segments.append((text[position:start], False))
            segments.append((text[start:end], True))
            position = end
    if position < len(text):
        segments.append((text[position:], False))
    return tuple(segments)


def snippet(doc: Document, stems: set[str], size: int = SNIPPET_WORDS) -> tuple[tuple[str, bool], ...]:
    """The passage of about ``size`` words of the summary or body with the most matched words."""
    best: tuple[int, str, int, int] | None = None  # (hits, text, start_char, end_char)
    for name in ("summary", "body"):
        text = doc.text(name)
        found = words(text)
        if not found:
            continue
        is_hit = [w.lower() not in STOP_WORDS and stem(w) in stems for w, _, _ in found]
        for i in range(0, max(len(found) - size, 0) + 1):
            count = sum(is_hit[i : i + size])
            if count and (best is None or count > best[0]):
                last = min(i + size, len(found)) - 1
                best = (count, text, found[i][1], found[last][2])
    if best is None:
        text = doc.summary or doc.body
        found = words(text)
        end = found[min(size, len(found)) - 1][2] if found else 0
        best = (0, text, 0, end)
    _, text, start, end = best
    pieces = list(highlight(text[start:end], stems))
    if start > 0:
        pieces.insert(0, ("… ", False))
    if end < len(text.rstrip()):
        pieces.append((" …", False))
    return tuple(pieces)
