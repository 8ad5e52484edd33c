"""The runs table's shape: top-level rows, and the runs under each, either groups
by a key's value or nested runs under their parent run.

Built on a worker thread from the query's run keys; the table model only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


# Runs put in ``RunTree.rows`` by one call (about 2 ms at a time holding the interpreter).
ROWS_SLICE = 16384

# group node -> metric -> (mean of its runs' last values, how many runs have one)
GroupMeans = dict[int, dict[str, tuple[float, int]]]


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
    # Each group's means of the metrics ``means_of``, read with the groups (see GroupMeans).
    means: GroupMeans | None = field(default=None, compare=False, repr=False)
    means_of: tuple[str, ...] = ()
    # Grouped trees: listed runs that are another format's record of a listed run's training
    # (a Lightning TensorBoard twin), shown in their group but neither counted nor averaged,
    # and how many each group holds (group node -> count).
    other_sources: frozenset[int] = frozenset()
    other_sources_in: dict[int, int] = field(default_factory=dict)

    # Look-ups the table model needs, built on the worker thread by prepared(): at 100,000
    # runs they cost about 80 ms, which the GUI thread must not spend.

    @cached_property
    def rows(self) -> dict[int, int]:
        """pk -> position in the query's order; built in slices, each one call that holds the
        interpreter (the whole dict at once held it for 15 ms, a paint's worth)."""
        rows: dict[int, int] = {}
        pks = self.pks
        for start in range(0, len(pks), ROWS_SLICE):
            rows.update(zip(pks[start : start + ROWS_SLICE], range(start, start + ROWS_SLICE)))
        return rows

    def positions(self, pks: np.ndarray) -> np.ndarray:
        """Each of ``pks``' position in the query's order, -1 for a run not listed
        (vectorised: a metric's whole column is placed at once)."""
        import numpy as np

        return index_of(np.asarray(self.pks, dtype=np.int64), pks)

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


NO_VALUE = "(none)"  # the group of runs without a value of the key


def grouped(pks: list[int], values: list[str], key: str) -> RunTree:
    """One top-level row per value of ``key`` (``values`` in the order of ``pks``), in order
    of its first run in the query's order (sorted by a metric: the group holding the best
    run comes first); each group's runs keep the query's order."""
    import numpy as np  # here: the CLI's run listing shapes trees too, and never needs NumPy

    labels: dict[str, int] = {}
    codes = np.fromiter(
        (labels.setdefault(v, len(labels)) for v in values), dtype=np.int64, count=len(values)
    )
    return _grouped_codes(pks, codes, list(labels), key)


@dataclass(frozen=True)
class GroupMembers:
    """A group-by key's values as the index keeps them, for every run that has one, listed
    or not: ``labels[codes[i]]`` is run ``pks[i]``'s (NumPy arrays). Built from SQL's
    ``group_concat`` rows (``db.grouping.members``), and changed by ``following`` them."""

    labels: tuple[str, ...]
    pks: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, rows: list[tuple[str | None, str]]) -> GroupMembers:
        import numpy as np

        return cls((), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).following([], rows)

    def following(self, changed: list[int], rows: list[tuple[str | None, str]]) -> GroupMembers:
        """These members with the runs ``changed`` taken out, and the ``rows`` (their values
        now) put in."""
        import numpy as np

        from labdeck.db.number_text import numbers

        labels = {label: code for code, label in enumerate(self.labels)}
        kept = ~np.isin(self.pks, np.asarray(changed, dtype=np.int64))
        pks, codes = [self.pks[kept]], [self.codes[kept]]
        for value, text in rows:
            code = labels.setdefault(value or NO_VALUE, len(labels))
            ids = numbers(text)
            pks.append(ids)
            codes.append(np.full(len(ids), code, dtype=np.int64))
        return GroupMembers(tuple(labels), np.concatenate(pks), np.concatenate(codes))


def grouped_by_members(pks: list[int], members: GroupMembers, key: str) -> RunTree:
    """``grouped`` from the key's values as the index keeps them (``GroupMembers``). Listed
    runs with no value fall in the ``NO_VALUE`` group.

    Vectorised: at 100,000 runs this costs about 15 ms, where matching runs to values one
    Python object at a time cost about 100 ms (and reading the values one row per run, 60
    ms more than ``group_concat``)."""
    import numpy as np

    labels = {label: code for code, label in enumerate(members.labels)}
    none = labels.setdefault(NO_VALUE, len(labels))
    listed = np.asarray(pks, dtype=np.int64)
    codes = np.full(len(listed), none, dtype=np.int64)
    if len(members.pks):
        at = index_of(members.pks, listed)
        found = at >= 0
        codes[found] = members.codes[at[found]]
    return _grouped_codes(pks, codes, list(labels), key)


def with_other_sources(tree: RunTree, other: set[int]) -> RunTree:
    """A grouped ``tree`` told which of its runs are other-format sources of another's
    training, with each group's count of them."""
    import numpy as np

    if not other or tree.group_numbers is None:
        return tree
    at = tree.positions(np.fromiter(other, dtype=np.int64, count=len(other)))
    counts = np.bincount(tree.group_numbers[at[at >= 0]], minlength=len(tree.groups))
    per_group = {RunTree.group_node(int(g)): int(counts[g]) for g in np.flatnonzero(counts)}
    return replace(tree, other_sources=frozenset(other), other_sources_in=per_group)


def index_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Each of ``wanted``'s index in ``keys`` (distinct run pks), -1 where absent.

    Through a table indexed by pk while pks are dense enough (1.5 ms at 100,000 runs); a
    binary search otherwise (20 ms: the wanted pks come in no useful order)."""
    import numpy as np

    out = np.full(len(wanted), -1, dtype=np.int64)
    if not len(keys) or not len(wanted):
        return out
    top = int(keys.max())
    if int(keys.min()) >= 0 and top <= 8 * len(keys) + 65_536:
        table = np.full(top + 1, -1, dtype=np.int64)
        table[keys] = np.arange(len(keys))
        inside = (wanted >= 0) & (wanted <= top)
        out[inside] = table[wanted[inside]]
        return out
    order = np.argsort(keys)
    ordered = keys[order]
    at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
    found = ordered[at] == wanted
    out[found] = order[at[found]]
    return out


def _grouped_codes(pks: list[int], codes: np.ndarray, labels: list[str], key: str) -> RunTree:
    """The tree of runs whose value of ``key`` is ``labels[codes[i]]``: groups numbered in
    order of their first run, each group's runs in the query's order."""
    import numpy as np

    present, first = np.unique(codes, return_index=True)
    by_first = present[np.argsort(first)]  # the codes in order of their first run
    number_of = np.zeros(len(labels), dtype=np.int64)
    number_of[by_first] = np.arange(len(by_first))
    number = number_of[codes]
    # A stable sort by group number splits the runs into groups, each in the query's order.
    order = np.argsort(number, kind="stable")
    counts = np.bincount(number, minlength=len(by_first))
    ends = np.cumsum(counts)
    parts = np.split(np.asarray(pks, dtype=np.int64)[order], ends[:-1])
    children = {RunTree.group_node(g): part.tolist() for g, part in enumerate(parts)}
    child_rows = np.empty(len(pks), dtype=np.int64)
    child_rows[order] = np.arange(len(pks)) - np.repeat(ends - counts, counts)
    groups = [labels[code] for code in by_first.tolist()]
    top = [RunTree.group_node(g) for g in range(len(groups))]
    return RunTree(list(pks), top, children, groups, key, group_numbers=number, child_rows=child_rows)
