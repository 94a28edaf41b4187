"""Supabase-style SQL adaptation for v2 tenants, done on the lexer's token stream.

Only code is rewritten — never comments, strings, quoted identifiers or dollar-quoted bodies:

- the role list after `TO` / `FROM`: `authenticated` → the tenant runtime role
  (`GRANT … TO authenticated`, `REVOKE … FROM authenticated`, `CREATE POLICY … TO authenticated`);
- the schema list after `ON SCHEMA` / `IN SCHEMA`: `public` → the tenant schema;
- a `public.` qualifier (`public.todos`) → the tenant schema, so Supabase files that qualify
  their tables land in the tenant schema instead of being refused.

The dollar-quoted body of a SQL or PL/pgSQL routine (`CREATE [OR REPLACE] FUNCTION|PROCEDURE
… AS $$…$$`, `DO $$…$$`) is code, not data: it is tokenized on its own and adapted by the same
rules, so `select … from public.todos` inside a function reaches the tenant schema. String
literals, comments and nested dollar quotes inside the body stay untouched; bodies in other
languages are left alone.

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


_CODE_BODY_LANGUAGES = frozenset({"SQL", "PLPGSQL"})


def _statements(tokens: list[Token], sig: list[int]) -> list[list[int]]:
    """`sig` split into statements at top-level semicolons."""
    statements: list[list[int]] = [[]]
    depth = 0
    for i in sig:
        tok = tokens[i]
        if tok.kind is Kind.PUNCT:
            depth += {"(": 1, ")": -1 if depth else 0}.get(tok.text, 0)
            if tok.text == ";" and depth == 0:
                statements.append([])
                continue
        statements[-1].append(i)
    return statements


def _routine_bodies(tokens: list[Token], statement: list[int]) -> list[int]:
    """Indexes of the SQL/PL/pgSQL routine bodies of one statement (CREATE FUNCTION, DO)."""
    head = [tokens[i].upper for i in statement[:4] if tokens[i].kind is Kind.WORD]
    is_do = head[:1] == ["DO"]
    routine = ["FUNCTION"], ["PROCEDURE"]
    creates = head[:1] == ["CREATE"] and (
        head[1:2] in routine or (head[1:3] == ["OR", "REPLACE"] and head[3:4] in routine)
    )
    if not (is_do or creates):
        return []
    language = "PLPGSQL" if is_do else ""
    bodies = []
    for k, i in enumerate(statement):
        tok = tokens[i]
        if tok.kind is Kind.WORD and tok.upper == "LANGUAGE" and k + 1 < len(statement):
            language = tokens[statement[k + 1]].text.strip("'\"").upper()
        elif (
            tok.kind is Kind.DOLLAR_BODY
            and not tok.unterminated
            and (is_do or (k > 0 and tokens[statement[k - 1]].upper == "AS"))
        ):
            bodies.append(i)
    return bodies if language in _CODE_BODY_LANGUAGES else []


def _adapted_body(body: Token, names: TenantNames) -> str | None:
    """The dollar-quoted `body` with its code adapted, or None when nothing changes."""
    tag = body.text[: body.text.index("$", 1) + 1]
    tokens = tokenize(body.text[len(tag) : -len(tag)])
    replacements = _replacements(tokens, names)
    if not replacements:
        return None
    return tag + "".join(replacements.get(i, t.text) for i, t in enumerate(tokens)) + tag


def _replacements(tokens: list[Token], names: TenantNames) -> dict[int, str]:
    """Index of token → replacement text, for the rewrites this module owns."""
    sig = [i for i, t in enumerate(tokens) if t.kind not in TRIVIA]
    out: dict[int, str] = {}
    for statement in _statements(tokens, sig):
        for i in _routine_bodies(tokens, statement):
            if (adapted := _adapted_body(tokens[i], names)) is not None:
                out[i] = adapted
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
