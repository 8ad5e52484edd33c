"""The runs table's shape: top-level rows, and the runs under each, either groups
by a key's value or nested runs under their parent run.

Built on a worker thread from the query's run keys; the table model only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class RunTree:
    pks: list[int]  # every run, in the query's order
    top: list[int]  # top-level nodes: a run pk (>= 0) or a group, -(index + 1)
    children: dict[int, list[int]] = field(default_factory=dict)  # node -> run pks
    groups: list[str] = field(default_factory=list)  # group values, by index
    group_key: str = ""
    # Each run's group index, in the order of ``pks`` (grouped trees): group aggregates
    # are computed over it in one vectorised pass.
    group_numbers: np.ndarray | None = field(default=None, compare=False, repr=False)
    child_rows: np.ndarray | None = field(default=None, compare=False, repr=False)  # row in its group

    # Look-ups the table model needs, built on the worker thread by prepared(): at 100,000
    # runs they cost about 80 ms, which the GUI thread must not spend.

    @cached_property
    def rows(self) -> dict[int, int]:
        """pk -> position in the query's order."""
        return {pk: row for row, pk in enumerate(self.pks)}

    @cached_property
    def where(self) -> dict[int, tuple[int, int]]:
        """pk -> (top row, child row or -1), for a tree with runs under others (see place)."""
        out: dict[int, tuple[int, int]] = {}
        for top_row, node in enumerate(self.top):
            if node >= 0:
                out[node] = (top_row, -1)
            for child_row, pk in enumerate(self.children.get(node, ())):
                out[pk] = (top_row, child_row)
        return out

    @cached_property
    def folding_rows(self) -> dict[int, int]:
        """node -> top row, for the nodes with runs under them (the rows that fold)."""
        if not self.children:
            return {}
        return {node: row for row, node in enumerate(self.top) if node in self.children}

    def place(self, pk: int) -> tuple[int, int] | None:
        """(top row, child row or -1) of a listed run; None for a run not listed."""
        if not self.children:  # a flat list: its rows are its order
            row = self.rows.get(pk)
            return None if row is None else (row, -1)
        if self.group_numbers is not None and self.child_rows is not None:  # groups: from arrays
            position = self.rows.get(pk)
            if position is None:
                return None
            return int(self.group_numbers[position]), int(self.child_rows[position])
        return self.where.get(pk)

    def prepared(self) -> RunTree:
        if not self.children:
            look_ups: tuple = (self.rows,)
        elif self.child_rows is not None:
            look_ups = (self.rows, self.folding_rows)
        else:
            look_ups = (self.rows, self.where, self.folding_rows)
        assert all(look_up is not None for look_up in look_ups)
        return self

    @staticmethod
    def group_node(index: int) -> int:
        return -(index + 1)

    @staticmethod
    def group_index(node: int) -> int | None:
        return -node - 1 if node < 0 else None


def flat(pks: list[int]) -> RunTree:
    return RunTree(list(pks), list(pks))


def nested(pks: list[int], parents: dict[int, int]) -> RunTree:
    """Runs under their parent run (grandchildren under the top ancestor), in query order;
    a run whose parent is not listed stays at the top."""
    if not parents:
        return flat(pks)

    listed = set(pks)

    def root(pk: int) -> int:
        seen = {pk}
        while pk in parents and parents[pk] in listed and parents[pk] not in seen:
            pk = parents[pk]
            seen.add(pk)
        return pk

    top: list[int] = []
    children: dict[int, list[int]] = {}
    for pk in pks:
        anchor = root(pk)
        if anchor == pk:
            top.append(pk)
        else:
            children.setdefault(anchor, []).append(pk)
    return RunTree(list(pks), top, children)


def grouped(pks: list[int], values: list[str], key: str) -> RunTree:
    """One top-level row per value of ``key`` (``values`` in the order of ``pks``), in order
    of its first run in the query's order (sorted by a metric: the group holding the best
    run comes first); each group's runs keep the query's order."""
    import numpy as np  # here: the CLI's run listing shapes trees too, and never needs NumPy
    index: dict[str, int] = {}
    number = np.fromiter(
        (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
    )
    # A stable sort by group number splits the runs into groups, each in the query's order.
    order = np.argsort(number, kind="stable")
    counts = np.bincount(number, minlength=len(index))
    ends = np.cumsum(counts)
    parts = np.split(np.asarray(pks, dtype=np.int64)[order], ends[:-1])
    children = {RunTree.group_node(g): part.tolist() for g, part in enumerate(parts)}
    child_rows = np.empty(len(pks), dtype=np.int64)
    child_rows[order] = np.arange(len(pks)) - np.repeat(ends - counts, counts)
    groups = list(index)
    top = [RunTree.group_node(g) for g in range(len(groups))]
    return RunTree(list(pks), top, children, groups, key, group_numbers=number, child_rows=child_rows)
