"""A version's hash is the hash of its manifest's bytes: the direct formatting used for plain
paths must give exactly the bytes ``json.dumps`` gives, or a re-add would see a new version."""

from __future__ import annotations

import json
import random

import pytest

from labdeck.datasets.store import manifest_bytes


def json_manifest(files):
    return json.dumps(sorted(files), separators=(",", ":"), ensure_ascii=False).encode()


ODD = ['a"b', "back\\slash", "new\nline", "tab\there", "bell\x07", "del\x7f", "é/ü/ß", "日本/データ.csv",
       "emoji 🙂.txt", "space name.bin", "semi;colon", "comma,name", "[brackets]", "{braces}", "u\u2028sep"]


@pytest.mark.parametrize("odd", [None, *ODD])
def test_the_manifest_is_json_of_the_sorted_files(odd):
    rng = random.Random(odd)
    files = [(f"part{i // 100:04}/f{i}.bin", rng.randrange(0, 10**12), f"{rng.getrandbits(256):064x}")
             for i in range(500)]
    if odd is not None:
        files.append((odd, 0, "0" * 64))
    rng.shuffle(files)
    assert manifest_bytes(files) == json_manifest(files)


def test_an_empty_manifest_is_an_empty_list():
    assert manifest_bytes([]) == b"[]" == json_manifest([])
