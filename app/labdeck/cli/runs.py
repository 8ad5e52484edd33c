"""Verbs for projects and runs: add, remove, projects, index, watch, runs, show, warnings, demo."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from labdeck import jsonfmt
from labdeck.cli.common import (
    CliError,
    ProgressLine,
    cancel_on_sigint,
    fmt_num,
    fmt_time,
    print_json,
    table,
)
from labdeck.runs.table_shape import nested
from labdeck.paths import normalise
from labdeck.tasks import Task
from labdeck.workspace import Workspace

# Verbs ----------------------------------------------------------------------


def cmd_add(ws: Workspace, args) -> int:
    path, created = ws.add_project(args.dir)
    asked = normalise(args.dir)
    held = f" (it holds {asked}: its runs are indexed there)" if path != asked else ""
    print(f"{'added' if created else 'already watching'} {path}{held}")
    for inner in (p.path for p in ws.projects() if Path(p.path).is_relative_to(path) and p.path != path):
        print(f"  {inner} is a project of its own: its runs stay listed there, once")
    if not args.no_index:
        return _index(ws, path, json_out=False)
    return 0


def cmd_remove(ws: Workspace, args) -> int:
    if not ws.remove_project(args.dir):
        raise CliError(f"{args.dir} is not a project in this index")
    print(f"removed {args.dir} from the index (its files are untouched)")
    return 0


def cmd_projects(ws: Workspace, args) -> int:
    projects = ws.projects()
    if args.json:
        print_json([jsonfmt.project_json(p) for p in projects])
        return 0
    if not projects:
        print("no projects yet: labdeck add DIR")
        return 0
    print(table([[p.path, str(p.run_count), fmt_time(p.scanned_at)] for p in projects], ["PROJECT", "RUNS", "SCANNED"]))
    return 0


def _index(ws: Workspace, path: str | None, *, json_out: bool) -> int:
    bar = ProgressLine()
    task = Task(bar)
    cancel_on_sigint(task)
    stats = ws.index(path, task)
    bar.done()
    summary = {
        "projects": stats.projects,
        "sources": stats.sources,
        "read": stats.read,
        "unchanged": stats.skipped,
        "runs": stats.runs,
        "points": stats.points,
        "removed": stats.forgotten,
        "warnings": stats.warnings,
        "seconds": round(stats.seconds, 3),
        "cancelled": stats.cancelled,
    }
    if json_out:
        print_json(summary)
    else:
        print(
            f"indexed {stats.projects} project(s): {stats.read} source(s) read, {stats.skipped} unchanged, "
            f"{stats.runs} run(s) updated, {stats.points} point(s), {stats.forgotten} removed, "
            f"{stats.warnings} warning(s) in {stats.seconds:.2f} s" + (" (cancelled)" if stats.cancelled else "")
        )
        if stats.warnings:
            print("see them with: labdeck warnings")
    return 130 if stats.cancelled else 0


def cmd_index(ws: Workspace, args) -> int:
    if args.dir is not None and not any(p.path == os.path.realpath(args.dir) for p in ws.projects()):
        raise CliError(f"{args.dir} is not a project in this index (add it with: labdeck add {args.dir})")
    return _index(ws, args.dir, json_out=args.json)


def cmd_watch(ws: Workspace, args) -> int:

    if not ws.projects():
        raise CliError("no projects to watch: labdeck add DIR")
    _index(ws, None, json_out=False)

    def report(stats) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {stats.read} source(s) read, {stats.points} point(s), {stats.forgotten} removed", flush=True)

    watcher = ws.watcher(polling=args.poll, rescan_s=args.rescan, on_indexed=report)
    watcher.start()
    mode = "file-system events" if watcher.using_events else "polling"
    print(f"watching {len(ws.projects())} project(s) with {mode}; Ctrl-C to stop", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        watcher.stop()
    return 0


def _load_series(ws: Workspace, runs) -> list[dict]:
    return [ws.series(r.id) for r in runs]


def cmd_runs(ws: Workspace, args) -> int:
    runs = ws.runs(args.query or "", args.sort or "", include_deleted=args.all)
    if args.json:
        series = _load_series(ws, runs) if args.series else [None] * len(runs)
        print_json([jsonfmt.run_json(r, s) for r, s in zip(runs, series)])
        return 0
    if not runs:
        print("no runs match" if args.query else "no runs indexed yet")
        return 0
    rows = []
    shaped = _as_tree(runs)
    for r, depth in shaped:
        duration = "-" if not (r.start_time and r.end_time) else f"{(r.end_time - r.start_time) / 1000:.1f}s"
        flags = (" (deleted)" if r.deleted else "") + (" (hidden)" if r.hidden else "")
        name = ("└ " if depth else "") + r.name[:40]
        rows.append(
            [r.id, name, r.status + flags, r.format, r.experiment[:24],
             fmt_time(r.start_time), duration, str(len(r.metrics))]
        )
    top = sum(1 for _r, depth in shaped if depth == 0)
    print(table(rows, ["ID", "NAME", "STATUS", "FORMAT", "EXPERIMENT", "START", "DURATION", "METRICS"]))
    if top < len(runs):
        under = len(runs) - top
        print(f"{len(runs)} runs; {under} {'sits' if under == 1 else 'sit'} under their parent run (nested "
              "runs, or the same training logged in another format)")
    return 0


def _as_tree(runs: list) -> list[tuple]:
    """(run, depth) with each run right under its parent when the parent is listed too: the
    app's table shape (``runs.table_shape.nested``), so both show the same tree."""
    position = {r.id: i for i, r in enumerate(runs)}
    parents = {i: position[r.parent] for i, r in enumerate(runs) if r.parent in position}
    tree = nested(list(range(len(runs))), parents)
    return [(runs[node], depth) for top in tree.top
            for node, depth in [(top, 0), *((child, 1) for child in tree.children.get(top, ()))]]


def cmd_show(ws: Workspace, args) -> int:
    run = ws.run(args.run)
    chosen: dict[str, str] = {}
    if getattr(args, "training", False):
        # One training, several sources: each metric once, from its richest source (runs/fold.py).
        folded = ws.training_series(run.id)
        series, chosen = (folded.series if args.series else None), folded.chosen
    else:
        series = ws.series(run.id) if args.series else None
    if args.json:
        out = jsonfmt.run_json(run, series)
        if chosen:
            out["series_from"] = chosen
        print_json(out)
        return 0
    print(f"{run.name}  ({run.id}, {run.format} run {run.source_id})")
    print(f"  project     {run.project}")
    print(f"  path        {run.path or '.'}")
    print(f"  experiment  {run.experiment or '-'}")
    print(f"  status      {run.status}{' (deleted)' if run.deleted else ''}")
    print(f"  started     {fmt_time(run.start_time)}    ended {fmt_time(run.end_time)}")
    if run.parent:
        print(f"  parent      {run.parent}")
    for title, values in (("params", run.params), ("tags", run.tags)):
        if values:
            print(f"{title}:")
            for k, v in values.items():
                print(f"  {k} = {v if len(v) < 200 else v[:200] + '…'}")
    if run.metrics:
        rows = [[k, fmt_num(m.last), fmt_num(m.min), fmt_num(m.max), str(m.count), str(m.last_step)]
                for k, m in run.metrics.items()]
        print("metrics:")
        print("  " + table(rows, ["KEY", "LAST", "MIN", "MAX", "COUNT", "LAST STEP"]).replace("\n", "\n  "))
    if series:
        for key, s in series.items():
            pts = ", ".join(f"{st}:{fmt_num(v)}" for st, v in zip(s.steps[:10].tolist(), s.values[:10].tolist()))
            origin = f" from {chosen[key]}" if chosen.get(key, run.id) != run.id else ""
            print(f"series {key} ({len(s)} points{origin}): {pts}{' …' if len(s) > 10 else ''}")
    for i in run.inputs:
        print(f"input  {i['name']} ({i.get('context') or 'dataset'}) {i['source']} digest {i['digest'][:16]}")
    for m in run.models:
        print(f"model  {m['name'] or m['model_id']} ({m['status'] or '-'}) {m['artifact_path'] or ''}")
    for w in run.warnings:
        print(f"warning [{w.code}] {w.message}")
    return 0


def cmd_hide(ws: Workspace, args) -> int:
    changed = ws.set_hidden(args.runs, hidden=not args.unhide)
    verb = "shown again" if args.unhide else "hidden (labdeck runs --all lists them; labdeck unhide brings them back)"
    print(f"{changed} run(s) {verb}")
    return 0


def cmd_config(ws: Workspace, args) -> int:
    from labdeck import settings

    try:
        if args.key is None:
            current = settings.load()
            for key, what in settings.KNOWN.items():
                print(f"{key} = {current.get(key, '(not set)')}    # {what}")
            return 0
        if args.unset or args.value is not None:
            settings.set_value(args.key, None if args.unset else args.value)
            return 0
        if args.key not in settings.KNOWN:
            raise CliError(f"unknown setting {args.key!r}: one of {', '.join(sorted(settings.KNOWN))}")
        value = settings.get(args.key)
        print(value if value is not None else "(not set)")
    except settings.SettingsError as exc:
        raise CliError(str(exc)) from exc
    return 0


def cmd_registered(ws: Workspace, args) -> int:
    found = ws.registered_models(args.project)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("no registered models found in the projects")
        return 0
    rows = []
    for r in found:
        aliases = ", ".join(f"{a}={v}" for a, v in sorted((r.get("aliases") or {}).items()))
        rows.append([r["name"], str(len(r.get("versions") or [])), aliases or "-", r["project"]])
    print(table(rows, ["REGISTERED MODEL", "VERSIONS", "ALIASES", "PROJECT"]))
    return 0


def cmd_warnings(ws: Workspace, args) -> int:
    warnings = ws.warnings(args.project)
    if args.json:
        print_json([jsonfmt.warning_json(w) for w in warnings])
        return 0
    if not warnings:
        print("no warnings")
        return 0
    for w in warnings:
        where = f"run {w.run_id}" if w.run_id else (w.path or w.project)
        print(f"[{w.code}] {where}: {w.message}")
    return 0


def cmd_demo(ws: Workspace, args) -> int:
    from labdeck.demo import make_demo

    folder = make_demo(args.dir, force=args.force)
    path, _ = ws.add_project(folder)
    print(f"demo workspace ready in {path}")
    return _index(ws, path, json_out=False)


# Registration -------------------------------------------------------------


def register(add_verb) -> None:
    p = add_verb("gui", "open the desktop app (the default without a verb)", None)
    p.add_argument("dirs", nargs="*", help="project folders to add and show")
    p = add_verb("add", "add a project folder and index it", cmd_add)
    p.add_argument("dir")
    p.add_argument("--no-index", action="store_true", help="only register the folder")
    p = add_verb("remove", "forget a project folder (its files stay untouched)", cmd_remove)
    p.add_argument("dir")
    p = add_verb("projects", "list project folders", cmd_projects)
    p.add_argument("--json", action="store_true")
    p = add_verb("index", "index all projects, or DIR, once", cmd_index)
    p.add_argument("dir", nargs="?")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p = add_verb("watch", "keep the index current until interrupted", cmd_watch)
    p.add_argument("--poll", action="store_true", help="poll instead of using file-system events")
    p.add_argument("--rescan", type=float, default=30.0, metavar="S", help="full rescan period (default 30 s)")
    p = add_verb("runs", "list runs", cmd_runs)
    p.add_argument("--query", "-q", help='filter, e.g. "params.lr = 0.01 and metrics.val_loss < 0.3"')
    p.add_argument("--sort", "-s", help="comma-separated keys, '-' for descending, e.g. --sort=-metrics.acc,name")
    p.add_argument("--all", action="store_true", help="include deleted and hidden runs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--series", action="store_true", help="with --json: every metric point")
    p = add_verb("show", "show one run (labdeck's id or the tool's own run id)", cmd_show)
    p.add_argument("run")
    p.add_argument("--series", action="store_true", help="include every metric point")
    p.add_argument("--training", action="store_true",
                   help="with the training's other sources (a Lightning TensorBoard twin, a Trainer's "
                        "TensorBoard run) folded in: each metric once, from its richest source")
    p.add_argument("--json", action="store_true")
    p = add_verb("warnings", "problems met while indexing", cmd_warnings)
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")
    p = add_verb("hide", "hide runs from labdeck's lists (their files are untouched)", cmd_hide)
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.set_defaults(unhide=False)
    p = add_verb("unhide", "show hidden runs again", cmd_hide)
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.set_defaults(unhide=True)
    p = add_verb("config", "show or change labdeck's settings (e.g. config user 'Ada L.')", cmd_config)
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
    p.add_argument("--unset", action="store_true", help="remove the setting")
    p = add_verb("registered", "model registries found in projects (MLflow registered models)", cmd_registered)
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")
    p = add_verb("demo", "create the demo workspace (a real small training) and index it", cmd_demo)
    p.add_argument("--dir", help="where to create it (default: in labdeck's data folder)")
    p.add_argument("--force", action="store_true", help="recreate it")
