"""A short DDL summary of a file for `flux push --plan`: counts per statement class.

Statements are classified by their leading keywords: `CREATE` → creates, `ALTER` → alters,
`DROP` → drops, `GRANT`/`REVOKE` → grants, anything else → other. Destructive statements
(`DROP …`, `ALTER … DROP …`, `TRUNCATE …`) are listed by headline so a plan can flag them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flux.migrations.lexer import Kind, Statement

_HEADLINE_TOKENS = 8


@dataclass
class DdlSummary:
    creates: int = 0
    alters: int = 0
    drops: int = 0
    grants: int = 0
    other: int = 0
    destructive: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "creates": self.creates,
            "alters": self.alters,
            "drops": self.drops,
            "grants": self.grants,
            "other": self.other,
            "destructive": self.destructive,
        }

    def describe(self) -> str:
        """`2 creates, 1 alter, 1 drop (!)` — empty classes omitted."""
        parts = []
        for count, noun in (
            (self.creates, "create"),
            (self.alters, "alter"),
            (self.drops, "drop"),
            (self.grants, "grant"),
            (self.other, "other"),
        ):
            if count:
                parts.append(f"{count} {noun}{'' if count == 1 or noun == 'other' else 's'}")
        text = ", ".join(parts) or "no statements"
        return text + (" — destructive: " + "; ".join(self.destructive) if self.destructive else "")


def headline(statement: Statement) -> str:
    words = [t.text for t in statement.significant[:_HEADLINE_TOKENS]]
    more = len(statement.significant) > _HEADLINE_TOKENS
    return " ".join(words) + (" …" if more else "")


def summarise(statements: list[Statement]) -> DdlSummary:
    summary = DdlSummary()
    for stmt in statements:
        sig = stmt.significant
        first = sig[0].upper if sig and sig[0].kind is Kind.WORD else ""
        destructive = first in ("DROP", "TRUNCATE") or (
            first == "ALTER" and any(t.kind is Kind.WORD and t.upper == "DROP" for t in sig)
        )
        if first == "CREATE":
            summary.creates += 1
        elif first == "ALTER":
            summary.alters += 1
        elif first == "DROP":
            summary.drops += 1
        elif first in ("GRANT", "REVOKE"):
            summary.grants += 1
        else:
            summary.other += 1
        if destructive:
            summary.destructive.append(headline(stmt))
    return summary
