"""Verbs for models and registries: ``labdeck model …`` and ``labdeck registry …``.

    model candidates [RUN]                 models found in runs (never loaded)
    model register RUN PATH --name NAME    version N+1 of NAME, bound to the artifact's hash
    model list [NAME] | show NAME:VERSION  versions with state; --json
    model submit|approve|reject|revoke|deprecate NAME:VERSION --comment TEXT
    model verify NAME:VERSION              re-hash the artifact (exit 1 if it changed: approval void)
    model audit NAME                       re-verify the approval log's hash chain (exit 1 if broken)
    model push NAME:VERSION --to REGISTRY [--alias A]
    model pull NAME:VERSION --from REGISTRY [--dest DIR] [--unverified]   (the registry's version number or alias)
    registry add NAME URI | registry list
"""

from __future__ import annotations

from typing import Any

from labdeck.cli.common import (
    CliError,
    ProgressLine,
    cancel_on_sigint,
    fmt_time,
    print_json,
    table,
    verb_group,
)
from labdeck.db.registry import (
    ApprovalEntry,
    ModelNotFound,
    ModelVersionInfo,
    RegistryNotFound,
)
from labdeck.models.policy import PolicyError
from labdeck.models.registries.base import RegistryError
from labdeck.models.states import USER_ACTIONS
from labdeck.tasks import Task
from labdeck.workspace import Workspace

# Failures whose message is for the user as it stands.
_USER = (ModelNotFound, RegistryNotFound, PolicyError, RegistryError, ValueError, FileNotFoundError)


def version_json(mv: ModelVersionInfo) -> dict[str, Any]:
    return {
        "name": mv.name, "version": mv.version, "state": mv.state, "run": mv.run_uid,
        "run_in_index": mv.run_in_index, "run_hash": mv.run_hash, "project": mv.project, "path": mv.path,
        "kind": mv.kind, "format": mv.model_format, "artifact_hash": mv.artifact_hash, "size": mv.size,
        "files": [{"path": p, "size": s, "hash": h} for p, s, h in mv.manifest],
        "metrics": mv.metrics, "datasets": list(mv.datasets), "registered_by": mv.registered_by,
        "created_at": mv.created_at,
        "pushes": [{"registry": p.registry, "uri": p.uri, "remote_version": p.remote_version, "alias": p.alias,
                    "artifact_hash": p.artifact_hash, "pushed_by": p.pushed_by, "pushed_at": p.pushed_at}
                   for p in mv.pushes],
    }


def entry_json(e: ApprovalEntry) -> dict[str, Any]:
    return {k: getattr(e, k) for k in ApprovalEntry.__dataclass_fields__}


def _task() -> tuple[Task, ProgressLine]:
    bar = ProgressLine()
    task = Task(bar)
    cancel_on_sigint(task)
    return task, bar


# model ------------------------------------------------------------------------


def _candidates(ws: Workspace, args) -> int:
    found = ws.models.candidates(args.run)
    if args.json:
        print_json([{"run": c.run_id, "run_name": c.run_name, "path": c.candidate.path, "rel": c.candidate.rel,
                     "kind": c.candidate.kind, "format": c.candidate.format, "name": c.candidate.name,
                     "size": c.candidate.size} for c in found])
        return 0
    if not found:
        print("no model candidates in the indexed runs")
        return 0
    print(table([[c.run_id, c.run_name[:30], c.candidate.format, c.candidate.rel, str(c.candidate.size)]
                 for c in found], ["RUN", "RUN NAME", "FORMAT", "PATH", "BYTES"]))
    return 0


def _register(ws: Workspace, args) -> int:
    task, bar = _task()
    try:
        mv = ws.models.register(args.run, args.path, args.name, task)
    finally:
        bar.done()
    if args.json:
        print_json(version_json(mv))
    else:
        print(f"registered {mv.ref} ({mv.state}) from run {mv.run_uid}: {mv.artifact_hash}")
    return 0


def _list(ws: Workspace, args) -> int:
    versions = ws.models.versions(args.name)
    if args.name and not versions:
        raise CliError(f"no model named {args.name!r}")
    if args.json:
        print_json([version_json(v) for v in versions])
        return 0
    if not versions:
        print("no models registered yet: labdeck model register RUN PATH --name NAME")
        return 0
    rows = [[v.ref, v.state, v.model_format, v.run_uid, v.registered_by, fmt_time(v.created_at),
             ",".join(f"{p.registry}:{p.remote_version}" for p in v.pushes) or "-"] for v in versions]
    print(table(rows, ["MODEL", "STATE", "FORMAT", "RUN", "BY", "REGISTERED", "PUSHED"]))
    return 0


def _show(ws: Workspace, args) -> int:
    svc = ws.models
    mv = svc.version(args.ref)
    history = svc.history(mv.name, mv.version)
    if args.json:
        print_json({**version_json(mv), "history": [entry_json(e) for e in history]})
        return 0
    print(f"{mv.ref}  {mv.state}")
    for label, value in (("run", mv.run_uid + ("" if mv.run_in_index else " (no longer indexed)")),
                         ("artifact", mv.path), ("format", f"{mv.model_format} ({mv.kind}, {mv.size} bytes)"),
                         ("hash", mv.artifact_hash), ("run hash", mv.run_hash),
                         ("registered", f"{fmt_time(mv.created_at)} by {mv.registered_by}")):
        print(f"  {label:<11} {value}")
    if mv.metrics:
        print("metrics:  " + ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in sorted(mv.metrics.items())))
    for d in mv.datasets:
        print(f"dataset:  {d.get('name')} {d.get('digest')} ({d.get('source')})")
    for p in mv.pushes:
        print(f"pushed:   {p.registry} version {p.remote_version}{' alias ' + p.alias if p.alias else ''} "
              f"by {p.pushed_by} at {fmt_time(p.pushed_at)}")
    print("history:")
    for e in history:
        print(f"  {fmt_time(e.time)}  {e.action:<9} {e.from_state or '-'} -> {e.to_state}  by {e.actor}"
              + (f": {e.comment}" if e.comment else ""))
    return 0


def _transition(ws: Workspace, args) -> int:
    task, bar = _task()
    try:
        entry = ws.models.transition(args.ref, args.action, args.comment or "", task=task)
    finally:
        bar.done()
    print(f"{entry.model_name}:{entry.version}: {entry.from_state} -> {entry.to_state} by {entry.actor}")
    return 0


def _verify(ws: Workspace, args) -> int:
    task, bar = _task()
    try:
        mv, now = ws.models.verify(args.ref, task)
    finally:
        bar.done()
    if now == mv.artifact_hash:
        print(f"{mv.ref}: the artifact is unchanged ({now})")
        return 0
    what = "is gone" if now is None else f"changed ({mv.artifact_hash} -> {now})"
    voided = "; its approval no longer counts" if mv.state in ("approved", "published") else ""
    print(f"{mv.ref}: the artifact at {mv.path} {what}{voided}")
    return 1


def _audit(ws: Workspace, args) -> int:
    report = ws.models.audit(args.name)
    if args.json:
        print_json({"name": report.name, "entries": report.entries, "ok": report.ok,
                    "problems": list(report.problems)})
    elif report.ok:
        print(f"{report.name}: the approval log verifies ({report.entries} entries, hash chain intact)")
    else:
        print(f"{report.name}: the approval log does NOT verify:")
        for p in report.problems:
            print(f"  - {p}")
    return 0 if report.ok else 1


def _push(ws: Workspace, args) -> int:
    task, bar = _task()
    try:
        outcome = ws.publisher.push(args.ref, args.to, args.alias or "", task)
    finally:
        bar.done()
    p = outcome.push
    if args.json:
        print_json({"registry": p.registry, "uri": p.uri, "remote_version": p.remote_version, "alias": p.alias,
                    "created": outcome.created})
    elif outcome.created:
        print(f"pushed {args.ref} to {p.registry} ({p.uri}) as version {p.remote_version}")
    else:
        print(f"{args.ref} is already in {p.registry} as version {p.remote_version}: nothing to do")
    return 0


def _pull(ws: Workspace, args) -> int:
    dest = args.dest or args.ref.replace(":", "-")
    task, bar = _task()
    try:
        result = ws.publisher.pull(args.ref, getattr(args, "from"), dest, task,
                                       allow_unverified=args.unverified)
    finally:
        bar.done()
    checked = ("verified against the hash recorded at push" if result.against_index
               else "UNVERIFIED: not pushed from this index; only the registry's own hashes were checked")
    print(f"pulled {args.ref} into {result.path}: {result.files} file(s), {result.size} bytes, "
          f"{result.artifact_hash}, {checked}")
    return 0


# registry ---------------------------------------------------------------------


def _registry_add(ws: Workspace, args) -> int:
    reg = ws.publisher.add_registry(args.name, args.uri)
    print(f"registry {reg.name} -> {reg.uri}")
    return 0


def _registry_list(ws: Workspace, args) -> int:
    regs = ws.publisher.registries()
    if args.json:
        print_json([{"name": r.name, "uri": r.uri, "added_at": r.added_at} for r in regs])
    elif not regs:
        print("no registries: labdeck registry add NAME URI")
    else:
        print(table([[r.name, r.uri, fmt_time(r.added_at)] for r in regs], ["NAME", "URI", "ADDED"]))
    return 0


def register(add_verb) -> None:
    action = verb_group(add_verb, "model", "model versions, approvals, pushes to registries", user_errors=_USER)

    p = action("candidates", "list model files and folders found in runs (never loaded)", _candidates)
    p.add_argument("run", nargs="?", help="one run (default: every indexed run)")
    p.add_argument("--json", action="store_true")
    p = action("register", "register a model from a run as a new version", _register)
    p.add_argument("run", help="the run: labdeck's id, the tool's id, or an id prefix")
    p.add_argument("path", help="the model file or folder, relative to the run folder or absolute")
    p.add_argument("--name", required=True, help="the model's name (letters, digits, . _ -)")
    p.add_argument("--json", action="store_true")
    p = action("list", "list model versions", _list)
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p = action("show", "one model version with its history", _show)
    p.add_argument("ref", metavar="NAME:VERSION")
    p.add_argument("--json", action="store_true")
    for verb in USER_ACTIONS:
        p = action(verb, f"{verb} a model version (recorded in the approval log)", _transition)
        p.add_argument("ref", metavar="NAME:VERSION")
        p.add_argument("--comment", "-m", default="", help="why (required for reject, revoke, deprecate)")
    p = action("verify", "re-hash a version's artifact (exit 1 when its bytes changed)", _verify)
    p.add_argument("ref", metavar="NAME:VERSION")
    p = action("audit", "verify the approval log of a model (exit 1 when it was tampered with)", _audit)
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = action("push", "push an approved version to a registry", _push)
    p.add_argument("ref", metavar="NAME:VERSION")
    p.add_argument("--to", required=True, metavar="REGISTRY")
    p.add_argument("--alias", default="")
    p.add_argument("--json", action="store_true")
    p = action("pull", "fetch a version from a registry, verifying its hashes", _pull)
    p.add_argument("ref", metavar="NAME:VERSION", help="the registry's version number, or an alias")
    p.add_argument("--from", required=True, metavar="REGISTRY")
    p.add_argument("--dest", help="a new folder (default: ./NAME-VERSION)")
    p.add_argument("--unverified", action="store_true",
                   help="accept a version this index did not push (checked only against the registry's manifest)")

    registry_action = verb_group(
        add_verb, "registry", "shared model registries (folder:///path, mlflow+http://host:port)", user_errors=_USER
    )
    p = registry_action("add", "add or update a registry by name", _registry_add)
    p.add_argument("name")
    p.add_argument("uri")
    p = registry_action("list", "list registries", _registry_list)
    p.add_argument("--json", action="store_true")
