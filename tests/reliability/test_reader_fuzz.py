"""Fuzzing the readers: no mutant of a real-tool log crashes or hangs a pass, and no mutant
loses data its mutation did not touch (see fuzz_mutants.py for the mutations and for what
"untouched" means for each kind of file). ``scripts/soak`` runs thousands of the same mutants.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fuzz_mutants as fz  # noqa: E402

# Mutants per format in the suite: each chunk is one mutant of every kind (seeds are
# consecutive, and the kinds take turns by seed).
CHUNKS = 5
CHUNK = len(fz.KINDS)


@pytest.fixture(scope="module")
def fuzzers(tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    made: dict[str, fz.Fuzzer] = {}

    def get(fmt: str) -> fz.Fuzzer:
        if fmt not in made:
            made[fmt] = fz.Fuzzer(fmt, work)
        if made[fmt].pristine is None:
            pytest.skip(f"fixture {fz.FORMATS[fmt]} not found under {fz.fixtures_root()}")
        return made[fmt]

    return get


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("fmt", list(fz.FORMATS))
def test_mutants_neither_crash_nor_lose_untouched_data(fuzzers, fmt, chunk):
    fuzzer = fuzzers(fmt)
    problems = []
    for seed in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        out = fuzzer.run(seed)
        if out.crash:
            problems.append(f"{out.mutant.label}: crashed\n{out.crash}")
        elif out.hang:
            problems.append(f"{out.mutant.label}: no end after {fz.HANG_SECONDS} s")
        elif out.losses:
            problems.append(f"{out.mutant.label}: lost untouched data: {'; '.join(out.losses[:5])}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("seed", [6, 2])  # a non-UTF-8 name of every format; garbage in every format
def test_the_cli_indexes_mutants_of_every_format_without_a_traceback(fuzzers, tmp_path, seed):
    project = tmp_path / "project"
    project.mkdir()
    labels = []
    for fmt in fz.FORMATS:
        fuzzer = fuzzers(fmt)
        m = fz.make_mutant(fmt, seed, fuzzer.pristine)
        fz.copy_project(fuzzer.pristine, project / fmt, None if m.kind == "non-utf8-name" else m.target)
        fz.apply(m, project / fmt)
        labels.append(m.label)
    home = tmp_path / "home"
    home.mkdir()
    code, err = fz.cli_index(project, home)
    assert code == 0 and "Traceback" not in err and "Exception ignored" not in err, (labels, err)


def test_a_folder_name_that_is_not_utf8_is_skipped_with_a_warning(fuzzers, tmp_path):
    fuzzer = fuzzers("lightning")
    project = tmp_path / "project"
    fz.copy_project(fuzzer.pristine, project, None)
    os.rename(os.fsencode(project / "lightning_logs" / "version_1"), os.fsencode(project / "lightning_logs") + b"/v\xff")
    data, warnings, crash, hang = fz.index_in_process(project, tmp_path / "index.sqlite")
    assert not crash and not hang
    assert set(data) == set(fuzzer.baseline) - {"lightning_logs/version_1"}
    assert any(w.startswith("non-utf8-name: lightning_logs/v\ufffd has a name that is not UTF-8") for w in warnings)


def test_garbage_in_the_middle_of_a_metrics_csv_costs_only_its_rows(fuzzers, tmp_path):
    fuzzer = fuzzers("lightning")
    project = tmp_path / "project"
    rel = "lightning_logs/version_1/metrics.csv"
    fz.copy_project(fuzzer.pristine, project, rel)
    data = (project / rel).read_bytes()
    middle = data.index(b"\n", len(data) // 2) + 20
    (project / rel).write_bytes(data[:middle] + b'\xff"garbage\n,,\x00' * 40 + data[middle:])
    got, warnings, crash, hang = fz.index_in_process(project, tmp_path / "index.sqlite")
    assert not crash and not hang
    run = got["lightning_logs/version_1"]
    kept = sum(sum(c.values()) for c in run.values())
    total = sum(sum(c.values()) for c in fuzzer.baseline["lightning_logs/version_1"].values())
    assert total - 3 <= kept < total  # the damaged row's cells, no more
    assert any(w.startswith("non-utf8-bytes:") for w in warnings)


def test_a_damaged_trainer_state_keeps_the_entries_that_still_parse(fuzzers, tmp_path):
    fuzzer = fuzzers("hf-trainer")
    project = tmp_path / "project"
    rel = "long-run/trainer_state.json"
    fz.copy_project(fuzzer.pristine, project, rel)
    data = (project / rel).read_bytes()
    at = data.index(b'"loss"', len(data) // 2)
    (project / rel).write_bytes(data[:at] + b"\xff\x00 10000000000000000000000000000 ]]" + data[at:])
    got, warnings, crash, hang = fz.index_in_process(project, tmp_path / "index.sqlite")
    assert not crash and not hang
    assert sum(got["long-run"]["loss"].values()) == 4999  # of 5000: the damaged entry only
    assert any(w.startswith("bad-state-file:") and "log entries" in w for w in warnings)


def test_a_damaged_page_of_mlflow_db_keeps_every_row_sqlite_still_returns(fuzzers, tmp_path):
    fuzzer = fuzzers("mlflow-sqlite")
    # Bit flips and page damage in mlflow.db; 38 and 98 (on the shared corpus) hit an index
    # page, which SQLite does not notice: lookups through it silently missed rows.
    for seed in (0, 1, 7, 8, 14, 38, 98, 289):  # 289: SQLite quotes damaged bytes in its error
        m = fz.make_mutant("mlflow-sqlite", seed, fuzzer.pristine)
        if m.target != "mlflow.db":
            continue
        out = fuzzer.run(seed)
        assert not out.crash and not out.hang and not out.losses, (m.label, out.crash, out.losses)
    shutil.rmtree(tmp_path, ignore_errors=True)
