"""The run query language, shared by the CLI and the query bar.

    params.lr = 0.01 and metrics.val_loss < 0.3
    tags.model = "resnet" or name ~ "bert"
    not (status = failed) and has metrics.accuracy
    start_time >= 2026-11-01 and end_time < 2026-11-02T12:00

Fields: ``params.KEY``, ``metrics.KEY`` (the last value), ``tags.KEY`` and the attributes
``id name status experiment format source_id path project start_time end_time``. A key
with odd characters is quoted: ``params."batch size"``. Operators: ``= != < <= > >=``,
``~`` / ``!~`` (case-insensitive regular-expression search, RE2 syntax: linear time, no
look-around or back-references). Values: numbers, quoted strings, or bare words. ``and``
binds tighter than ``or``.

A bad query raises ``QueryError`` whose ``position`` points at the offending token. So does
a hostile one: past ``MAX_QUERY_LENGTH`` characters, ``MAX_DEPTH`` levels of parentheses and
``not``, or ``MAX_TERMS`` comparisons (each one a subquery in SQL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from labdeck.db.filters import (
    ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    OPERATORS,
    And,
    Compare,
    Field,
    Filter,
    Has,
    Not,
    Or,
    PatternError,
    SortKey,
    compile_pattern,
)
from labdeck.runs.query_error import QueryError
from labdeck.runs.readers.base import STATUSES

NAMESPACES = ("params", "metrics", "tags")
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 64
MAX_TERMS = 256


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "string", "number", "date", "op", "lparen", "rparen", "end"
    text: str
    pos: int
    value: object = None


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w.:+-]))
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<op>==|!=|<=|>=|!~|=|<|>|~)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<name>[^\s()=<>!~"']+)
    """,
    re.VERBOSE,
)
_UNQUOTE = re.compile(r"\\(.)")


def tokenize(query: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:
            raise QueryError(f"unexpected character {query[pos]!r}", query, pos)
        kind = m.lastgroup or ""  # every alternative of _TOKEN is a named group
        text = m.group()
        if kind == "string":
            tokens.append(Token("string", text, pos, _UNQUOTE.sub(r"\1", text[1:-1])))
        elif kind == "number":
            tokens.append(Token("number", text, pos, float(text)))
        elif kind == "date":
            # Before numbers, or 2026-11-01 would read as the numbers 2026, -11, -01.
            tokens.append(Token("date", text, pos, text))
        elif kind == "op":
            tokens.append(Token("op", "=" if text == "==" else text, pos))
        elif kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(query)))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0
        self.depth = 0  # parentheses and 'not' around the current token
        self.terms = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token) -> QueryError:
        return QueryError(message, self.query, tok.pos)

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text.lower() == word

    def parse(self) -> Filter:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"expected 'and', 'or' or the end of the query, found {tok.text!r}", tok)
        return node

    def parse_or(self) -> Filter:
        terms = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def parse_and(self) -> Filter:
        terms = [self.parse_not()]
        while self.is_word("and"):
            self.take()
            terms.append(self.parse_not())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def parse_not(self) -> Filter:
        # A run of 'not's is counted in a loop; only parentheses recurse, and both are bounded.
        nots = []
        while self.is_word("not"):
            nots.append(self.take())
            self.enter(nots[-1])
        node = self.parse_atom()
        self.depth -= len(nots)
        for _ in nots:
            node = Not(node)
        return node

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query nested too deeply: at most {MAX_DEPTH} levels of parentheses and 'not'", tok)

    def parse_atom(self) -> Filter:
        tok = self.peek()
        if tok.kind == "lparen":
            self.enter(self.take())
            node = self.parse_or()
            close = self.peek()
            if close.kind != "rparen":
                raise self.error("missing ')'", close)
            self.take()
            self.depth -= 1
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"query too long: at most {MAX_TERMS} comparisons", tok)
        if self.is_word("has"):
            self.take()
            field_tok = self.peek()
            field = self.parse_field()
            if field.kind == "attr":
                raise self.error("'has' takes params.KEY, metrics.KEY or tags.KEY", field_tok)
            return Has(field)
        field_tok = self.peek()
        field = self.parse_field()
        op_tok = self.take()
        if op_tok.kind != "op":
            raise self.error(f"expected an operator ({' '.join(OPERATORS)}) after {field_tok.text!r}", op_tok)
        value_tok = self.take()
        return self.make_compare(field, field_tok, op_tok, value_tok)

    def parse_field(self) -> Field:
        tok = self.take()
        if tok.kind != "name":
            raise self.error(f"expected a field such as params.lr or status, found {tok.text or 'the end'!r}", tok)
        head, dot, rest = tok.text.partition(".")
        if head in NAMESPACES:
            if not dot:
                raise self.error(f"{head} needs a key: {head}.NAME", tok)
            if rest:
                return Field(head, rest)
            quoted = self.peek()  # params."batch size": the tokenizer splits at the quote
            if quoted.kind == "string" and quoted.pos == tok.pos + len(tok.text):
                self.take()
                return Field(head, str(quoted.value))
            raise self.error(f"{head} needs a key: {head}.NAME", tok)
        if tok.text in ATTRIBUTES:
            return Field("attr", tok.text)
        known = ", ".join(sorted(ATTRIBUTES))
        raise self.error(f"unknown field {tok.text!r}: use params.*, metrics.*, tags.* or one of {known}", tok)

    def make_compare(self, field: Field, field_tok: Token, op_tok: Token, tok: Token) -> Compare:
        op = op_tok.text
        if tok.kind not in ("string", "number", "name", "date"):
            raise self.error(f"expected a value after {op!r}", tok)
        value: Any = tok.value if tok.kind != "name" else tok.text  # str or float
        if op in ("~", "!~"):
            pattern = str(tok.text if tok.kind == "number" else value)
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                raise self.error(f"bad regular expression: {exc}", tok) from None
            if field.kind == "metrics":
                raise self.error("metrics compare with numbers, not patterns", op_tok)
            return Compare(field, op, pattern)
        if field.kind == "metrics":
            if not isinstance(value, float):
                number = _word_number(str(value))
                if number is None:
                    raise self.error(f"metrics compare with numbers, not {tok.text!r}", tok)
                value = number
            return Compare(field, op, value)
        if field.kind == "attr":
            return self.attr_compare(field, op, value, tok)
        return Compare(field, op, value)

    def attr_compare(self, field: Field, op: str, value: str | float, tok: Token) -> Compare:
        if field.name in NUMERIC_ATTRIBUTES:
            if isinstance(value, str):
                number = _parse_time(value)
                if number is None:
                    raise self.error(f"{field.name} takes ms since the epoch or a date like 2026-11-01", tok)
                value = number
            return Compare(field, op, value)
        text = value if isinstance(value, str) else tok.text
        if field.name == "status" and op in ("=", "!=") and text.lower() not in STATUSES:
            raise self.error(f"unknown status {text!r}: one of {', '.join(STATUSES)}", tok)
        if field.name == "status":
            text = text.lower()
        return Compare(field, op, text)


def _word_number(text: str) -> float | None:
    lowered = text.lower()
    if lowered in ("nan", "inf", "+inf", "infinity", "-inf", "-infinity"):
        return float(lowered.replace("infinity", "inf"))
    return None


def _parse_time(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a date without zone means local time
    return float(int(moment.astimezone(timezone.utc).timestamp() * 1000))


def parse_query(query: str) -> Filter | None:
    """The filter a query string describes (None for an empty query)."""
    if not query.strip():
        return None
    if len(query) > MAX_QUERY_LENGTH:
        # The caret stands under the first character past the limit.
        raise QueryError(f"query too long: {len(query)} characters, at most {MAX_QUERY_LENGTH}",
                         query, MAX_QUERY_LENGTH)
    return _Parser(query).parse()


def parse_sort(text: str) -> list[SortKey]:
    """``-metrics.val_loss,name``: comma-separated fields, a leading '-' for descending."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        body = part.lstrip("-+")
        parser = _Parser(body)
        field = parser.parse_field()
        rest = parser.peek()
        if rest.kind != "end":
            raise QueryError(f"unexpected {rest.text!r} in sort key", text, text.find(part) + rest.pos)
        keys.append(SortKey(field, descending))
    return keys
