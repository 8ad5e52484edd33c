"""The runs table's shape (Qt-free): groups and nested runs, and where each run sits."""

from __future__ import annotations

import random

import numpy as np

from labdeck.runs.table_shape import (
    NO_VALUE,
    GroupMembers,
    RunTree,
    flat,
    grouped,
    grouped_by_members,
    index_of,
    nested,
)


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


def test_groups_from_the_index_members_match_groups_from_each_runs_value():
    """The vectorised path (values with their runs' pks, as SQL's group_concat gives them,
    listed runs or not) shapes the same tree as matching run by run."""
    rng = random.Random(5)
    every = rng.sample(range(1, 20_000), 2_000)
    values = {pk: rng.choice(["adam", "sgd", "", None, "lion"]) for pk in every}
    listed = rng.sample(every, 700) + [50_001, 50_002]  # two listed runs the index has no value for
    members: dict[str | None, list[int]] = {}
    for pk, value in values.items():
        if value is not None:  # None: the run has no such param at all
            members.setdefault(value, []).append(pk)
    column = [(value, ",".join(map(str, pks))) for value, pks in members.items()]
    expected = grouped(listed, [values.get(pk) or NO_VALUE for pk in listed], "params.opt").prepared()
    tree = grouped_by_members(listed, GroupMembers.of(column), "params.opt").prepared()
    assert tree.groups == expected.groups and NO_VALUE in tree.groups
    assert tree.children == expected.children and tree.top == expected.top
    assert tree.group_numbers.tolist() == expected.group_numbers.tolist()
    assert tree.child_rows.tolist() == expected.child_rows.tolist()
    _check_places(tree)
    assert tree.positions(np.array([listed[3], 7_777_777, listed[0]])).tolist() == [3, -1, 0]


def test_members_follow_changed_runs():
    """Runs changed by a commit leave their old group and join their new one (or none)."""
    members = GroupMembers.of([("adam", "1,2,3"), ("sgd", "4,5"), ("", "6")])
    after = members.following([2, 5, 6, 9], [("sgd", "2"), ("lion", "9,6")])
    tree = grouped_by_members([1, 2, 3, 4, 5, 6, 9, 10], after, "params.opt").prepared()
    by_group = {tree.groups[g]: tree.children[RunTree.group_node(g)] for g in range(len(tree.groups))}
    assert by_group == {"adam": [1, 3], "sgd": [2, 4], NO_VALUE: [5, 10], "lion": [6, 9]}


def test_groups_of_an_empty_column_put_every_run_in_no_value():
    tree = grouped_by_members([3, 1, 2], GroupMembers.of([]), "tags.team").prepared()
    assert tree.groups == [NO_VALUE] and tree.children == {RunTree.group_node(0): [3, 1, 2]}


def test_index_of_finds_dense_and_sparse_keys_alike():
    rng = np.random.default_rng(2)
    for keys in (rng.permutation(5_000) + 1, rng.choice(10**12, 5_000, replace=False)):
        wanted = np.concatenate([rng.choice(keys, 800), [-5, 10**13, 0]])
        at = index_of(keys, wanted)
        position = {int(k): i for i, k in enumerate(keys)}
        assert at.tolist() == [position.get(int(w), -1) for w in wanted]
