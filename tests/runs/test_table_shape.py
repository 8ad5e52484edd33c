"""The runs table's shape (Qt-free): groups and nested runs, and where each run sits."""

from __future__ import annotations

import random

from labdeck.runs.table_shape import RunTree, flat, grouped, nested


def _check_places(tree: RunTree) -> None:
    for pk in tree.pks:
        top, child = tree.place(pk)
        node = tree.top[top]
        assert (node == pk) if child < 0 else (tree.children[node][child] == pk)
    assert tree.place(-12345) is None


def test_groups_in_order_of_first_run_each_in_query_order():
    rng = random.Random(3)
    pks = rng.sample(range(1000, 5000), 300)
    values = [rng.choice(["adam", "sgd", "lion", "(none)"]) for _ in pks]
    tree = grouped(pks, values, "params.opt").prepared()
    first_seen = list(dict.fromkeys(values))
    assert tree.groups == first_seen
    for g, value in enumerate(tree.groups):
        expected = [pk for pk, v in zip(pks, values) if v == value]
        assert tree.children[RunTree.group_node(g)] == expected
    assert sum(len(kids) for kids in tree.children.values()) == len(pks)
    assert tree.folding_rows == {node: row for row, node in enumerate(tree.top)}
    _check_places(tree)


def test_nested_runs_sit_under_their_top_ancestor_and_flat_lists_by_row():
    pks = [10, 11, 12, 13, 14, 15]
    tree = nested(pks, {11: 10, 12: 11, 14: 99}).prepared()  # 14's parent is not listed
    assert tree.top == [10, 13, 14, 15] and tree.children == {10: [11, 12]}
    assert tree.folding_rows == {10: 0}
    _check_places(tree)
    plain = flat(pks).prepared()
    assert plain.place(13) == (3, -1)
    _check_places(plain)
