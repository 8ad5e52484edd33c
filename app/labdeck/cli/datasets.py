"""Verbs for datasets: dataset add|list|diff|validate|rules|checkout|verify|lineage|rm, and gc."""

from __future__ import annotations

from labdeck.cli.common import (
    SQLITE_INT_MAX,
    CliError,
    ProgressLine,
    cancel_on_sigint,
    fmt_time,
    print_json,
    table,
    verb_group,
)
from labdeck.datasets.report import diff_text, size_text, validation_text
from labdeck.datasets.store import StoreError
from labdeck.db.dataset_listing import DatasetNotFound, VersionInfo
from labdeck.tasks import Cancelled, Task
from labdeck.workspace import Workspace


def _version_json(v: VersionInfo, runs: int | None = None) -> dict:
    out = {"dataset": v.dataset, "version": v.version, "digest": v.digest, "created_at": v.created_at,
           "message": v.message, "source_path": v.source_path, "files": v.file_count, "bytes": v.total_bytes}
    if runs is not None:
        out["runs"] = runs
    return out


def _parse_version(text: str | None) -> int | None:
    if text is None or text == "latest":
        return None
    try:
        n = int(text.lstrip("v"))
    except ValueError:
        raise CliError(f"bad version {text!r}: a number like 3 (or 'latest')") from None
    if n < 1:
        raise CliError(f"bad version {text!r}: versions start at 1")
    if n > SQLITE_INT_MAX:
        raise CliError(f"bad version {text!r}: out of range (at most {SQLITE_INT_MAX})")
    return n


def _run(func, *args, **kwargs):
    """Call a dataset operation, turning its user-facing failures into CliError."""
    try:
        return func(*args, **kwargs)
    except (StoreError, DatasetNotFound) as exc:
        raise CliError(exc.args[0] if exc.args else str(exc)) from None
    except OSError as exc:  # a full disk, a read-only destination: say where, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        raise CliError(f"{where}{exc.strerror or exc}; the store is unchanged") from None


def _with_task(func, *args, **kwargs):
    bar = ProgressLine()
    task = Task(bar)
    cancel_on_sigint(task)
    try:
        return _run(func, *args, task=task, **kwargs)
    except Cancelled:
        bar.done()
        raise CliError("cancelled; nothing was changed") from None
    finally:
        bar.done()


# Verbs -----------------------------------------------------------------------


def cmd_add(ws: Workspace, args) -> int:
    ds = ws.dataset_adding
    strict = True if args.strict else None
    r = _with_task(ds.add, args.name, args.path, message=args.message or "", strict=strict, link=args.link)
    for line in r.skipped:
        print(f"skipped {line}")
    for rel in r.damaged:
        print(f"warning: {rel} was edited in place after being hard-linked into the store: "
              "earlier versions holding its old content now fail verification (add without --link to prevent this)")
    for p in r.problems:
        print(f"warning: rule {p.rule} broken: {p.file + ': ' if p.file else ''}{p.message}")
    if r.version is None:
        print(f"{args.name}: identical to version {r.identical_to}; no new version")
    else:
        print(f"{args.name} version {r.version.version}: {r.files} file(s), {size_text(r.version.total_bytes)} "
              f"({r.hashed} hashed, {r.cached} unchanged, {r.new_objects} new object(s), "
              f"{size_text(r.new_bytes)} stored) in {r.seconds:.2f} s  [{r.version.digest[:12]}]")
    return 0


def cmd_list(ws: Workspace, args) -> int:
    ds = ws.dataset_listing
    uses = ds.use_counts()
    if args.name:
        versions = _run(ds.versions, args.name)
        if args.json:
            print_json([_version_json(v, uses.get(v.digest, 0)) for v in versions])
            return 0
        rows = [[str(v.version), fmt_time(v.created_at), str(v.file_count), size_text(v.total_bytes),
                 str(uses.get(v.digest, 0)), v.digest[:12], v.message] for v in versions]
        print(table(rows, ["VERSION", "CREATED", "FILES", "SIZE", "RUNS", "HASH", "MESSAGE"]))
        return 0
    infos = ds.list()
    if args.json:
        print_json([{"name": i.name, "versions": i.versions, "created_at": i.created_at, "strict": i.strict,
                     "rules": i.has_rules, "latest": _version_json(i.latest) if i.latest else None} for i in infos])
        return 0
    if not infos:
        print("no datasets yet: labdeck dataset add NAME PATH")
        return 0
    rows = [[i.name, str(i.versions), fmt_time(i.latest.created_at) if i.latest else "-",
             str(i.latest.file_count) if i.latest else "-", size_text(i.latest.total_bytes) if i.latest else "-"]
            for i in infos]
    print(table(rows, ["DATASET", "VERSIONS", "LATEST", "FILES", "SIZE"]))
    return 0


def cmd_diff(ws: Workspace, args) -> int:
    d = _run(ws.datasets.diff, args.name, _parse_version(args.a), _parse_version(args.b))
    if args.json:
        print_json(d.as_json())
    else:
        print(diff_text(d))
    return 0


def cmd_rules(ws: Workspace, args) -> int:
    from labdeck.datasets.service import load_rules_file  # with the service's libraries, as ws.datasets

    ds = ws.datasets
    if args.set or args.strict or args.lenient or args.clear:
        rules = {} if args.clear else (_run(load_rules_file, args.set) if args.set else None)
        strict = True if args.strict else (False if args.lenient else None)
        _run(ds.set_rules, args.name, rules, strict=strict)
    rules, strict = _run(ds.rules, args.name)
    print_json({"dataset": args.name, "strict": strict, "rules": rules})
    return 0


def cmd_validate(ws: Workspace, args) -> int:
    report = _run(ws.datasets.validate, args.name, _parse_version(args.version))
    if args.json:
        print_json(report.as_json())
    else:
        print(validation_text(report))
    return 0 if report.ok else 1


def cmd_checkout(ws: Workspace, args) -> int:
    r = _with_task(ws.datasets.checkout, args.name, _parse_version(args.version), args.dest, force=args.force)
    print(f"checked out {r.files} file(s), {size_text(r.bytes)} into {r.dest} (verified)")
    return 0


def cmd_verify(ws: Workspace, args) -> int:
    bad = _with_task(ws.datasets.verify, args.name, _parse_version(args.version))
    if not bad:
        print(f"{args.name}: every object is present and matches its hash")
        return 0
    for rel, problem in bad.items():
        print(f"{rel}: {problem}")
    raise CliError(f"{args.name}: {len(bad)} file(s) fail verification")


def cmd_lineage(ws: Workspace, args) -> int:
    ds = ws.datasets
    if args.run:
        uses = _run(ds.inputs_of_run, args.run)
    elif args.name:
        uses = _run(ds.runs_using, args.name, _parse_version(args.version))
    else:
        raise CliError("give a dataset NAME [VERSION] or --run RUN")
    if args.json:
        print_json([{"run": u.run_id, "run_name": u.run_name, "dataset": u.dataset, "version": u.version,
                     "digest": u.digest, "context": u.context} for u in uses])
        return 0
    if not uses:
        print("no runs recorded using it" if args.name else "this run used no labdeck dataset")
        return 0
    print(table([[u.run_id, u.run_name, f"{u.dataset}:{u.version}", u.context, u.digest[:12]] for u in uses],
                ["RUN", "NAME", "DATASET", "CONTEXT", "HASH"]))
    return 0


def cmd_dvc(ws: Workspace, args) -> int:
    from labdeck.datasets.dvc import find_dvc

    dirs = [args.dir] if args.dir else [p.path for p in ws.projects()]
    entries = [(d, e) for d in dirs for e in find_dvc(d)]
    if args.json:
        print_json([{"project": d, "path": e.path, "md5": e.md5, "size": e.size, "nfiles": e.nfiles,
                     "defined_in": e.defined_in, "stage": e.stage, "present": e.present, "error": e.error}
                    for d, e in entries])
        return 0
    if not entries:
        print("no DVC-tracked data found")
        return 0
    rows = [[e.path, e.md5, "-" if e.size is None else size_text(e.size), str(e.nfiles or ""),
             e.defined_in + (f" ({e.stage})" if e.stage else ""), "yes" if e.present else "no"] for _, e in entries]
    print(table(rows, ["PATH", "DVC MD5", "SIZE", "FILES", "DEFINED IN", "PRESENT"]))
    for _, e in entries:
        if e.error:
            print(f"warning: {e.error}")
    return 0


def cmd_rm(ws: Workspace, args) -> int:
    version = _parse_version(args.version) if args.version else None
    n = _run(ws.datasets.remove, args.name, version, force=args.force)
    what = f"version {args.version} of {args.name}" if args.version else f"{args.name} ({n} version(s))"
    print(f"removed {what}; labdeck gc frees the space its files no longer share")
    return 0


def cmd_gc(ws: Workspace, args) -> int:
    r = _with_task(ws.datasets.gc, dry_run=args.dry_run)
    if args.json:
        print_json({"objects": r.objects, "bytes": r.bytes, "manifests": r.manifests, "dry_run": r.dry_run,
                    "digests": list(r.digests), "kept_objects": r.kept_objects,
                    "kept_for": {d: list(who) for d, who in r.kept_for.items()}})
        return 0
    verb, frees = ("would remove", "would free") if r.dry_run else ("removed", "freed")
    # The bytes are what leaves the disk: unreferenced objects, and also left-over pack files
    # and second copies of packed objects, which are not objects of their own.
    print(f"{verb} {r.objects} unreferenced object(s) and {r.manifests} manifest(s); {frees} {size_text(r.bytes)}")
    for digest, who in r.kept_for.items():
        shown = ", ".join(who[:5]) + (f" and {len(who) - 5} more" if len(who) > 5 else "")
        print(f"kept removed version {digest[:12]}: still recorded by {shown}")
    if r.kept_for:
        print(f"kept {r.kept_objects} object(s) only for removed versions that model versions or jobs record")
    return 0


# Registration ----------------------------------------------------------------------


def register(add_verb) -> None:
    # The same verb-with-actions shape as `labdeck model` and `labdeck card` (cli/common.verb_group).
    action = verb_group(add_verb, "dataset", "versioned datasets: add, list, diff, validate, checkout, lineage, rm")

    a = action("add", "add a file or folder as the next version of NAME", cmd_add)
    a.add_argument("name")
    a.add_argument("path")
    a.add_argument("--message", "-m")
    a.add_argument("--strict", action="store_true", help="refuse the version if it breaks a rule")
    a.add_argument("--link", action="store_true",
                   help="hard-link files into the store instead of copying them (fast, but an in-place edit "
                        "of a source file then also changes the stored version)")
    a = action("list", "list datasets, or NAME's versions", cmd_list)
    a.add_argument("name", nargs="?")
    a.add_argument("--json", action="store_true")
    a = action("diff", "compare versions A and B of NAME", cmd_diff)
    a.add_argument("name")
    a.add_argument("a")
    a.add_argument("b")
    a.add_argument("--json", action="store_true")
    a = action("rules", "show or set NAME's validation rules", cmd_rules)
    a.add_argument("name")
    a.add_argument("--set", metavar="FILE.json", help="replace the rules with this file's")
    a.add_argument("--clear", action="store_true", help="remove every rule")
    a.add_argument("--strict", action="store_true", help="from now on refuse versions that break a rule")
    a.add_argument("--lenient", action="store_true", help="from now on only warn")
    a = action("validate", "check a version (default: latest) against NAME's rules; exit 1 on problems", cmd_validate)
    a.add_argument("name")
    a.add_argument("version", nargs="?")
    a.add_argument("--json", action="store_true")
    a = action("checkout", "rebuild a version's files in DEST, verified", cmd_checkout)
    a.add_argument("name")
    a.add_argument("version")
    a.add_argument("dest")
    a.add_argument("--force", action="store_true", help="overwrite existing files")
    a = action("verify", "re-hash a version's stored objects", cmd_verify)
    a.add_argument("name")
    a.add_argument("version", nargs="?")
    a = action("lineage", "runs that used NAME [VERSION], or the versions RUN used", cmd_lineage)
    a.add_argument("name", nargs="?")
    a.add_argument("version", nargs="?")
    a.add_argument("--run", help="a run id: list the dataset versions it used")
    a.add_argument("--json", action="store_true")
    a = action("dvc", "DVC-tracked data (.dvc files, dvc.lock) in DIR or every project, read-only", cmd_dvc)
    a.add_argument("dir", nargs="?")
    a.add_argument("--json", action="store_true")
    a = action("rm", "remove NAME, or one VERSION of it (files stay until gc); refused while runs, model "
                     "versions or jobs use it", cmd_rm)
    a.add_argument("name")
    a.add_argument("version", nargs="?")
    a.add_argument("--force", action="store_true",
                   help="remove it even if in use (their records stay; gc keeps bytes that model versions "
                        "or jobs record)")
    p = add_verb("gc", "remove dataset objects no version, model version or job needs", cmd_gc)
    p.add_argument("--dry-run", action="store_true", help="only report what would go")
    p.add_argument("--json", action="store_true")
