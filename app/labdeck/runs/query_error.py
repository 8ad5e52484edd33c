"""A query the user wrote that does not parse, with where: apart from the parser, so that the
CLI can report it without importing the query language (and RE2) for every verb."""

from __future__ import annotations

from labdeck.errors import UserError

_CONTEXT = 60  # characters shown either side of an error in a long query


class QueryError(UserError, ValueError):
    def __init__(self, message: str, query: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.query = query
        self.position = position

    def pretty(self) -> str:
        """The message, the query and a caret under the offending token (a long query is
        shown as the stretch around it)."""
        start = max(0, self.position - _CONTEXT)
        shown = self.query[start : self.position + _CONTEXT]
        lead = "..." if start else ""
        tail = "..." if start + len(shown) < len(self.query) else ""
        return f"{self.message}\n  {lead}{shown}{tail}\n  {' ' * (len(lead) + self.position - start)}^"

    def __str__(self) -> str:
        return f"{self.message} (at column {self.position + 1})"
