"""Desktop app benchmark (offscreen): a window on 100,000 runs, sort and filter, and
100 curves x 100,000 points panned with downsampling on and off. Prints medians.

    .venv/bin/python scripts/bench_ui.py [--runs 100000] [--curves 100] [--points 100000]

The index rows are written straight into a temporary catalogue with SQL (the schema made by
labdeck's own migrations), not through 100,000 run folders: this measures the app, not the
indexer (scripts/bench_index.py measures that). Every run carries the provenance the SDK
records by default (this machine's), as real runs do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

import numpy as np
from labdeck import provenance
from labdeck.db.engine import Database
from labdeck.db.entities import MetricStats, RunInfo, Series


def build_index(path: Path, n: int) -> None:
    Database(path).close()  # the schema, by the real migrations
    rng = random.Random(1)
    con = sqlite3.connect(path)
    now = int(time.time() * 1000)
    con.execute(
        "INSERT INTO projects(id, path, name, added_at, scanned_at) VALUES (1, '/bench/p', 'p', ?, ?)",
        (now, now),
    )
    con.execute(
        "INSERT INTO sources(id, project_id, format, path, fingerprint, cursor, indexed_at) "
        "VALUES (1, 1, 'labdeck', 'labdeck-runs', '', '{}', 0)"
    )
    statuses = ["finished"] * 8 + ["failed", "running"]
    runs, params, metrics, tags = [], [], [], []
    for pk in range(1, n + 1):
        start = now - rng.randrange(10**9)
        runs.append(
            (
                pk,
                f"{pk:012x}",
                1,
                1,
                "labdeck",
                f"src{pk}",
                f"exp{pk % 50}",
                f"run-{pk}",
                rng.choice(statuses),
                0,
                start,
                start + rng.randrange(10**7),
                f"labdeck-runs/{pk}",
                now,
            )
        )
        lr = 10 ** rng.uniform(-5, -1)
        for key, value in (
            ("lr", lr),
            ("batch_size", rng.choice([16, 32, 64, 128])),
            ("seed", pk),
        ):
            params.append((pk, key, repr(value), float(value)))
        loss = rng.uniform(0.01, 3)
        metrics.append((pk, "loss", loss, loss, 5.0, 1000, 999, None))
        metrics.append((pk, "acc", 1 - loss / 3, 0.0, 1 - loss / 3, 1000, 999, None))
        tags.append((pk, "model", rng.choice(["resnet", "vit", "mlp"])))
    con.executemany(
        "INSERT INTO runs(pk, uid, project_id, source_pk, format, source_id, experiment, name, status, deleted,"
        " start_time, end_time, path, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        runs,
    )
    # What the SDK records by default for every run (this machine's, about 2 KB of JSON): its
    # size is what once made every listing read three times the pages.
    prov = json.dumps(provenance.collect(), sort_keys=True)
    con.executemany("INSERT INTO run_provenance VALUES (?, ?)", ((pk, prov) for pk in range(1, n + 1)))
    con.executemany("INSERT INTO params VALUES (?,?,?,?)", params)
    con.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?,?)", metrics)
    con.executemany("INSERT INTO tags VALUES (?,?,?)", tags)
    con.commit()
    con.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def wait(app, condition, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        app.processEvents()
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not settle")
        time.sleep(0.0005)


class Lateness:
    """The event loop's worst lateness: a 5 ms timer whose every late tick is a GUI-thread stall."""

    INTERVAL_S = 0.005

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.worst = 0.0
        self.flow_worst = 0.0  # since the last take()
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(int(self.INTERVAL_S * 1000))
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        lag = now - self.last - self.INTERVAL_S
        self.worst = max(self.worst, lag)
        self.flow_worst = max(self.flow_worst, lag)
        self.last = now

    def restart(self) -> None:
        """Forget a stall the benchmark made itself (timing reads on this thread)."""
        self.last = time.perf_counter()
        self.worst = self.flow_worst = 0.0

    def resume(self) -> None:
        """Not count the stall the benchmark just made itself (a commit on this thread)."""
        self.last = time.perf_counter()

    def take(self) -> str:
        """The worst lateness since the last call, for the line of the flow just timed."""
        worst, self.flow_worst = self.flow_worst, 0.0
        return f"(GUI thread late ≤ {worst * 1000:.0f} ms)"


def bench_table(app, index: Path, n: int, repeats: int) -> None:
    from labdeck.ui.app import keep_start_up_objects, preload_after_first_page
    from labdeck.ui.main_window import MainWindow
    from labdeck.workspace import Workspace
    from PySide6.QtCore import QSettings, Qt

    late = Lateness()  # over every flow below: open, sort, filter, select, compare, group, tabs
    ws = Workspace(index)
    settings_dir = tempfile.mkdtemp()
    opens = []
    window = None
    for i in range(repeats):
        if window is not None:
            window.close()
            window.deleteLater()
            app.processEvents()
        settings = QSettings(
            str(Path(settings_dir) / f"s{i}.ini"), QSettings.Format.IniFormat
        )
        t0 = time.perf_counter()
        window = MainWindow(ws, watch=False, settings=settings)
        window.resize(1400, 850)
        window.show()
        keep_start_up_objects()  # as the app does once its window is up
        preload_after_first_page(window)
        wait(app, lambda w=window: w.model.rowCount() == n and w.model.is_loaded(0))
        app.processEvents()
        opens.append(time.perf_counter() - t0)
    print(
        f"open window, {n:,} runs, first page shown     median {ms(statistics.median(opens))}"
    )
    assert window is not None
    print(f"event loop's worst lateness opening the window {ms(late.worst)}  (building the widgets)")
    late.worst = 0.0
    late.take()

    page = window.model.pks[:200]
    fetches = []
    for _ in range(repeats * 3):
        t0 = time.perf_counter()
        ws.runs_by_pk(page)
        fetches.append(time.perf_counter() - t0)
    print(
        f"one page of 200 rows read (worker thread)      median {ms(statistics.median(fetches))}"
    )
    late.restart()  # those reads ran here, on the GUI thread, only to be timed

    window.runs.set_columns(["metrics.loss", "params.lr", "metrics.acc"])
    header = window.table.horizontalHeader()

    def timed(action, settled) -> float:
        wait(app, lambda: window.background.idle)  # a user's clicks come seconds apart
        first = window.model.pks[0] if window.model.pks else None
        t0 = time.perf_counter()
        action()
        wait(
            app,
            lambda: (
                settled(first) and window.model.is_loaded(0) and window.background.idle_but("orders")
            ),
        )
        return time.perf_counter() - t0

    # What happens to the index just before a user's action: nothing (what the table keeps
    # is used as it is), a watcher's pass over a training (three live runs get a new loss,
    # accuracy and end time: the kept listings re-read those runs), or a change to every
    # run (all is read again, as every listing was before anything was kept).
    states = ("kept", "a pass", "all changed")
    live = [1, n // 2, n]
    passes = iter(range(1, 10**9))

    def change_the_index(state: str) -> None:
        with sqlite3.connect(index) as other:
            if state == "a pass":
                step = next(passes)
                for pk in live:
                    other.execute("UPDATE metrics SET last = ?, count = count + 1 WHERE run_pk = ? AND key = 'loss'",
                                  (1.0 / step, pk))
                    other.execute("UPDATE metrics SET last = ? WHERE run_pk = ? AND key = 'acc'", (1 - 1.0 / step, pk))
                    other.execute("UPDATE runs SET end_time = end_time + 1000, updated_at = updated_at + 1 "
                                  "WHERE pk = ?", (pk,))
            elif state == "all changed":
                other.execute("UPDATE runs SET updated_at = updated_at + 1")
        late.resume()

    def report(times: dict[str, list[float]]) -> str:
        return "; ".join(f"{state} {ms(statistics.median(times[state]))}" for state in states)

    columns = {window.model.column_key(c): c for c in range(window.model.columnCount())}
    # The first click on a column shown but never sorted by (its order kept in memory once
    # the columns were shown, off the user's path): one sample, as it happens once.
    first = timed(lambda: header.setSortIndicator(columns["metrics.acc"], Qt.SortOrder.DescendingOrder),
                  lambda first: window.model.pks and window.model.pks[0] != first)
    print(f"first sort by a shown column (metrics.acc)  {ms(first)}  {late.take()}")
    for key in ("name", "metrics.loss", "params.lr"):
        times: dict[str, list[float]] = {state: [] for state in states}
        for i in range(repeats * len(states)):
            state = states[i % len(states)]
            change_the_index(state)
            # Each sort flips the order (the timer waits for a new first row).
            order = Qt.SortOrder.DescendingOrder if i % 2 else Qt.SortOrder.AscendingOrder
            times[state].append(
                timed(
                    lambda c=columns[key], o=order: header.setSortIndicator(c, o),
                    lambda first: window.model.pks and window.model.pks[0] != first,
                )
            )
        print(f"sort {n:,} runs by {key:<13} medians: {report(times)}  {late.take()}")

    queries = [
        "params.lr < 0.001",
        "metrics.loss < 0.5 and tags.model = vit",
        'name ~ "run-1.*7$"',
    ]
    late.take()
    for query in queries:
        times = {state: [] for state in states}
        for i in range(repeats * len(states)):
            window.query.setText("")
            window.run_query()
            wait(app, lambda: window.model.rowCount() == n and window.background.idle)
            state = states[i % len(states)]
            change_the_index(state)
            window.query.setText(query)
            times[state].append(
                timed(window.run_query, lambda first: window.model.rowCount() < n)
            )
        print(f"filter {query!r:<42} medians: {report(times)}  ({window.model.rowCount():,} rows)  {late.take()}")
    window.query.setText("")
    window.run_query()
    wait(app, lambda: window.model.rowCount() == n and window.background.idle)
    for key in ("tags.model", "params.batch_size"):
        times = {state: [] for state in states}
        for i in range(repeats * len(states)):
            state = states[i % len(states)]
            wait(app, lambda: window.background.idle)
            change_the_index(state)
            t0 = time.perf_counter()
            window.runs.set_group_by(key)
            wait(app, lambda: window.background.idle_but("orders") and window.model.rowCount() < n)
            times[state].append(time.perf_counter() - t0)
            window.runs.set_group_by("")
            wait(app, lambda: window.model.rowCount() == n and window.background.idle)
        print(f"group {n:,} runs by {key:<17} medians: {report(times)}  {late.take()}")
    window.runs.select_rows(list(range(6)))
    wait(app, lambda: window.background.idle)
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.5:  # let each tab's first reads land
            app.processEvents()
    window.tabs.setCurrentIndex(0)
    app.processEvents()
    print(f"select six runs, then visit every tab                    {late.take()}")
    print(f"event loop's worst lateness, window open: sort, filter, group, select, tabs {ms(late.worst)}"
          "  (aim < 50 ms)")
    print(f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    window.close()
    ws.close()


def bench_plot(app, curves: int, points: int, frames: int) -> None:
    from labdeck.ui.metric_plot import MetricPlot
    from labdeck.ui.plot_lines import run_lines

    rng = np.random.default_rng(0)
    steps = np.arange(points, dtype=np.int64)
    runs, series = [], {}
    for i in range(curves):
        rid = f"{i:08x}0000"
        values = (
            np.cumsum(rng.normal(0, 1, points)) / np.sqrt(points)
            + 1.0 / (1 + steps / 1000)
            + i * 0.01
        )
        series[rid] = Series(steps, values, steps * 100.0)
        runs.append(
            RunInfo(
                rid,
                "/p",
                "labdeck",
                rid,
                "",
                f"r{i}",
                "finished",
                False,
                None,
                0,
                1,
                "",
                metrics={
                    "loss": MetricStats(
                        values[-1], values.min(), values.max(), points, points - 1
                    )
                },
            )
        )
    lines = run_lines(runs, {rid: {"loss": s} for rid, s in series.items()}, "loss",
                      x_mode="step", smoothing=0.0)
    for downsample in (True, False):
        plot = MetricPlot("loss", legend=False)
        plot.resize(1200, 700)
        plot.show()
        item = plot.getPlotItem()
        item.setDownsampling(auto=downsample, mode="peak" if downsample else None)
        if not downsample:
            item.setDownsampling(ds=1, auto=False)
        item.setClipToView(downsample)
        t0 = time.perf_counter()
        plot.show_lines(lines, x_label="step", log_y=False)
        plot.grab()
        draw = time.perf_counter() - t0
        vb = item.vb
        width = points / 4
        (_x0, _x1), y_range = vb.viewRange()
        times = []
        for f in range(frames):
            left = (f * points / (2 * frames)) % (points - width)
            # A mouse drag pans both axes, which turns auto-range off: the y range is fixed.
            vb.setRange(xRange=(left, left + width), yRange=y_range, padding=0)
            t0 = time.perf_counter()
            plot.grab()  # a full paint of the plot, as a pan frame
            times.append(time.perf_counter() - t0)
        label = "on " if downsample else "off"
        print(
            f"{curves} curves x {points:,} points, downsampling {label}: draw {ms(draw)}, "
            f"pan frame median {ms(statistics.median(times))}"
        )
        plot.close()
        plot.deleteLater()
        app.processEvents()


def bench_launch(index: Path, n: int, repeats: int) -> None:
    """From starting `labdeck gui` to its runs table showing the first page of an n-run index
    painted, which the app prints (LABDECK_QUIT_AFTER_PAINT=first-page; it then quits).
    Each launch gets its own copy of the index and settings; `python -c "import
    PySide6.QtWidgets"` alternates with it for scale."""
    import shutil
    import subprocess

    from _bench_bytecode import compile_labdeck

    compile_labdeck()
    floor = [sys.executable, "-c", "import PySide6.QtWidgets"]
    launches, floors = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats + 1):  # the first: file cache and bytecode warmed, not counted
            copy = Path(tmp) / f"index-{i}.sqlite"
            shutil.copy(index, copy)
            env = {**os.environ, "LABDECK_QUIT_AFTER_PAINT": "first-page", "QT_QPA_PLATFORM": "offscreen",
                   "XDG_CONFIG_HOME": str(Path(tmp) / f"config-{i}"), "HOME": str(Path(tmp) / f"home-{i}")}
            t0 = time.time()  # wall clock: the app prints when it painted the page on the same clock
            done = subprocess.run([sys.executable, "-m", "labdeck", "gui", "--index", str(copy)], env=env,
                                  check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  timeout=120)
            launch = float(done.stdout.rsplit("first page painted at ", 1)[1].split()[0]) - t0
            t0 = time.perf_counter()
            subprocess.run(floor, check=True)
            if i:
                launches.append(launch)
                floors.append(time.perf_counter() - t0)
    print(f"launch `labdeck gui` to the first page of {n:,} runs shown   median {ms(statistics.median(launches))}"
          f"  (aim < 250 ms; `python -c \"import PySide6.QtWidgets\"` {ms(statistics.median(floors))})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--curves", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("labdeck-bench")
    QCoreApplication.setApplicationName("labdeck-bench")
    app = QApplication(sys.argv[:1])
    from labdeck.ui.theme import apply_theme

    apply_theme(app, dark=False)  # the app's own style, as `labdeck gui` draws
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index.sqlite"
        t0 = time.perf_counter()
        build_index(index, args.runs)
        print(
            f"(built an index of {args.runs:,} runs in {time.perf_counter() - t0:.1f} s)"
        )
        bench_launch(index, args.runs, args.repeats)
        bench_table(app, index, args.runs, args.repeats)
    bench_plot(app, args.curves, args.points, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
