"""Mutated copies of real-tool run logs, and what indexing one of them must keep.

Used by ``test_reader_fuzz.py`` (a few hundred mutants) and ``scripts/soak`` (thousands).

A mutant is a copy of one fixture project with one deterministic edit (seeded by format and
number): bit flips, truncation, 512 garbage bytes, non-UTF-8 bytes, a malformed CSV/YAML/JSON
edit, an odd number (10**30, 1e309, -0, nan), a damaged SQLite page, or a non-UTF-8 file or
folder name. It is indexed by the real indexer, in-process, on a fresh index.

"Untouched data" is defined by a *repaired* copy: the original project with exactly the
units the edit touched removed, as if the tool had never written them:

- line files (CSV, MLflow metric files): every line overlapping the damaged bytes (and the
  line after a damaged newline); a damaged CSV header line costs the whole file;
- TensorBoard event files: every record overlapping the damaged bytes;
- ``trainer_state.json``: every ``log_history`` entry overlapping the damaged bytes;
- ``mlflow.db``: every row SQLite no longer returns (read table by table, rowid range by
  rowid range, skipping errors), copied into a clean store;
- other files (YAML, meta files, params): nothing; their run's points are all untouched;
- a renamed path: the runs below or around it (they may be skipped with a warning).

Every point (step, value) of every run of the repaired copy's index must be in the mutant's
index (for MLflow's SQLite store, whose points stay in the store: every metric's count).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Fixture folder of each format (../shared/fixtures or $LABDECK_FIXTURES); "labdeck" is
# written by the SDK itself.
FORMATS = {
    "lightning": "lightning-csv",
    "tensorboard": "tensorboard",
    "hf-trainer": "hf-trainer",
    "mlflow-file": "mlflow-file",
    "mlflow-sqlite": "mlflow-sqlite",
    "labdeck": None,
}
KINDS = ("bitflip", "truncate", "garbage", "non-utf8-bytes", "malformed", "odd-number", "non-utf8-name")
ODD_NUMBERS = (b"1" + b"0" * 30, b"1e309", b"-1e309", b"-0", b"nan", b"NaN", b"-9223372036854775809",
               b"99999999999999999999", b"inf", b"1e-400", b"0x1F")
SKIP_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".pkl", ".ckpt")
HANG_SECONDS = 120  # a hang detector, not a timing assertion


@dataclass
class Mutant:
    fmt: str
    seed: int
    kind: str
    target: str = ""  # path relative to the project ('/'-separated)
    detail: str = ""
    # For byte edits: the original's bytes [start, end) were replaced by ``new``.
    start: int = 0
    end: int = 0
    new: bytes = b""

    @property
    def label(self) -> str:
        return f"{self.fmt}#{self.seed} {self.kind} {self.target} {self.detail}".strip()


@dataclass
class Outcome:
    mutant: Mutant
    crash: str = ""
    hang: bool = False
    losses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# Fixtures -----------------------------------------------------------------------------------


def fixtures_root() -> Path:
    """LABDECK_FIXTURES, else ../shared/fixtures when present, else tests/fixtures/corpus."""
    env = os.environ.get("LABDECK_FIXTURES")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    shared = repo.parent / "shared" / "fixtures"
    return shared if shared.is_dir() else repo / "tests" / "fixtures" / "corpus"


def prepare_fixture(fmt: str, work: Path) -> Path | None:
    """A private, writable copy of the format's fixture project (None when it is absent)."""
    dest = work / f"pristine-{fmt}"
    if dest.exists():
        return dest
    folder = FORMATS[fmt]
    if folder is None:
        _write_native(dest)
        return dest
    src = fixtures_root() / folder
    if not src.is_dir():
        return None
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("expected.json"), copy_function=shutil.copyfile)
    for dirpath, dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
    return dest


def _write_native(dest: Path) -> None:
    import labdeck

    dest.mkdir(parents=True)
    for i in range(3):
        with labdeck.start_run(dest, name=f"run-{i}", params={"lr": 10.0 ** -(i + 1), "idx": i},
                               tags={"note": "fuzz"}, record_provenance=False) as run:
            for s in range(60):
                run.log({"loss": 1.0 / (s + 1), "acc": s / 60}, step=s)


def _files(project: Path) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(project):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), project).replace(os.sep, "/")
            if name.endswith(SKIP_SUFFIXES) or "/artifacts/" in f"/{rel}":
                continue
            out.append(rel)
    return sorted(out)


def file_kind(rel: str) -> str:
    name = rel.rpartition("/")[2]
    if name == "mlflow.db":
        return "sqlite"
    if name.startswith("events.out.tfevents"):
        return "tfrecord"
    if name == "trainer_state.json":
        return "hf-json"
    if name == "metrics.csv":
        return "csv"
    if "/metrics/" in f"/{rel}" or name.endswith(".jsonl"):
        return "lines"
    if name.endswith(".json"):
        return "json"
    return "text"


# Mutations ----------------------------------------------------------------------------------


def make_mutant(fmt: str, seed: int, pristine: Path) -> Mutant:
    """The ``seed``-th mutant of ``fmt``: the kinds take turns, the rest is seeded."""
    rng = random.Random(f"{fmt}:{seed}")
    kind = KINDS[seed % len(KINDS)]
    files = _files(pristine)
    if fmt == "mlflow-sqlite" and kind != "non-utf8-name" and rng.random() < 0.8:
        kind = "sqlite-page" if kind in ("malformed", "odd-number", "non-utf8-bytes") else kind
        files = ["mlflow.db"]
    if kind == "non-utf8-name":
        return _rename_mutant(fmt, seed, rng, pristine, files)
    target = rng.choice(files)
    data = (pristine / target).read_bytes()
    m = Mutant(fmt, seed, kind, target)
    binary = file_kind(target) in ("sqlite", "tfrecord")
    if kind == "sqlite-page" and file_kind(target) == "sqlite":
        page = struct.unpack(">H", data[16:18])[0] or 65536
        pages = len(data) // page
        p = rng.randrange(1, max(pages, 2))  # never the header page
        off = p * page + rng.randrange(page - 8)
        m.start, m.end = off, off + rng.randint(2, 8)
        m.new = bytes(b ^ (1 << rng.randrange(8)) for b in data[m.start : m.end])
        m.detail = f"page {p} bytes {m.start}-{m.end}"
        return m
    if kind in ("malformed", "odd-number") and binary:
        kind = m.kind = "bitflip"
    if not data:
        m.kind, m.new, m.detail = "garbage", bytes(rng.randrange(256) for _ in range(64)), "into empty file"
        return m
    if kind == "bitflip":
        off = rng.randrange(len(data))
        n = rng.randint(1, 3)
        m.start, m.end = off, min(len(data), off + n)
        m.new = bytes(b ^ (1 << rng.randrange(8)) for b in data[m.start : m.end])
        m.detail = f"@{off}+{m.end - off}"
    elif kind == "truncate":
        m.start, m.end = rng.randrange(len(data)), len(data)
        m.detail = f"@{m.start}/{len(data)}"
    elif kind == "garbage":
        m.start = m.end = rng.randrange(len(data))
        m.new = bytes(rng.randrange(256) for _ in range(512))
        m.detail = f"512 bytes @{m.start}"
    elif kind == "non-utf8-bytes":
        m.start = m.end = rng.randrange(len(data))
        m.new = rng.choice([b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80abc"])
        m.detail = f"{m.new!r} @{m.start}"
    elif kind == "odd-number":
        numbers = list(re.finditer(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", data))
        if not numbers:
            kind = m.kind = "malformed"
        else:
            tok = rng.choice(numbers)
            m.start, m.end, m.new = tok.start(), tok.end(), rng.choice(ODD_NUMBERS)
            m.detail = f"{tok.group()!r} -> {m.new!r} @{m.start}"
    if kind == "malformed":
        _malformed(m, data, rng)
    return m


def _malformed(m: Mutant, data: bytes, rng: random.Random) -> None:
    lines = _line_spans(data)
    fk = file_kind(m.target)
    if fk in ("json", "hf-json"):
        spots = [i for i, b in enumerate(data) if b in b'{}[],:"']
        off = rng.choice(spots) if spots else rng.randrange(len(data))
        m.start, m.end = off, off + 1
        m.new = rng.choice([b"", b",,", b"{", b"]", b'"', b"\\"])
        m.detail = f"{data[off:off + 1]!r} -> {m.new!r} @{off}"
        return
    ls, le = rng.choice(lines)
    line = data[ls:le]
    if fk in ("csv", "lines"):
        pos = rng.randrange(max(len(line) - 1, 1))
        edits = [line[:pos] + b'"' + line[pos:], line.replace(b",", b"", 1), line.rstrip(b"\n") + b",,,,\n",
                 line[:pos] + b"\r" + line[pos:], data[lines[0][0] : lines[0][1]], b'"unclosed,1,2\n']
    else:
        edits = [b"key: [unclosed\n", b"\t- bad: : indent\n", b"!!python/object/apply:os.system ['true']\n",
                 b"*undefined_alias\n", b"a: &x [*x, *x]\n", b"{\n", b": :\n"]
    m.start, m.end, m.new = ls, le, rng.choice(edits)
    m.detail = f"line @{ls}: {line[:40]!r} -> {m.new[:40]!r}"


def _rename_mutant(fmt: str, seed: int, rng: random.Random, pristine: Path, files: list[str]) -> Mutant:
    target = rng.choice(files)
    parts = target.split("/")
    depth = rng.randrange(len(parts))  # a file, or one of the folders above it
    rel = "/".join(parts[: depth + 1])
    return Mutant(fmt, seed, "non-utf8-name", rel, detail=rng.choice(["\\xff suffix", "latin-1 \\xe9"]))


def apply(m: Mutant, project: Path) -> None:
    path = project / m.target
    if m.kind == "non-utf8-name":
        old = os.fsencode(path)
        new = old + b"\xff" if "xff" in m.detail else old + b"-caf\xe9"
        os.rename(old, new)
        return
    data = path.read_bytes()
    path.unlink()  # the copy may be a hard link to the pristine file
    path.write_bytes(data[: m.start] + m.new + data[m.end :])


def copy_project(pristine: Path, dest: Path, writable: str | None) -> None:
    """Hard links (fast), except ``writable``'s file, which is edited."""
    shutil.copytree(pristine, dest, copy_function=os.link)
    if writable:
        p = dest / writable
        if p.is_file():
            data = p.read_bytes()
            p.unlink()
            p.write_bytes(data)


# Repair: the original minus exactly what the edit touched -----------------------------------


def _line_spans(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        spans.append((pos, end))
        pos = end
    return spans or [(0, 0)]


def _damage(m: Mutant, data: bytes) -> tuple[int, int]:
    """The original bytes the edit touched; an insertion touches the byte it lands on, and a
    damaged newline also touches the line after it."""
    start, end = m.start, max(m.end, m.start + 1)
    if b"\n" in data[start:end]:
        end += 1
    return start, end


def _overlaps(span: tuple[int, int], damage: tuple[int, int]) -> bool:
    return span[0] < damage[1] and damage[0] < span[1]


def repaired_bytes(m: Mutant, data: bytes) -> bytes | None:
    """The original file without the units the edit touched (None: nothing to expect of it)."""
    fk = file_kind(m.target)
    damage = _damage(m, data)
    if fk in ("csv", "lines"):
        spans = _line_spans(data)
        if fk == "csv" and _overlaps(spans[0], damage):
            return None
        return b"".join(data[s:e] for s, e in spans if not _overlaps((s, e), damage))
    if fk == "tfrecord":
        return b"".join(data[s:e] for s, e in _record_spans(data) if not _overlaps((s, e), damage))
    if fk == "hf-json":
        return _repair_state(data, damage)
    return data  # no points live in it


def _record_spans(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length + 4
        if end > len(data):
            break
        spans.append((pos, end))
        pos = end
    return spans


def _repair_state(data: bytes, damage: tuple[int, int]) -> bytes:
    text = data.decode("utf-8")
    state = json.loads(text)
    at = text.index("[", text.index('"log_history"')) + 1
    dec = json.JSONDecoder()
    kept = []
    for entry in state.get("log_history", []):
        at = text.index("{", at)
        _, end = dec.raw_decode(text, at)
        span = (len(text[:at].encode()), len(text[:end].encode()))
        if not _overlaps(span, damage):
            kept.append(entry)
        at = end
    state["log_history"] = kept
    return json.dumps(state, indent=2).encode()


def salvage_sqlite(damaged: Path, pristine: Path, dest: Path) -> None:
    """A clean store holding every row SQLite still returns from ``damaged``."""
    shutil.copyfile(pristine, dest)
    out = sqlite3.connect(dest)
    tables = [t for (t,) in out.execute("SELECT name FROM sqlite_master WHERE type='table'")
              if not t.startswith("sqlite_")]
    bounds = {t: out.execute(f'SELECT max(rowid) FROM "{t}"').fetchone()[0] or 0 for t in tables}
    for t in tables:
        out.execute(f'DELETE FROM "{t}"')
    try:
        src = sqlite3.connect(f"file:{damaged}?mode=ro&immutable=1", uri=True)
        src.execute("SELECT name FROM sqlite_master").fetchall()  # the schema itself unreadable: nothing is
        for t in tables:
            for row in _readable_rows(src, t, 0, bounds[t] * 2 + 1000):
                out.execute(f'INSERT OR IGNORE INTO "{t}" VALUES ({",".join("?" * len(row))})', row)
        src.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # the latter: SQLite's message quoting damaged bytes
        pass  # not even the schema is readable: nothing to expect
    out.commit()
    out.close()


def _readable_rows(con: sqlite3.Connection, table: str, lo: int, hi: int) -> list[tuple]:
    try:
        return con.execute(f'SELECT * FROM "{table}" WHERE rowid BETWEEN ? AND ?', (lo, hi)).fetchall()
    except sqlite3.DatabaseError as exc:
        if "malformed" not in str(exc) and "corrupt" not in str(exc) and "not a database" not in str(exc):
            raise
        if lo >= hi:
            return []
        mid = (lo + hi) // 2
        return _readable_rows(con, table, lo, mid) + _readable_rows(con, table, mid + 1, hi)


def make_repaired(m: Mutant, pristine: Path, dest: Path, mutant_project: Path) -> bool:
    """Write the repaired copy of the project; False when it equals the pristine one."""
    if m.kind == "non-utf8-name":
        return False
    data = (pristine / m.target).read_bytes()
    fk = file_kind(m.target)
    copy_project(pristine, dest, m.target)
    if fk == "sqlite":
        (dest / m.target).unlink()
        salvage_sqlite(mutant_project / m.target, pristine / m.target, dest / m.target)
        return True
    fixed = repaired_bytes(m, data)
    if fixed == data:
        return False
    (dest / m.target).write_bytes(fixed if fixed is not None else b"")
    return True


# Indexing and comparing ---------------------------------------------------------------------


RunData = dict[str, dict[str, Counter]]
_TEMPLATE: list[Path] = []


def fresh_index(dest: Path) -> None:
    """A new, migrated, empty index at ``dest`` (a copy of one made once: migrating is slow)."""
    from labdeck.workspace import Workspace

    if not _TEMPLATE or not _TEMPLATE[0].exists():
        import tempfile

        template = Path(tempfile.mkdtemp(prefix="labdeck-fuzz-")) / "empty.sqlite"
        Workspace(template).close()
        _TEMPLATE[:] = [template]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], dest)


def index_in_process(project: Path, index: Path) -> tuple[RunData, list[str], str, bool]:
    """Index ``project`` on a fresh index in a watched thread: (data, warnings, crash, hang)."""
    box: dict = {}
    fresh_index(index)

    def work() -> None:
        from labdeck.workspace import Workspace

        ws = Workspace(index)
        try:
            ws.add_project(project)
            ws.index()
            box["data"] = _run_data(ws)
            box["warnings"] = [f"{w.code}: {w.message}" for w in ws.warnings()]
        except BaseException:  # noqa: BLE001 - what escapes is what the fuzzer looks for
            box["crash"] = traceback.format_exc()
        finally:
            ws.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    if thread.is_alive():
        return {}, [], "", True
    return box.get("data", {}), box.get("warnings", []), box.get("crash", ""), False


def _run_data(ws) -> RunData:
    out: RunData = {}
    for run in ws.runs(include_deleted=True):
        if run.format == "mlflow" and run.source_id and run.path.endswith("mlflow.db"):
            # points stay in the store: compare counts of the summaries
            out[run.source_id] = {k: Counter({"count": s.count}) for k, s in run.metrics.items()}
            continue
        series = ws.series(run.id)
        out[run.source_id] = {
            key: Counter(zip(s.steps.tolist(), (repr(v) for v in s.values.tolist()))) for key, s in series.items()
        }
    return out


def losses(expected: RunData, got: RunData, exempt: set[str] = frozenset()) -> list[str]:
    """What ``expected`` holds that ``got`` lacks (runs, and points per metric)."""
    lost = []
    for run, metrics in expected.items():
        if run in exempt:
            continue
        if run not in got:
            lost.append(f"run {run!r} missing")
            continue
        for key, points in metrics.items():
            have = got[run].get(key, Counter())
            if "count" in points:
                if have.get("count", 0) < points["count"]:
                    lost.append(f"run {run!r} {key}: {have.get('count', 0)} of {points['count']} points")
                continue
            missing = points - have
            if missing:
                lost.append(f"run {run!r} {key}: {sum(missing.values())} of {sum(points.values())} points missing")
    return lost


def renamed_runs(m: Mutant, baseline_paths: dict[str, str]) -> set[str]:
    """Runs below or around a renamed path: they may be skipped."""
    out = set()
    for run, path in baseline_paths.items():
        if not path or path == m.target or path.startswith(m.target + "/") or m.target.startswith(path + "/"):
            out.add(run)
    # MLflow file store: a run's folder is named by its id
    out |= {run for run in baseline_paths if run in m.target.split("/")}
    return out


def id_edited_runs(m: Mutant, data: bytes, runs) -> set[str]:
    """Runs whose id the edit touched in a file that names it (a meta file): such a run may
    come back under another id (its points are then not compared)."""
    if file_kind(m.target) not in ("text", "json"):
        return set()
    damage = _damage(m, data)
    out = set()
    for run in runs:
        needle = run.encode("utf-8", "surrogateescape")
        at = data.find(needle)
        while at >= 0 and needle:
            if _overlaps((at, at + len(needle)), damage):
                out.add(run)
            at = data.find(needle, at + 1)
    return out


def run_paths(project: Path, index: Path) -> dict[str, str]:
    from labdeck.workspace import Workspace

    ws = Workspace(index)
    try:
        return {r.source_id: r.path for r in ws.runs(include_deleted=True)}
    finally:
        ws.close()


class Fuzzer:
    """One format's pristine copy, its baseline, and mutants run against it."""

    def __init__(self, fmt: str, work: Path) -> None:
        self.fmt = fmt
        self.work = work / fmt
        self.work.mkdir(parents=True, exist_ok=True)
        self.pristine = prepare_fixture(fmt, self.work)
        if self.pristine is None:
            return
        index = self.work / "baseline.sqlite"
        self.baseline, warnings, crash, hang = index_in_process(self.pristine, index)
        assert not crash and not hang, f"the pristine {fmt} fixture fails to index: {crash}"
        assert self.baseline, f"the pristine {fmt} fixture indexes no runs"
        self.paths = run_paths(self.pristine, index)

    def run(self, seed: int) -> Outcome:
        m = make_mutant(self.fmt, seed, self.pristine)
        out = Outcome(m)
        case = self.work / f"m{seed}"
        shutil.rmtree(case, ignore_errors=True)
        project = case / "project"
        copy_project(self.pristine, project, None if m.kind == "non-utf8-name" else m.target)
        apply(m, project)
        got, out.warnings, out.crash, out.hang = index_in_process(project, case / "index.sqlite")
        if out.crash or out.hang:
            return out
        exempt: set[str] = set()
        expected = self.baseline
        if m.kind == "non-utf8-name":
            exempt = renamed_runs(m, self.paths)
        elif make_repaired(m, self.pristine, case / "repaired", project):
            expected, _w, crash, hang = index_in_process(case / "repaired", case / "repaired.sqlite")
            if crash or hang:
                out.losses.append(f"(the repaired copy failed to index: {crash or 'hang'})")
                return out
        if m.kind != "non-utf8-name":
            exempt = id_edited_runs(m, (self.pristine / m.target).read_bytes(), self.baseline)
        out.losses = losses(expected, got, exempt)
        if not out.losses:
            shutil.rmtree(case, ignore_errors=True)
        return out


def cli_index(project: Path, home: Path, timeout: float = HANG_SECONDS) -> tuple[int, str]:
    """``labdeck add PROJECT`` (which indexes) in a real process: (exit code, stderr)."""
    env = dict(os.environ, LABDECK_HOME=str(home), LABDECK_INDEX=str(home / "index.sqlite"))
    proc = subprocess.run([sys.executable, "-m", "labdeck", "add", os.fsencode(project)],
                          capture_output=True, env=env, timeout=timeout)
    return proc.returncode, proc.stderr.decode("utf-8", "replace")
