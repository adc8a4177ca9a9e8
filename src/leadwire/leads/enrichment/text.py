"""Text normalization and phrase matching shared by the rule tables, grounding and the agent.

Everything that compares words (rule tables, "is this quote really in the lead?", "did the
caller ask to stop?") goes through `normalize` so both sides are folded the same way: lower
case, typographic quotes unified, contractions spelled out ("don't" and "dont" both become
"do not"), punctuation turned into spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "`": "'"})

# Order matters: the irregular forms must be rewritten before the generic "n't".
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bwon'?t\b", "will not"),
        (r"\bcan'?t\b", "can not"),
        (r"\bcannot\b", "can not"),
        (r"\bshan'?t\b", "shall not"),
        (r"\bain'?t\b", "is not"),
        (
            r"\b(do|does|did|is|are|was|were|has|have|had|would|should|could|must|need)n'?t\b",
            r"\1 not",
        ),
        (r"n't\b", " not"),
        (r"\bi'm\b", "i am"),
        (r"\bim\b", "i am"),
        (r"'re\b", " are"),
        (r"'ve\b", " have"),
        (r"'ll\b", " will"),
        (r"'d\b", " would"),
        (r"\b(it|that|there|what|he|she|who|here)'s\b", r"\1 is"),
    )
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Fold `text` for matching: lower case, contractions expanded, punctuation as spaces."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    for pattern, replacement in _CONTRACTIONS:
        folded = pattern.sub(replacement, folded)
    return _NON_WORD.sub(" ", folded).strip()


def contains_phrase(haystack: str, needle: str) -> bool:
    """Whether normalized `needle` occurs in normalized `haystack` on word boundaries."""
    hay, nee = normalize(haystack), normalize(needle)
    if not nee:
        return False
    return f" {nee} " in f" {hay} "


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Compile a rule phrase; a trailing ``*`` makes the last word a stem (``leak*``)."""
    stem = phrase.endswith("*")
    body = normalize(phrase.rstrip("*"))
    words = r"\s+".join(re.escape(word) for word in body.split())
    return re.compile(rf"\b{words}{r'[a-z0-9]*' if stem else ''}\b")


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    start: int
    end: int
    label: str
    phrase: str


def find_matches(
    normalized: str, rules: Iterable[tuple[str, re.Pattern[str], str]]
) -> list[PhraseMatch]:
    """Non-overlapping matches of labelled phrases, longest first.

    ``rules`` yields ``(label, pattern, phrase)``. When two matches overlap the longer one wins
    (so "not urgent" hides "urgent"); among equals the earlier rule wins. The result is sorted
    by position.
    """
    candidates: list[tuple[int, int, PhraseMatch]] = []
    for order, (label, pattern, phrase) in enumerate(rules):
        for m in pattern.finditer(normalized):
            match = PhraseMatch(m.start(), m.end(), label, phrase)
            candidates.append((-(m.end() - m.start()), order, match))
    candidates.sort(key=lambda c: (c[0], c[1]))
    taken: list[PhraseMatch] = []
    for _, _, match in candidates:
        if all(match.end <= t.start or match.start >= t.end for t in taken):
            taken.append(match)
    taken.sort(key=lambda m: m.start)
    return taken


def sentences(text: str) -> Iterator[str]:
    """Split spoken text into clauses at sentence punctuation (keeps them non-empty)."""
    for part in re.split(r"[.!?;\n]+", text):
        if part.strip():
            yield part.strip()
