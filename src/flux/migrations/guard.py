"""Static checks on statements before anything runs (errors as values, with positions).

For every engine: no transaction control (each file is already one transaction) and no
unterminated strings, identifiers, comments or dollar bodies. For the shared (v2) engine
also: no extensions, no superuser-only or cluster-wide statements, no role switching (`SET
ROLE`, `RESET ROLE`, `SET SESSION AUTHORIZATION`, `RESET ALL`, `set_config('role', …)`), no
role-membership grants, no grants or policies naming `anon` (v2 has no anonymous role: every
request carries a project JWT), and no references to other schemas — a qualifier or `SCHEMA x`
naming an existing schema other than the tenant's, `pg_catalog`, `information_schema`, or
`auth` and `flux_meta` (functions only). These checks see code only (never bodies or
strings); the real barrier is privileges and the security-definer execution in
`flux.migrations.executor`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flux.migrations.lexer import TRIVIA, Kind, Statement, Token

_TRANSACTION_CONTROL = {
    ("BEGIN",),
    ("START", "TRANSACTION"),
    ("COMMIT",),
    ("END",),
    ("ROLLBACK",),
    ("ABORT",),
    ("SAVEPOINT",),
    ("RELEASE",),
    ("PREPARE", "TRANSACTION"),
}
_CLUSTER_OBJECTS = (
    ("ROLE",),
    ("USER",),
    ("GROUP",),
    ("DATABASE",),
    ("TABLESPACE",),
    ("EVENT", "TRIGGER"),
    ("FOREIGN", "DATA", "WRAPPER"),
    ("SERVER",),
    ("USER", "MAPPING"),
    ("SUBSCRIPTION",),
    ("PUBLICATION",),
    ("ACCESS", "METHOD"),
    ("LANGUAGE",),
    ("TRUSTED",),
    ("PROCEDURAL",),
)
_SUPERUSER_PREFIXES = (
    ("ALTER", "SYSTEM"),
    ("LOAD",),
    ("COPY",),
    ("CHECKPOINT",),
    ("REASSIGN", "OWNED"),
    ("SECURITY", "LABEL"),
    ("IMPORT", "FOREIGN", "SCHEMA"),
)
_ROLE_GUCS = ("ROLE", "SESSION_AUTHORIZATION")
_SQLSTATES = {"unterminated": "42601", "transaction_control": "0A000", "anon_role": "42704"}
# Statements whose role list (after TO, or FROM for REVOKE) names grantees.
_GRANTEE_STATEMENTS = (
    ("GRANT",),
    ("REVOKE",),
    ("CREATE", "POLICY"),
    ("ALTER", "POLICY"),
    ("ALTER", "DEFAULT", "PRIVILEGES"),
)


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str
    hint: str
    line: int
    column: int

    @property
    def sqlstate(self) -> str:
        """The SQLSTATE PostgreSQL itself would use for this kind of refusal."""
        return _SQLSTATES.get(self.code, "42501")  # insufficient_privilege


# Platform schemas a tenant may call functions of: the JWT helpers, and the readers of its own
# definitions (flux.engines.catalog_privacy).
_FUNCTIONS_ONLY = {
    "auth": "use auth.uid() and auth.jwt()",
    "flux_meta": "use flux_meta.function_source(…), flux_meta.view_definition(…), …",
}


@dataclass(frozen=True)
class SharedPolicy:
    """What a v2 tenant's SQL may reference."""

    tenant_schema: str
    existing_schemas: frozenset[str]

    def forbidden(self, schema: str) -> bool:
        # `public` is adapted to the tenant schema wherever it qualifies a name or follows
        # ON/IN SCHEMA; anything else naming it fails on privileges.
        allowed = {self.tenant_schema, "public", "pg_catalog", "information_schema"}
        allowed.update(_FUNCTIONS_ONLY)
        temp = schema == "pg_temp" or schema.startswith("pg_temp_")
        return temp or (schema in self.existing_schemas and schema not in allowed)


def _name(tok: Token) -> str | None:
    """Identifier value of a word or quoted identifier (as Postgres folds it), else None."""
    if tok.kind is Kind.WORD:
        return tok.text.lower()
    if tok.kind is Kind.QUOTED_IDENT and tok.text.startswith('"') and not tok.unterminated:
        return tok.text[1:-1].replace('""', '"')
    return None


def _violation(tok: Token, code: str, message: str, hint: str) -> Violation:
    return Violation(code, message, hint, tok.line, tok.column)


def _starts(words: list[str], prefixes: Iterable[tuple[str, ...]]) -> tuple[str, ...] | None:
    for prefix in prefixes:
        if tuple(words[: len(prefix)]) == prefix:
            return prefix
    return None


def check_common(stmt: Statement) -> Violation | None:
    for tok in stmt.tokens:
        if tok.unterminated:
            what = tok.kind.value.replace("_", " ")
            return _violation(
                tok,
                "unterminated",
                f"unterminated {what}",
                "close it; the rest of the file was read as part of it",
            )
    words = stmt.words(3)
    if prefix := _starts(words, _TRANSACTION_CONTROL):
        return _violation(
            stmt.tokens[0],
            "transaction_control",
            f"{' '.join(prefix)} is not allowed in a pushed file",
            "remove it: flux runs each file in its own transaction",
        )
    return None


def _leading_names(stmt: Statement, limit: int) -> list[str]:
    return [(_name(t) or t.text).upper() for t in stmt.significant[:limit]]


def _statement_level(stmt: Statement) -> Violation | None:
    words = _leading_names(stmt, 5)
    first = stmt.tokens[0]
    if words[:1] in (["CREATE"], ["ALTER"], ["DROP"]):
        rest = words[1:]
        if rest[:2] == ["OR", "REPLACE"]:
            rest = rest[2:]
        if rest[:1] == ["EXTENSION"]:
            return _violation(
                first,
                "extension_not_allowed",
                f"{words[0]} EXTENSION is not allowed on a shared (v2) project",
                "extensions are managed by the operator; use a v1_dedicated "
                "project if you need your own",
            )
        if obj := _starts(rest, _CLUSTER_OBJECTS):
            return _violation(
                first,
                "superuser_only",
                f"{words[0]} {' '.join(obj)} is not allowed on a shared project",
                "roles, databases and languages are managed by Flux",
            )
    if prefix := _starts(words, _SUPERUSER_PREFIXES):
        return _violation(
            first,
            "superuser_only",
            f"{' '.join(prefix)} is not allowed on a shared project",
            "this statement needs superuser rights or server files",
        )
    if words[:1] == ["SET"] and (
        "ROLE" in words[1:3]
        or "AUTHORIZATION" in words[1:4]
        or words[1:2] == ["SESSION_AUTHORIZATION"]
    ):
        return _violation(
            first,
            "role_switch",
            "switching roles is not allowed",
            "pushed SQL runs as the project's DDL role",
        )
    if words[:1] == ["RESET"] and words[1:2] in (
        ["ROLE"],
        ["ALL"],
        ["SESSION"],
        ["SESSION_AUTHORIZATION"],
    ):
        return _violation(
            first,
            "role_switch",
            f"RESET {words[1]} is not allowed",
            "pushed SQL runs as the project's DDL role",
        )
    if words[:1] in (["GRANT"], ["REVOKE"]) and not any(
        t.kind is Kind.WORD and t.upper == "ON" for t in stmt.significant
    ):
        return _violation(
            first,
            "role_membership",
            "granting role membership is not allowed",
            "grant privileges ON objects instead",
        )
    return None


def _references(stmt: Statement, policy: SharedPolicy) -> Violation | None:
    sig = [t for t in stmt.tokens if t.kind not in TRIVIA]
    for k, tok in enumerate(sig):
        name = _name(tok)
        if name is None:
            continue
        nxt = sig[k + 1] if k + 1 < len(sig) else None
        after = sig[k + 2] if k + 2 < len(sig) else None
        prev = sig[k - 1] if k else None
        if name == "set_config" and nxt is not None and nxt.text == "(" and after is not None:
            value = after.text.strip("'").upper() if after.kind is Kind.STRING else ""
            if value in _ROLE_GUCS:
                return _violation(
                    tok,
                    "role_switch",
                    "set_config on the role is not allowed",
                    "pushed SQL runs as the project's DDL role",
                )
        qualifies = nxt is not None and nxt.text == "." and not (prev and prev.text == ".")
        if qualifies and policy.forbidden(name):
            return _violation(
                tok,
                "other_schema",
                f"references schema {name!r}, outside this project",
                f"objects live in {policy.tenant_schema}; leave names unqualified",
            )
        if (
            qualifies
            and name in _FUNCTIONS_ONLY
            and not (k + 3 < len(sig) and _name(sig[k + 2]) is not None and sig[k + 3].text == "(")
        ):
            return _violation(
                tok,
                "other_schema",
                f"only functions of schema {name!r} may be used",
                _FUNCTIONS_ONLY[name],
            )
        if tok.kind is Kind.WORD and tok.upper == "SCHEMA":
            j = k + 1
            while j < len(sig) and (target := _name(sig[j])) is not None:
                if policy.forbidden(target):
                    return _violation(
                        sig[j],
                        "other_schema",
                        f"references schema {target!r}, outside this project",
                        f"this project's schema is {policy.tenant_schema}",
                    )
                if j + 1 < len(sig) and sig[j + 1].text == ",":
                    j += 2
                else:
                    break
    return None


def _anon_grantee(stmt: Statement) -> Violation | None:
    """`anon` in the role list of a GRANT, REVOKE, policy or default privileges (Supabase
    files grant to `anon, authenticated`); v2 has no such role, so say so before anything runs."""
    if not _starts(_leading_names(stmt, 3), _GRANTEE_STATEMENTS):
        return None
    sig = stmt.significant
    for k, tok in enumerate(sig):
        if not (tok.kind is Kind.WORD and tok.upper in ("TO", "FROM")):
            continue
        j = k + 1
        while j < len(sig) and (name := _name(sig[j])) is not None:
            if name == "anon":
                return _violation(
                    sig[j],
                    "anon_role",
                    "role anon does not exist on a v2 shared project",
                    "v2 shared projects have no anonymous role: use TO authenticated",
                )
            if j + 1 < len(sig) and sig[j + 1].text == ",":
                j += 2
            else:
                break
    return None


def check_shared(stmt: Statement, policy: SharedPolicy) -> Violation | None:
    """v2 checks on a statement as written in the file."""
    return _statement_level(stmt) or _anon_grantee(stmt) or _references(stmt, policy)


def check_file(
    statements: list[Statement], policy: SharedPolicy | None
) -> tuple[int, Violation] | None:
    """First violation in a file as (statement index, violation), or None."""
    for stmt in statements:
        found = check_common(stmt) or (check_shared(stmt, policy) if policy else None)
        if found:
            return stmt.index, found
    return None
