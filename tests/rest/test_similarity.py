"""Edit-distance similarity behind the "Perhaps you meant" hints."""

from __future__ import annotations

import pytest

from flux.rest.similarity import closest, levenshtein, similarity


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("", "abc", 3), ("kitten", "sitting", 3), ("projecxx", "projects", 2),
     ("flaw", "lawn", 2), ("same", "same", 0)],
)  # fmt: skip
def test_levenshtein(a, b, distance):
    assert levenshtein(a, b) == distance == levenshtein(b, a)


def test_similarity_and_closest():
    assert similarity("Projects", "projects") == 1.0
    assert similarity("projecxx", "projects") == 0.75
    assert closest("projecxx", ["projects", "clients"], 0.75) == "projects"
    assert closest("projxxxx", ["projects", "clients"], 0.75) is None
    assert closest("ab", ["ac", "ab_"], 0.5) == "ab_"  # 2/3 beats 1/2
    assert closest("ax", ["ab", "ay"], 0.5) == "ab"  # a tie goes to the first in order
    assert closest("x", [], 0.0) is None
