"""The runs table's shape (Qt-free): top-level rows, and the runs under each, either groups
by a key's value or nested runs under their parent run.

Built on a worker thread from the query's run keys; the table model only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunTree:
    pks: list[int]  # every run, in the query's order
    top: list[int]  # top-level nodes: a run pk (>= 0) or a group, -(index + 1)
    children: dict[int, list[int]] = field(default_factory=dict)  # node -> run pks
    groups: list[str] = field(default_factory=list)  # group values, by index
    group_key: str = ""

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

    def root(pk: int) -> int:
        seen = {pk}
        while pk in parents and parents[pk] not in seen:
            pk = parents[pk]
            seen.add(pk)
        return pk

    top, children = [], {}
    for pk in pks:
        anchor = root(pk)
        if anchor == pk:
            top.append(pk)
        else:
            children.setdefault(anchor, []).append(pk)
    return RunTree(list(pks), top, children)


def grouped(pks: list[int], values: dict[int, str], key: str) -> RunTree:
    """One top-level row per value of ``key``, in order of its first run in the query's
    order (sorted by a metric: the group holding the best run comes first)."""
    index: dict[str, int] = {}
    children: dict[int, list[int]] = {}
    for pk in pks:
        value = values.get(pk, "")
        g = index.setdefault(value, len(index))
        children.setdefault(RunTree.group_node(g), []).append(pk)
    groups = list(index)
    top = [RunTree.group_node(g) for g in range(len(groups))]
    return RunTree(list(pks), top, children, groups, key)
