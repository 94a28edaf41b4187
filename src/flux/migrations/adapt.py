"""Supabase-style SQL adaptation for v2 tenants, done on the lexer's token stream.

Only code is rewritten — never comments, strings, quoted identifiers or dollar-quoted bodies:

- the role list after `TO` / `FROM`: `authenticated` → the tenant runtime role
  (`GRANT … TO authenticated`, `REVOKE … FROM authenticated`, `CREATE POLICY … TO authenticated`);
- the schema list after `ON SCHEMA` / `IN SCHEMA`: `public` → the tenant schema;
- a `public.` qualifier (`public.todos`) → the tenant schema, so Supabase files that qualify
  their tables land in the tenant schema instead of being refused.

Keywords match case-insensitively and may be separated by whitespace or comments. The output
contains none of the words it rewrites, so adaptation is idempotent. `AdaptedStatement` keeps
a position map so a server error position in the adapted text points back into the file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from flux.migrations.lexer import TRIVIA, Kind, Statement, Token, tokenize

_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """`name` as SQL: bare when it is a plain lower-case identifier, else double-quoted."""
    if _PLAIN_IDENT.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class TenantNames:
    runtime_role: str
    schema: str


def _replacements(tokens: list[Token], names: TenantNames) -> dict[int, str]:
    """Index of token → replacement text, for the rewrites this module owns."""
    sig = [i for i, t in enumerate(tokens) if t.kind not in TRIVIA]
    out: dict[int, str] = {}
    role, schema = quote_ident(names.runtime_role), quote_ident(names.schema)

    def word_at(k: int) -> str | None:
        return tokens[sig[k]].upper if k < len(sig) and tokens[sig[k]].kind is Kind.WORD else None

    def name_list(k: int, match: str, replacement: str) -> None:
        """Rewrite `match` items of a comma-separated name list starting at sig[k]."""
        while word_at(k) is not None:
            if word_at(k) == match:
                out[sig[k]] = replacement
            if k + 1 < len(sig) and tokens[sig[k + 1]].text == ",":
                k += 2
            else:
                return

    for k, i in enumerate(sig):
        tok = tokens[i]
        if tok.kind is not Kind.WORD:
            continue
        word = tok.upper
        if word in ("TO", "FROM"):
            name_list(k + 1, "AUTHENTICATED", role)
        elif word in ("ON", "IN") and word_at(k + 1) == "SCHEMA":
            name_list(k + 2, "PUBLIC", schema)
        elif (
            word == "PUBLIC"
            and i + 1 < len(tokens)
            and tokens[i + 1].text == "."
            and not (i > 0 and tokens[i - 1].text == ".")
        ):
            out[i] = schema
    return out


@dataclass(frozen=True)
class AdaptedStatement:
    """A statement's adapted text and the map from adapted offsets back to file offsets."""

    text: str
    adapted_starts: tuple[int, ...]
    original_starts: tuple[int, ...]
    original_lengths: tuple[int, ...]

    def original_offset(self, adapted_offset: int) -> int:
        """File offset of a character offset (0-based) into the adapted text."""
        k = max(0, bisect.bisect_right(self.adapted_starts, adapted_offset) - 1)
        delta = adapted_offset - self.adapted_starts[k]
        return self.original_starts[k] + min(delta, max(self.original_lengths[k] - 1, 0))


def _rebuild(tokens: list[Token], replacements: dict[int, str]) -> AdaptedStatement:
    parts: list[str] = []
    adapted_starts: list[int] = []
    pos = 0
    for i, tok in enumerate(tokens):
        text = replacements.get(i, tok.text)
        adapted_starts.append(pos)
        parts.append(text)
        pos += len(text)
    return AdaptedStatement(
        "".join(parts),
        tuple(adapted_starts),
        tuple(t.start for t in tokens),
        tuple(len(t.text) for t in tokens),
    )


def adapt_statement(statement: Statement, names: TenantNames) -> AdaptedStatement:
    tokens = list(statement.tokens)
    return _rebuild(tokens, _replacements(tokens, names))


def identity(statement: Statement) -> AdaptedStatement:
    """The statement unchanged, with the same position map shape (v1 runs SQL as written)."""
    return _rebuild(list(statement.tokens), {})


def adapt_sql(sql: str, names: TenantNames) -> str:
    """Adapt a whole SQL text (used for previews and by the property tests)."""
    tokens = tokenize(sql)
    return _rebuild(tokens, _replacements(tokens, names)).text
