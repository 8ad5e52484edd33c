"""Reproduce a past run: a plan first (restored / missing / substituted), then a launch.

A run launched by labdeck carries a full manifest. Other runs give what they recorded: a
native SDK run its command line, working directory and commit; an MLflow run its source
tags. What is missing is said, and what is used instead, before anything starts.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck import provenance as prov_mod
from labdeck.db.entities import RunInfo
from labdeck.db.job_spec import EnvSpec, JobSpec, Resources
from labdeck.db.jobs import JobInfo
from labdeck.db.writer import run_uid
from labdeck.launch import datasets as launch_datasets
from labdeck.launch import envs, store
from labdeck.launch.gpus import Inventory, default_inventory
from labdeck.db.run_manifest import Manifest
from labdeck.launch.scheduler import parse_request
from labdeck.launch.submit import LaunchError, enqueue
from labdeck.launch.verdict import DEFAULT_RTOL, Verdict, compare

if TYPE_CHECKING:  # the facade above: launch takes it, never imports it (layers)
    from labdeck.workspace import Workspace

REPRODUCES_TAG = "labdeck.reproduces"


@dataclass(frozen=True)
class PlanItem:
    what: str
    status: str  # restored | missing | substituted
    detail: str


@dataclass(frozen=True)
class Plan:
    original: str  # labdeck's id of the original run
    project: str
    command: tuple[str, ...]
    items: tuple[PlanItem, ...]
    spec: JobSpec = field(default_factory=JobSpec)
    blocker: str = ""  # why it cannot be launched at all ("" when it can)

    @property
    def launchable(self) -> bool:
        return not self.blocker

    def to_json(self) -> dict:
        return {"original": self.original, "command": list(self.command), "launchable": self.launchable,
                "blocker": self.blocker or None,
                "items": [{"what": i.what, "status": i.status, "detail": i.detail} for i in self.items]}

    def text(self) -> str:
        lines = [f"plan to reproduce {self.original}: {' '.join(self.command) or '(no command)'}"]
        lines += [f"  {i.status:<11} {i.what}: {i.detail}" for i in self.items]
        if self.blocker:
            lines.append(f"  cannot reproduce: {self.blocker}")
        return "\n".join(lines)


def public_run_id(job: JobInfo) -> str:
    return run_uid(job.spec.index_project or job.project, "labdeck", job.run_id)


def _commit_present(repo: str, commit: str) -> bool:
    try:
        done = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo, capture_output=True,
                              check=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return done.returncode == 0


def _package_differences(recorded: dict[str, str]) -> list[str]:
    now = prov_mod.installed_packages()
    lower_now = {k.lower(): (k, v) for k, v in now.items()}
    diffs = []
    for name, version in sorted(recorded.items(), key=lambda kv: kv[0].lower()):
        cur = lower_now.get(name.lower())
        if cur is None:
            diffs.append(f"{name} {version} missing")
        elif cur[1] != version:
            diffs.append(f"{name} {version}→{cur[1]}")
    return diffs


def make_plan(ws: Workspace, ref: str, *, gpus: str | None = None, env: str | None = None,
              inventory: Inventory | None = None, executor: str = "local") -> Plan:
    run = ws.run(ref)
    prov = json.loads(ws.provenance(run.id) or "{}")
    man = Manifest.from_json(prov.get("manifest"))
    items: list[PlanItem] = []
    blockers: list[str] = []
    code, command = _code_and_command(run, prov, man, items, blockers)
    env_spec = _environment(man, prov, env, items, blockers)
    seed = man.seed if man else None
    items.append(PlanItem("seed", "restored" if seed is not None else "missing",
                          f"seed {seed}" if seed is not None else "no seed recorded; PYTHONHASHSEED=0"))
    datasets = list(man.datasets) if man else []
    for d in datasets:
        items.append(_dataset_item(ws, d, blockers))
    if executor == "local":
        gpu_req = _gpus(man, gpus, inventory or default_inventory(), items)
    else:
        gpu_req = _cluster_gpus(man, gpus, executor, items)
    _where(man, executor, items)
    resources = _resources(man, executor, items)
    spec = JobSpec(
        code=code, env=EnvSpec.from_json(env_spec), gpus=gpu_req, seed=seed, datasets=tuple(datasets),
        reproduces=run.id, notes=tuple(f"{i.what}: {i.status}: {i.detail}" for i in items if i.status != "restored"),
        name=f"reproduce {run.name}"[:200], experiment=run.experiment or "launch",
        resources=Resources.from_json(resources),
    )
    return Plan(run.id, str(_run_home(run)), tuple(command), tuple(items), spec, "; ".join(blockers))


def _run_home(run: RunInfo) -> Path:
    """Where the reproduction's run goes: beside the original's (a native run's labdeck-runs/)."""
    parts = Path(run.path).parts
    if run.format == "labdeck" and len(parts) >= 2 and parts[-2] == "labdeck-runs":
        home = Path(run.project, *parts[:-2])
        if home.is_dir():
            return home
    return Path(run.project)


def _dataset_item(ws: Workspace, d: dict, blockers: list[str]) -> PlanItem:
    what = f"dataset {d.get('name')}:{d.get('version')}"
    if not d.get("digest"):
        return PlanItem(what, "missing", "only the reference was recorded; nothing is checked out")
    try:
        now = launch_datasets.resolve(ws.db, f"{d['name']}:{d['version']}")
    except launch_datasets.DatasetError as exc:
        blockers.append(str(exc))
        return PlanItem(what, "missing", str(exc))
    if now.get("digest") != d["digest"]:
        blockers.append(f"{what} is no longer the recorded version")
        return PlanItem(what, "missing", f"digest {str(now.get('digest'))[:12]} differs from the recorded "
                        f"{d['digest'][:12]}")
    return PlanItem(what, "restored", f"checked out byte-for-byte (digest {d['digest'][:12]})")


def _code_and_command(run: RunInfo, prov: dict, man: Manifest | None, items: list[PlanItem],
                      blockers: list[str]) -> tuple[dict, list[str]]:
    if man:
        code = dict(man.code)
        command = list(man.command)
    else:
        git = prov.get("git") or {}
        commit = git.get("commit") or run.tags.get("mlflow.source.git.commit")
        root = git.get("root") or ""
        code = {"repo": root, "commit": commit, "cwd": ".", "diff": None, "untracked": None}
        argv = list(prov.get("argv") or [])
        cwd = prov.get("cwd")
        rootp = Path(root).resolve() if root else None
        if argv and cwd and rootp and Path(cwd).resolve().is_relative_to(rootp):
            code["cwd"] = os.path.relpath(Path(cwd).resolve(), rootp)
            script = Path(argv[0])
            if script.is_absolute() and script.resolve().is_relative_to(rootp):
                script_arg = os.path.relpath(script.resolve(), Path(cwd).resolve())
            else:
                script_arg = argv[0]
            command = ["python", script_arg, *argv[1:]]
        elif run.tags.get("mlflow.source.name", "").endswith(".py"):
            command = ["python", run.tags["mlflow.source.name"]]
        else:
            command = []
        if git.get("dirty"):
            items.append(PlanItem("uncommitted changes", "missing",
                                  "the run was made from a dirty tree and its diff was not recorded; using the commit alone"))
    if not command:
        blockers.append("the run records no command")
        items.append(PlanItem("command", "missing", "not recorded"))
    else:
        items.append(PlanItem("command", "restored", " ".join(command)))
    repo, commit = code.get("repo"), code.get("commit")
    if not commit or not repo:
        blockers.append("the run records no git commit")
        items.append(PlanItem("code", "missing", "no git commit recorded"))
    elif not _commit_present(repo, commit):
        blockers.append(f"commit {commit[:12]} is not in {repo}")
        items.append(PlanItem("code", "missing", f"commit {commit[:12]} not found in {repo}"))
    else:
        items.append(PlanItem("code", "restored", f"commit {commit[:12]} of {repo}, in a clean copy"))
    for key, what in (("diff", "uncommitted changes"), ("untracked", "untracked files")):
        if code.get(key):
            if store.has(code[key]):
                items.append(PlanItem(what, "restored", f"snapshot {code[key][:12]}"))
            else:
                blockers.append(f"the {what} snapshot {code[key][:12]} is not in the store")
                items.append(PlanItem(what, "missing", f"snapshot {code[key][:12]} not in the store"))
    return code, command


def _environment(man: Manifest | None, prov: dict, env: str | None, items: list[PlanItem],
                 blockers: list[str]) -> dict:
    recorded_kind = man.env.kind if man else None
    kind = env or ("locked" if recorded_kind == "locked" else "current")
    python = prov.get("python")
    recorded_python: dict = python if isinstance(python, dict) else {}
    py_then = (man.python.version if man else None) or recorded_python.get("version") or platform.python_version()
    if kind == "locked":
        lock = man.env.lock if man else None
        if lock is None:
            blockers.append("--env locked: the run records no lock")
            items.append(PlanItem("environment", "missing", "no lock recorded"))
            return {"kind": "locked", "python": py_then, "lock": []}
        try:
            envs.uv_binary()
        except envs.EnvError as exc:
            blockers.append(str(exc))
        digest = envs.Lock(tuple(lock), py_then).digest
        cached = (envs.envs_dir() / digest / envs.READY_MARK).is_file()
        items.append(PlanItem("environment", "restored", f"venv from the lock ({len(lock)} pins, Python {py_then}), "
                              f"{'cached' if cached else 'built by uv'} as {digest}"))
        return {"kind": "locked", "python": py_then, "lock": list(lock)}
    if man:
        recorded = man.package_versions
    else:
        recorded = dict(prov.get("packages") or {})
    diffs = _package_differences(recorded) if recorded else []
    py_now = platform.python_version()
    if not recorded:
        items.append(PlanItem("environment", "substituted", f"no package list recorded; the current interpreter "
                              f"(Python {py_now}) is used"))
    elif diffs or py_then != py_now:
        shown = ", ".join(diffs[:8]) + (f" and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        items.append(PlanItem("environment", "substituted", f"the current interpreter (Python {py_now}, was {py_then})"
                              + (f"; differs in {len(diffs)} package(s): {shown}" if diffs else "")))
    else:
        items.append(PlanItem("environment", "restored", f"the current interpreter matches all {len(recorded)} "
                              f"recorded packages (Python {py_now})"))
    return {"kind": "current", "python": py_now}


def _gpus(man: Manifest | None, override: str | None, inventory: Inventory, items: list[PlanItem]) -> dict:
    then = man.gpus.assigned if man else ()
    snap = inventory.snapshot()
    if override is not None:
        req = parse_request(override)
    else:
        req = parse_request(str(len(then)) if then else "none")
    names_then = ", ".join(g.get("name", "?") for g in then) or "CPU"
    if req.wants_gpus and snap.cpu_only:
        items.append(PlanItem("GPUs", "substituted", f"was {names_then}; this machine is {snap.describe()}"))
        return parse_request("none").to_json()
    if not req.wants_gpus:
        items.append(PlanItem("GPUs", "restored" if not then else "substituted",
                              "CPU only" + (f" (was {names_then})" if then else "")))
    else:
        names_now = sorted({g.name for g in snap.gpus})
        same = then and all(g.get("name") in names_now for g in then)
        items.append(PlanItem("GPUs", "restored" if same else "substituted",
                              f"{req.count or len(req.uuids)} free GPU(s) of {', '.join(names_now)} (was {names_then})"))
    return req.to_json()


def _cluster_gpus(man: Manifest | None, override: str | None, executor: str, items: list[PlanItem]) -> dict:
    """On a cluster the engine picks the GPUs: ask for as many as the original had."""
    then = man.gpus.assigned if man else ()
    req = parse_request(override if override is not None else (str(len(then)) if then else "none"))
    names_then = ", ".join(g.get("name", "?") for g in then) or "CPU"
    count = req.count or len(req.uuids)
    items.append(PlanItem("GPUs", "restored" if bool(count) == bool(then) else "substituted",
                          (f"{count} GPU(s) from {executor}'s scheduler" if count else "CPU only") + f" (was {names_then})"))
    return req.to_json()


def _where(man: Manifest | None, executor: str, items: list[PlanItem]) -> None:
    """Where it ran and where it will run, and whether bit-identity can be expected."""
    then = man.cluster if man else None
    was = f"{then.executor} ({then.kind}, node {then.nodes})" if then else \
        f"local ({(man.machine if man else {}).get('hostname', '?')})"
    gpus_then = man.gpus.assigned if man else ()
    if man and gpus_then:
        expect = ("GPU results are bit-identical only on the same GPU model and driver "
                  f"(was {gpus_then[0].get('name')}, driver {man.gpus.driver}); "
                  "the manifest of the new run records what it got")
    else:
        expect = "a CPU run with the same code, packages and seed: bit-identical results expected"
    status = "restored" if ((then.executor if then else "") or "local") == executor else "substituted"
    items.append(PlanItem("executor", status, f"{executor} (was {was}); {expect}"))


def _resources(man: Manifest | None, executor: str, items: list[PlanItem]) -> dict:
    """The CPUs and memory the run asked of its cluster, asked again of a cluster (a local job has no limits)."""
    asked = man.cluster.resources.to_json() if man and man.cluster else {}
    if not asked:
        return {}
    said = ", ".join(f"{asked['cpus']} CPUs" if k == "cpus" else f"{asked['mem_gb']:g} GB memory" for k in asked)
    if executor == "local":
        items.append(PlanItem("resources", "substituted", f"{said} were asked of the cluster; a local job is not limited"))
        return {}
    items.append(PlanItem("resources", "restored", said))
    return dict(asked)


def launch_plan(ws: Workspace, plan: Plan, executor: str = "local") -> JobInfo:
    if not plan.launchable:
        raise LaunchError(f"cannot reproduce {plan.original}: {plan.blocker}")
    return enqueue(ws, plan.project, list(plan.command), plan.spec, executor=executor)


def verdict(ws: Workspace, original: str, job: JobInfo, rtol: float = DEFAULT_RTOL) -> Verdict:
    new = public_run_id(job)
    # Each training's metrics wherever they were logged: a job's native run may hold none while
    # the Lightning/TensorBoard/HF run written inside it holds them all.
    return compare(ws.training_series(original).series, ws.training_series(new).series, rtol)
