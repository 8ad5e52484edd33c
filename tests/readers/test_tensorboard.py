"""The TensorBoard reader against the fixture corpus (written by torch's SummaryWriter and read
back by TensorBoard's EventAccumulator) and against damaged copies of it."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from labdeck.runs.readers import _tb_records
from labdeck.runs.readers import tensorboard as tb
from labdeck.runs.readers.base import Points, ReadResult, RunRecord, SourceRef

READER = tb.READER
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# Helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(fixtures_dir: Path) -> Path:
    return fixtures_dir / "tensorboard"


@pytest.fixture(scope="module")
def expected(project: Path) -> dict:
    return json.loads((project / "expected.json").read_text(encoding="utf-8"))


def number(value: float | str) -> float:
    return NON_FINITE[value] if isinstance(value, str) else float(value)


def detect_all(project: Path) -> dict[str, SourceRef]:
    found = {}
    for folder, dirs, files in os.walk(project):
        rel = Path(folder).relative_to(project).as_posix()
        detection = READER.detect(Path(folder), frozenset(dirs + files), "" if rel == "." else rel)
        for source in detection.sources if detection else []:
            found[source.rel] = source
    return found


def source(project: Path, rel: str) -> SourceRef:
    return SourceRef("tensorboard", project / rel, rel)


def only_run(result: ReadResult) -> RunRecord:
    assert len(result.runs) == 1
    return result.runs[0]


def expected_points(run: dict) -> dict[str, list[dict]]:
    """Scalars(tag), plus tensors of the "scalars" plugin, as EventAccumulator returned them."""
    points = {tag: pts for tag, pts in run["scalars"].items() if pts}
    for tag, tensor in run["tensors"].items():
        if tensor["plugin"] == "scalars" and tensor["events"]:
            points[tag] = tensor["events"]
    return points


def assert_points_equal(got: Points, want: list[dict], where: str) -> None:
    """Exact equality (NaN equals NaN); wall times in ms as the reader promises."""
    check = np.testing.assert_array_equal
    check(got.steps, [p["step"] for p in want], err_msg=f"{where}: steps")
    check(got.values, [number(p["value"]) for p in want], err_msg=f"{where}: values")
    check(got.walls, [p["wall_time"] * 1000 for p in want], err_msg=f"{where}: walls")


def concat(parts: list[dict[str, Points]]) -> dict[str, Points]:
    """The series an index holds after appending each read's points in turn."""
    tags = dict.fromkeys(tag for part in parts for tag in part)

    def joined(tag: str, field: str) -> np.ndarray:
        return np.concatenate([getattr(part[tag], field) for part in parts if tag in part])

    return {tag: Points(joined(tag, "steps"), joined(tag, "values"), joined(tag, "walls")) for tag in tags}


def assert_same_series(got: dict[str, Points], want: dict[str, Points]) -> None:
    assert list(got) == list(want)
    for tag in want:
        for field in ("steps", "values", "walls"):
            np.testing.assert_array_equal(getattr(got[tag], field), getattr(want[tag], field), tag)


def record_offsets(data: bytes) -> list[int]:
    """Start of every record of an event file (uint64 length, crc, data, crc)."""
    offsets, pos = [], 0
    while pos + 12 <= len(data):
        offsets.append(pos)
        pos += 16 + struct.unpack_from("<Q", data, pos)[0]
    return offsets


def frame(payload: bytes) -> bytes:
    """One TFRecord, framed as every TensorBoard writer frames it."""

    def masked(b: bytes) -> int:
        crc = google_crc32c.value(b)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(length)) + payload + struct.pack("<I", masked(payload))


def copy_run(project: Path, rel: str, dest: Path) -> SourceRef:
    """The event files of one fixture run, copied to ``dest/run`` (the corpus is read-only)."""
    run_dir = dest / "run"
    run_dir.mkdir(parents=True)
    for path in (project / rel).iterdir():
        if path.is_file():
            shutil.copy(path, run_dir / path.name)
            (run_dir / path.name).chmod(0o644)
    return SourceRef("tensorboard", run_dir, "run")


def event_file(run_dir: Path) -> Path:
    return next(p for p in sorted(run_dir.iterdir()) if "tfevents" in p.name)


# The fixture corpus ----------------------------------------------------------


def test_every_directory_holding_event_files_is_a_run(project: Path, expected: dict) -> None:
    assert sorted(detect_all(project)) == sorted(expected["runs"])


def test_detect_decides_from_names_alone(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert READER.detect(missing, frozenset({"metrics.csv", "ckpt"}), "nowhere") is None
    (tmp_path / "events.out.tfevents.1.h.1.0.profile-empty").write_bytes(b"")
    (tmp_path / "x.tfevents.dir").mkdir()
    assert READER.detect(tmp_path, frozenset(os.listdir(tmp_path)), "") is None


def test_every_scalar_point_matches_the_accumulator(project: Path, expected: dict) -> None:
    for rel, want in expected["runs"].items():
        result = READER.read_on(source(project, rel), None)
        run = only_run(result)
        assert result.complete and run.replace_series
        points = expected_points(want)
        assert sorted(run.points) == sorted(points), rel
        for tag, pts in points.items():
            assert_points_equal(run.points[tag], pts, f"{rel} {tag!r}")


def _number_text(value: float) -> str:
    # The hparams plugin stores every number as a double: an integral one reads as the int
    # the tool most likely wrote, as TensorBoard's own hparams table shows it.
    return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)


def test_hparams_become_params(project: Path, expected: dict) -> None:
    for rel, want in expected["runs"].items():
        run = only_run(READER.read_on(source(project, rel), None))
        hparams = ((want["hparams"] or {}).get("_hparams_/session_start_info") or {}).get("hparams", {})
        as_text = {
            name: value if isinstance(value, str) and value not in NON_FINITE else
            str(value) if isinstance(value, bool) else _number_text(number(value))
            for name, value in hparams.items()
        }
        assert run.params == as_text, rel


def test_run_meta_and_tags(project: Path, expected: dict) -> None:
    for rel, want in expected["runs"].items():
        run = only_run(READER.read_on(source(project, rel), None))
        assert run.source_id == rel
        parent, _, name = rel.rpartition("/")
        assert run.meta["path"] == rel and run.meta["experiment"] == parent and run.meta["name"] == name
        assert run.meta["status"] == "finished"  # written long ago: quiet
        assert run.meta["end_time"] >= run.meta["start_time"]
        # The first event's wall time (TensorBoard's FirstEventTimestamp), which add_scalars'
        # writers record a little after the shared wall time of their first point.
        start = run.meta["start_time"]
        assert isinstance(start, int)
        if run.points:
            assert abs(start - min(p.walls.min() for p in run.points.values())) < 5_000
        assert run.tags["tensorboard.writer"] == want["source_writer"]
        assert float(run.tags["tensorboard.file_version"].split(":")[-1]) == want["file_version"]
        assert json.loads(json.dumps(READER.read_on(source(project, rel), None).cursor))


def test_in_progress_run_is_read_up_to_its_last_whole_record(project: Path, expected: dict) -> None:
    ref = source(project, "runs/in-progress")
    result = READER.read_on(ref, None)
    run = only_run(result)
    [warning] = run.warnings
    assert warning.code == "truncated-record" and warning.transient
    assert "runs/in-progress/events.out.tfevents" in warning.message
    name = expected["runs"]["runs/in-progress"]["event_files"][0]["name"]
    assert 0 < result.cursor["files"][name] < os.path.getsize(ref.path / name)
    again = only_run(READER.read_on(ref, result.cursor))
    assert not again.points and not again.replace_series


# Reading on --------------------------------------------------------------------


@pytest.mark.parametrize("cuts", [(0.5,), (0.2, 0.21, 0.7), (0.999,)])
def test_reading_on_after_a_cut_gives_the_full_read(project: Path, tmp_path: Path, cuts: tuple) -> None:
    ref = copy_run(project, "runs/baseline", tmp_path)
    path = event_file(ref.path)
    data = path.read_bytes()
    full = only_run(READER.read_on(ref, None)).points
    parts, cursor = [], None
    for cut in [*cuts, 1.0]:
        path.write_bytes(data[: int(len(data) * cut)])
        result = READER.read_on(ref, json.loads(json.dumps(cursor)) if cursor else None)
        run = only_run(result)
        assert run.replace_series == (cursor is None)
        parts.append(run.points)
        cursor = result.cursor
    assert_same_series(concat(parts), full)
    assert not only_run(READER.read_on(ref, cursor)).points


def test_a_resumed_run_purges_and_replaces_what_was_indexed(
    project: Path, expected: dict, tmp_path: Path
) -> None:
    ref = copy_run(project, "runs/resumed", tmp_path)
    first, second = sorted(p.name for p in ref.path.iterdir())
    held = tmp_path / second
    shutil.move(ref.path / second, held)
    cursor = READER.read_on(ref, None).cursor
    shutil.move(held, ref.path / second)
    run = only_run(READER.read_on(ref, cursor))
    assert run.replace_series  # the purge dropped steps >= 250 that were already indexed
    for tag, pts in expected_points(expected["runs"]["runs/resumed"]).items():
        assert_points_equal(run.points[tag], pts, tag)


def test_a_new_file_sorting_first_means_a_fresh_read(project: Path, tmp_path: Path) -> None:
    ref = copy_run(project, "runs/resumed", tmp_path)
    first, second = sorted(p.name for p in ref.path.iterdir())
    shutil.move(ref.path / first, tmp_path / first)
    cursor = READER.read_on(ref, None).cursor
    shutil.move(tmp_path / first, ref.path / first)
    result = READER.read_on(ref, cursor)
    assert result.complete and only_run(result).replace_series


def test_fingerprint_follows_the_files(project: Path, tmp_path: Path) -> None:
    ref = copy_run(project, "runs/baseline", tmp_path)
    before = READER.fingerprint(ref)
    with event_file(ref.path).open("ab") as fh:
        fh.write(b"\0")
    assert READER.fingerprint(ref) != before


# Damage ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["length", "data"])
def test_a_bad_crc_costs_only_its_record(project: Path, tmp_path: Path, where: str) -> None:
    ref = copy_run(project, "runs/baseline", tmp_path / "damaged")
    path = event_file(ref.path)
    data = bytearray(path.read_bytes())
    offsets = record_offsets(bytes(data))
    middle = len(offsets) // 2
    at, after = offsets[middle], offsets[middle + 1]
    data[at + (3 if where == "length" else 20)] ^= 0x40
    path.write_bytes(bytes(data))
    run = only_run(READER.read_on(ref, None))
    [warning] = run.warnings
    assert warning.code == "bad-crc" and not warning.transient
    assert f"run/{path.name}" in warning.message and f"byte {at}" in warning.message
    assert f"reading on at byte {after}" in warning.message

    # What is read is the file without the damaged record, nothing less.
    without = copy_run(project, "runs/baseline", tmp_path / "without")
    event_file(without.path).write_bytes(bytes(data[:at] + data[after:]))
    assert_same_series(run.points, only_run(READER.read_on(without, None)).points)


def test_a_garbage_file_named_tfevents_is_a_warning(project: Path, tmp_path: Path) -> None:
    ref = copy_run(project, "runs/sweep", tmp_path)
    (ref.path / "events.out.tfevents.0.garbage").write_bytes(os.urandom(5000))
    run = only_run(READER.read_on(ref, None))
    assert [w.code for w in run.warnings] == ["not-event-file"]
    assert "events.out.tfevents.0.garbage" in run.warnings[0].message
    assert len(run.points["lr=0.01 bs=32/loss"]) == 50


def test_an_unreadable_file_is_a_warning(project: Path, tmp_path: Path, monkeypatch) -> None:
    ref = copy_run(project, "runs/resumed", tmp_path)
    first, second = sorted(p.name for p in ref.path.iterdir())

    def deny(path, *args, **kwargs):
        if Path(path).name == first:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(_tb_records, "open", deny, raising=False)
    result = READER.read_on(ref, None)
    run = only_run(result)
    assert [w.code for w in run.warnings] == ["unreadable-file"] and first in run.warnings[0].message
    assert run.points and result.cursor["files"][first] == 0


def test_a_vanished_directory_is_a_warning(tmp_path: Path) -> None:
    result = READER.read_on(SourceRef("tensorboard", tmp_path / "gone", "gone"), None)
    assert not result.runs and [w.code for w in result.warnings] == ["unreadable-dir"]


# Encodings the corpus does not hold ---------------------------------------------


def _event(**fields):
    from tensorboardX.proto import event_pb2

    return event_pb2.Event(wall_time=fields.pop("wall_time", 1_700_000_000.25), **fields)


def _value(tag: str, **fields):
    from tensorboardX.proto import summary_pb2

    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, **fields)])


def _metadata(plugin: str, content: bytes = b""):
    from tensorboardX.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=content)
    )


def test_tensor_scalars_hparams_and_skipped_kinds(tmp_path: Path) -> None:
    from google.protobuf import struct_pb2
    from tensorboardX.proto import plugin_hparams_pb2, tensor_pb2, tensor_shape_pb2

    def f32(x: float):  # torch's add_scalar(new_style=True)
        shape = tensor_shape_pb2.TensorShapeProto()
        return tensor_pb2.TensorProto(dtype=1, float_val=[x], tensor_shape=shape)

    hparams = plugin_hparams_pb2.HParamsPluginData(
        session_start_info=plugin_hparams_pb2.SessionStartInfo(
            hparams={"flag": struct_pb2.Value(bool_value=True), "lr": struct_pb2.Value(number_value=0.1)}
        )
    )
    vector = tensor_pb2.TensorProto(
        dtype=2, double_val=[1.0, 2.0],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": 2}]),
    )
    events = [
        _event(file_version="brain.Event:2"),
        _event(step=1, summary=_value("acc", tensor=f32(0.5), metadata=_metadata("scalars"))),
        _event(step=2, summary=_value("acc", tensor=f32(0.75))),  # metadata only on the first
        _event(step=3, summary=_value("acc", tensor=tensor_pb2.TensorProto(dtype=2, double_val=[0.1]))),
        _event(step=1, summary=_value("note", tensor=f32(9.0), metadata=_metadata("text"))),
        # Only a tag's first metadata counts: "note" stays text.
        _event(step=2, summary=_value("note", tensor=f32(9.0), metadata=_metadata("scalars"))),
        _event(step=1, summary=_value("vec", tensor=vector, metadata=_metadata("scalars"))),
        _event(summary=_value(
            "_hparams_/session_start_info", metadata=_metadata("hparams", hparams.SerializeToString())
        )),
        # A tag too long for the hand-decoded path, a negative step.
        _event(step=-5, wall_time=1_700_000_001.5, summary=_value("a" * 300, simple_value=2.5)),
    ]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    raw = b"".join(frame(e.SerializeToString()) for e in events) + frame(b"\xff\xff\xff")
    (run_dir / "events.out.tfevents.1.host.1.0").write_bytes(raw)
    run = only_run(READER.read_on(SourceRef("tensorboard", run_dir, "run"), None))

    assert sorted(run.points) == ["a" * 300, "acc"]
    assert list(run.points["acc"].steps) == [1, 2, 3]
    assert list(run.points["acc"].values) == [0.5, 0.75, 0.1]
    long_tag = run.points["a" * 300]
    assert list(long_tag.steps) == [-5] and list(long_tag.walls) == [1_700_000_001.5 * 1000]
    assert run.params == {"flag": "True", "lr": "0.1"}
    assert sorted(w.code for w in run.warnings) == ["bad-record", "bad-scalar"]
    assert run.meta["start_time"] == 1_700_000_000_250


def test_the_hand_decoded_path_agrees_with_protobuf(tmp_path: Path) -> None:
    """Steps, tags and values at the varint and length boundaries, decoded both ways."""
    from tensorboardX.proto import event_pb2

    rng = np.random.default_rng(7)
    steps = [0, 1, 127, 128, 16383, 16384, 2**21, 2**31, 2**40, 2**63 - 1, -1, -(2**63)]
    tags = ["t", "ü/x y", "a" * 116, "b" * 117, "c" * 118, "d" * 126, "e" * 127, "f" * 128, "g" * 200]
    values = [0.0, -0.0, 1e-40, 3.4e38, math.nan, math.inf, -math.inf, 0.1]
    events = [_event(file_version="brain.Event:2")]
    for i in range(600):
        wall = [0.0, 1e9 + rng.random()][i % 2]
        events.append(_event(
            wall_time=wall, step=steps[i % len(steps)],
            summary=_value(tags[i % len(tags)], simple_value=values[i % len(values)]),
        ))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    raw = [e.SerializeToString() for e in events]
    (run_dir / "events.out.tfevents.1.h.1.0").write_bytes(b"".join(frame(r) for r in raw))
    run = only_run(READER.read_on(SourceRef("tensorboard", run_dir, "run"), None))
    assert not run.warnings
    parsed = [event_pb2.Event.FromString(r) for r in raw[1:]]
    for tag in tags:
        decoded = [e for e in parsed if e.summary.value[0].tag == tag]
        want = Points(
            [e.step for e in decoded], [e.summary.value[0].simple_value for e in decoded],
            [e.wall_time * 1000 for e in decoded],
        )
        assert_same_series({tag: run.points[tag]}, {tag: want})


def test_reading_does_not_start_tensorboardx_writer_or_torch() -> None:
    """The message classes load without tensorboardX's package __init__, which imports its
    writer (and with it torch where torch is installed: 0.9 s); a later import still works."""
    script = (
        "import sys\n"
        "from labdeck.runs.readers._tb_decode import _protos\n"
        "_protos()\n"
        "assert 'tensorboardX.writer' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
        "import tensorboardX\n"
        "from tensorboardX.proto import event_pb2\n"
        "assert event_pb2.Event is _protos().Event and hasattr(tensorboardX, 'SummaryWriter')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(tb.__file__).resolve().parents[3])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
