"""Name similarity for "Perhaps you meant" hints: PostgREST scores a candidate by its edit
distance, 1 - levenshtein(a, b) / max(len(a), len(b)), case-insensitively."""

from __future__ import annotations

from collections.abc import Iterable


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute one character) turning `a` into `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    a, b = a.lower(), b.lower()
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1 - levenshtein(a, b) / longest


def closest(name: str, candidates: Iterable[str], cutoff: float) -> str | None:
    """The most similar candidate scoring at least `cutoff` (ties: alphabetical), or None."""
    best: tuple[float, str] | None = None
    for candidate in sorted(candidates):
        score = similarity(name, candidate)
        if score >= cutoff and (best is None or score > best[0]):
            best = (score, candidate)
    return None if best is None else best[1]
