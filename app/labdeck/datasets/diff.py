"""Differences between two versions: files, and for tabular files schema, rows and column statistics."""

from __future__ import annotations

from collections.abc import Callable

from labdeck.datasets.tabular import TabularError, tabular_format

Files = list[tuple[str, int, str]]
STATS = ("nulls", "null_fraction", "distinct", "min", "max", "mean")


def diff_files(a: Files, b: Files) -> dict:
    da = {p: (s, h) for p, s, h in a}
    db = {p: (s, h) for p, s, h in b}
    return {
        "added": sorted(set(db) - set(da)),
        "removed": sorted(set(da) - set(db)),
        "changed": sorted(p for p in set(da) & set(db) if da[p][1] != db[p][1]),
        "unchanged": sum(1 for p in set(da) & set(db) if da[p][1] == db[p][1]),
        "bytes": [sum(s for s, _ in da.values()), sum(s for s, _ in db.values())],
    }


def diff_profiles(pa: dict, pb: dict) -> dict:
    sa, sb = pa["schema"], pb["schema"]
    out: dict = {
        "rows": [pa["rows"], pb["rows"]],
        "rows_change": pb["rows"] - pa["rows"],
        "schema": {
            "added": {c: sb[c] for c in sb if c not in sa},
            "removed": {c: sa[c] for c in sa if c not in sb},
            "type_changed": {c: [sa[c], sb[c]] for c in sa if c in sb and sa[c] != sb[c]},
        },
        "columns": {},
    }
    for col in sa:
        if col not in sb:
            continue
        ca, cb = pa["columns"][col], pb["columns"][col]
        changes = {k: [ca.get(k), cb.get(k)] for k in STATS if ca.get(k) != cb.get(k)}
        if changes:
            out["columns"][col] = changes
    return out


def diff_versions(a: Files, b: Files, profile_of: Callable[[str, str], dict]) -> dict:
    """``profile_of(object digest, rel)`` returns a tabular profile (see ``tabular.profile_frame``)."""
    result = diff_files(a, b)
    ha = {p: h for p, _, h in a}
    hb = {p: h for p, _, h in b}
    tabular: dict = {}
    for rel in result["changed"]:
        if tabular_format(rel) is None:
            continue
        try:
            tabular[rel] = diff_profiles(profile_of(ha[rel], rel), profile_of(hb[rel], rel))
        except TabularError as exc:
            tabular[rel] = {"error": str(exc)}
    # A single-file dataset whose file was renamed is still worth comparing as a table.
    if not tabular and len(a) == 1 and len(b) == 1 and a[0][0] != b[0][0]:
        (ra, _, xa), (rb, _, xb) = a[0], b[0]
        if tabular_format(ra) and tabular_format(rb):
            try:
                tabular[rb] = diff_profiles(profile_of(xa, ra), profile_of(xb, rb))
            except TabularError as exc:
                tabular[rb] = {"error": str(exc)}
    result["tabular"] = tabular
    return result
