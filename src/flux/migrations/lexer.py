"""A PostgreSQL SQL lexer: tokens with positions, and statement splitting on top-level `;`.

It knows exactly the constructs that decide where text is "code" and where it is opaque data:
`--` line comments, nested `/* */` block comments, standard strings `'…'` (with `''`),
escape strings `E'…'` (with backslash escapes), `B'…'`/`X'…'`/`N'…'`/`U&'…'` strings,
quoted identifiers `"…"` (and `U&"…"`), and dollar-quoted bodies `$tag$…$tag$`. Everything
else is words, numbers, parameters (`$1`), operators and punctuation.

The lexer is total: any input produces tokens whose texts concatenate back to the input.
An unterminated string, identifier, comment or dollar body runs to the end of the input and
is flagged `unterminated` so callers can report it with its position.

Statement splitting follows psql: a `;` ends a statement only outside parentheses and outside
a `BEGIN … END` block of a `CREATE [OR REPLACE] FUNCTION|PROCEDURE` (SQL-standard bodies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    WHITESPACE = "whitespace"
    LINE_COMMENT = "line_comment"
    BLOCK_COMMENT = "block_comment"
    STRING = "string"
    QUOTED_IDENT = "quoted_ident"
    DOLLAR_BODY = "dollar_body"
    WORD = "word"
    NUMBER = "number"
    PARAM = "param"
    OPERATOR = "operator"
    PUNCT = "punct"


#: Kinds whose text is data, never SQL code: adaptation and checks must not look inside them.
OPAQUE = frozenset(
    {Kind.LINE_COMMENT, Kind.BLOCK_COMMENT, Kind.STRING, Kind.QUOTED_IDENT, Kind.DOLLAR_BODY}
)
TRIVIA = frozenset({Kind.WHITESPACE, Kind.LINE_COMMENT, Kind.BLOCK_COMMENT})


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    start: int  # character offset in the source
    line: int  # 1-based
    column: int  # 1-based, in characters
    unterminated: bool = False

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def upper(self) -> str:
        """Upper-cased text for keyword comparisons (meaningful for words)."""
        return self.text.upper()


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: its tokens (without the terminating `;`), from the first significant one."""

    tokens: tuple[Token, ...]
    index: int  # 0-based position among the file's non-empty statements

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def column(self) -> int:
        return self.tokens[0].column

    @property
    def significant(self) -> list[Token]:
        return [t for t in self.tokens if t.kind not in TRIVIA]

    def words(self, limit: int | None = None) -> list[str]:
        """The leading significant tokens, upper-cased (for keyword matching)."""
        sig = self.significant
        return [t.upper for t in (sig if limit is None else sig[:limit])]


_WS = re.compile(r"[ \t\n\r\f\v]+")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_NUMBER = re.compile(
    r"(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
)
_PARAM = re.compile(r"\$\d+")
_LINE_END = re.compile(r"[\n\r]")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_OP_CHARS = "+-*/<>=~!@#%^&|`?"
# String prefixes (case-insensitive) that glue onto a following quote.
_STRING_PREFIXES = ("U&", "E", "B", "X", "N")


class _Scanner:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.col = 1
        self.tokens: list[Token] = []

    def emit(self, kind: Kind, end: int, unterminated: bool = False) -> None:
        text = self.src[self.pos : end]
        self.tokens.append(Token(kind, text, self.pos, self.line, self.col, unterminated))
        newlines = text.count("\n")
        if newlines:
            self.line += newlines
            self.col = len(text) - text.rfind("\n")
        else:
            self.col += len(text)
        self.pos = end

    def quoted(self, start: int, quote: str, backslash: bool) -> tuple[int, bool]:
        """End offset of a quoted run whose opening quote is at `start`; doubling escapes."""
        src, i, n = self.src, start + 1, len(self.src)
        while i < n:
            ch = src[i]
            if backslash and ch == "\\":
                i += 2
                continue
            if ch == quote:
                if i + 1 < n and src[i + 1] == quote:
                    i += 2
                    continue
                return i + 1, False
            i += 1
        return n, True

    def block_comment(self, start: int) -> tuple[int, bool]:
        src, i, n, depth = self.src, start + 2, len(self.src), 1
        while i < n:
            if src.startswith("/*", i):
                depth += 1
                i += 2
            elif src.startswith("*/", i):
                depth -= 1
                i += 2
                if depth == 0:
                    return i, False
            else:
                i += 1
        return n, True

    def operator_end(self, start: int) -> int:
        src, i, n = self.src, start, len(self.src)
        while i < n and src[i] in _OP_CHARS:
            if src.startswith("--", i) or src.startswith("/*", i):
                break
            i += 1
        return i

    def run(self) -> list[Token]:
        src, n = self.src, len(self.src)
        while self.pos < n:
            p = self.pos
            ch = src[p]
            if m := _WS.match(src, p):
                self.emit(Kind.WHITESPACE, m.end())
            elif src.startswith("--", p):
                m = _LINE_END.search(src, p)
                self.emit(Kind.LINE_COMMENT, m.start() if m else n)
            elif src.startswith("/*", p):
                self.emit(Kind.BLOCK_COMMENT, *self.block_comment(p))
            elif ch == "'":
                self.emit(Kind.STRING, *self.quoted(p, "'", backslash=False))
            elif ch == '"':
                self.emit(Kind.QUOTED_IDENT, *self.quoted(p, '"', backslash=False))
            elif ch == "$":
                self.dollar(p)
            elif prefix := self.string_prefix(p):
                quote_at = p + len(prefix)
                if src[quote_at] == '"':
                    self.emit(Kind.QUOTED_IDENT, *self.quoted(quote_at, '"', backslash=False))
                else:
                    escapes = prefix.upper() == "E"
                    self.emit(Kind.STRING, *self.quoted(quote_at, "'", backslash=escapes))
            elif m := _WORD.match(src, p):
                self.emit(Kind.WORD, m.end())
            elif ch.isdigit() or (ch == "." and p + 1 < n and src[p + 1].isdigit()):
                m = _NUMBER.match(src, p)
                self.emit(Kind.NUMBER, m.end() if m else p + 1)
            elif ch in _OP_CHARS:
                self.emit(Kind.OPERATOR, max(self.operator_end(p), p + 1))
            elif ch == ":" and src.startswith("::", p):
                self.emit(Kind.OPERATOR, p + 2)
            else:
                self.emit(Kind.PUNCT, p + 1)
        return self.tokens

    def string_prefix(self, p: int) -> str | None:
        src = self.src
        for prefix in _STRING_PREFIXES:
            end = p + len(prefix)
            if src[p:end].upper() == prefix and end < len(src):
                nxt = src[end]
                if nxt == "'" or (prefix == "U&" and nxt == '"'):
                    return src[p:end]
        return None

    def dollar(self, p: int) -> None:
        src = self.src
        if m := _PARAM.match(src, p):
            self.emit(Kind.PARAM, m.end())
            return
        if m := _DOLLAR_TAG.match(src, p):
            tag = m.group(0)
            close = src.find(tag, m.end())
            if close < 0:
                self.emit(Kind.DOLLAR_BODY, len(src), unterminated=True)
            else:
                self.emit(Kind.DOLLAR_BODY, close + len(tag))
            return
        self.emit(Kind.OPERATOR, p + 1)


def tokenize(source: str) -> list[Token]:
    """All tokens of `source`, in order; their texts concatenate to `source` exactly."""
    return _Scanner(source).run()


class _BodyTracker:
    """psql's heuristic for `BEGIN ATOMIC … END` bodies of CREATE FUNCTION/PROCEDURE."""

    def __init__(self) -> None:
        self.leading: list[str] = []
        self.depth = 0

    def reset(self) -> None:
        self.leading = []
        self.depth = 0

    def routine_header(self) -> bool:
        head = self.leading[:4]
        if head[:1] != ["CREATE"]:
            return False
        if head[1:2] in (["FUNCTION"], ["PROCEDURE"]):
            return True
        return head[1:3] == ["OR", "REPLACE"] and head[3:4] in (["FUNCTION"], ["PROCEDURE"])

    def word(self, upper: str, paren_depth: int) -> None:
        if len(self.leading) < 4:
            self.leading.append(upper)
        if paren_depth or not self.routine_header():
            return
        if upper == "BEGIN" or (upper == "CASE" and self.depth >= 1):
            self.depth += 1
        elif upper == "END" and self.depth > 0:
            self.depth -= 1


def split_statements(tokens: list[Token]) -> list[Statement]:
    """Group tokens into statements; empty statements (only trivia) are dropped.

    A trailing unterminated comment is kept as a statement so checks can report it."""
    statements: list[Statement] = []
    current: list[Token] = []
    parens = 0
    body = _BodyTracker()

    def flush() -> None:
        first = next((i for i, t in enumerate(current) if t.kind not in TRIVIA), None)
        if first is None:  # only trivia: dropped, unless an unterminated comment hides code
            first = next((i for i, t in enumerate(current) if t.unterminated), None)
        if first is not None:
            statements.append(Statement(tuple(current[first:]), len(statements)))
        current.clear()
        body.reset()

    for tok in tokens:
        if tok.kind is Kind.PUNCT and tok.text == ";" and parens == 0 and body.depth == 0:
            flush()
            continue
        current.append(tok)
        if tok.kind is Kind.PUNCT:
            if tok.text in "([":
                parens += 1
            elif tok.text in ")]" and parens > 0:
                parens -= 1
        elif tok.kind is Kind.WORD:
            body.word(tok.upper, parens)
    flush()
    return statements


def parse(source: str) -> list[Statement]:
    """Tokenize and split in one step."""
    return split_statements(tokenize(source))


def position_of(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset in `source`."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1
