"""Verbs for launching: launch, jobs (list, cancel, logs), reproduce."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from labdeck.cli.common import CliError, cancel_on_sigint, fmt_time, int_in_range, print_json, table
from labdeck.db.jobs import JobInfo, JobNotFound
from labdeck.launch import control
from labdeck.launch.executor import executor_for
from labdeck.launch.reproduce import launch_plan, make_plan, public_run_id, verdict
from labdeck.launch.submit import LaunchError, LaunchRequest, launch
from labdeck.launch.verdict import DEFAULT_RTOL
from labdeck.tasks import Cancelled, Task
from labdeck.workspace import Workspace


def _job_json(job: JobInfo) -> dict:
    return {
        "job": job.id, "run": public_run_id(job), "status": job.status, "exit_code": job.exit_code,
        "message": job.message, "gpus": list(job.gpus), "priority": job.priority, "command": list(job.command),
        "project": job.project, "created_at": job.created_at, "started_at": job.started_at, "ended_at": job.ended_at,
        "run_dir": job.run_dir or None, "executor": job.executor,
        "cluster": {k: v for k, v in (job.spec.cluster or {}).items() if k != "config"} or None,
    }


def _wait(ws: Workspace, job: JobInfo) -> JobInfo | None:
    task = Task()
    cancel_on_sigint(task)
    try:
        return control.wait(ws, job.id, task)
    except Cancelled:
        print(f"stopped waiting; job {job.id} goes on (labdeck jobs cancel {job.id} stops it)", file=sys.stderr)
        return None


def _exit_status(job: JobInfo) -> int:
    if job.status == "succeeded":
        return 0
    if job.exit_code and job.exit_code > 0:
        return job.exit_code
    return 1


def positive_gb(text: str) -> float:
    """An argparse type: a memory size in GB, more than zero and finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GB") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} GB is not a memory size (more than 0, less than 1,000,000)")
    return value


def cmd_launch(ws: Workspace, args) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    req = LaunchRequest(
        command=tuple(command), project=args.project, gpus=args.gpus, min_gpu_mem_gb=args.min_gpu_mem,
        env=args.env, seed=args.seed, datasets=tuple(args.dataset or ()), priority=args.priority,
        executor=args.executor, cpus=args.cpus, mem_gb=args.mem,
    )
    try:
        job = launch(ws, req)
    except LaunchError as exc:
        raise CliError(str(exc)) from None
    for note in job.spec.notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.json:
        print(f"queued job {job.id} (run {public_run_id(job)})", file=sys.stderr)
    if args.wait:
        done = _wait(ws, job)
        if done is None:
            return 130
        job = done
    if args.json:
        print_json(_job_json(job))
    elif args.wait:
        print(f"job {job.id} {job.status}" + (f": {job.message}" if job.message else ""))
    return _exit_status(job) if args.wait else 0


def cmd_jobs(ws: Workspace, args) -> int:
    try:
        if args.action == "cancel":
            if not args.id:
                raise CliError("jobs cancel needs a job id")
            job = control.cancel(ws, args.id)
            print(f"job {job.id}: {'cancel requested' if not job.finished else job.status}")
            return 0
        if args.action == "logs":
            if not args.id:
                raise CliError("jobs logs needs a job id")
            return _logs(ws, args.id, args.follow)
        if args.action:
            raise CliError(f"unknown jobs action {args.action!r}: use cancel or logs")
    except JobNotFound as exc:
        raise CliError(exc.args[0]) from None
    jobs = control.jobs(ws)
    if args.json:
        print_json([_job_json(j) for j in jobs])
        return 0
    if not jobs:
        print("no jobs yet: labdeck launch -- COMMAND")
        return 0
    rows = [[j.id, j.status, str(j.priority), ",".join(g[:12] for g in j.gpus) or "cpu", fmt_time(j.created_at),
             " ".join(j.command)[:50], j.message[:40]] for j in jobs]
    print(table(rows, ["JOB", "STATUS", "PRIO", "GPUS", "CREATED", "COMMAND", "MESSAGE"]))
    return 0


def _logs(ws: Workspace, ref: str, follow: bool) -> int:
    if not follow:
        job = control.job(ws, ref)
        out, err = control.read_logs(job)
        sys.stdout.write(out)
        sys.stderr.write(err)
        return 0
    task = Task()
    cancel_on_sigint(task)
    try:
        for stream, text in control.follow(ws, ref, task):
            target = sys.stdout if stream == "stdout" else sys.stderr
            target.write(text)
            target.flush()
    except Cancelled:
        return 130
    return 0


def cmd_reproduce(ws: Workspace, args) -> int:
    try:
        executor_for(args.executor)
        plan = make_plan(ws, args.run, gpus=args.gpus, env=args.env, executor=args.executor)
    except (LaunchError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(plan.text(), file=sys.stderr)
    if args.plan_only:
        if args.json:
            print_json(plan.to_json())
        return 0 if plan.launchable else 2
    try:
        job = launch_plan(ws, plan, executor=args.executor)
    except LaunchError as exc:
        raise CliError(str(exc)) from None
    out: dict[str, Any] = {"job": job.id, "run": public_run_id(job), "original": plan.original, "status": job.status,
           "verdict": None, "plan": plan.to_json()}
    status = 0
    if args.wait:
        done = _wait(ws, job)
        if done is None:
            return 130
        job = done
        out["status"] = job.status
        out["message"] = job.message
        if job.status == "succeeded":
            v = verdict(ws, plan.original, job, args.rtol)
            out.update(v.to_json())
        status = _exit_status(job)
    if args.json:
        print_json(out)
    else:
        print(f"job {job.id} run {out['run']} {job.status}" + (f" verdict {out['verdict']}" if out["verdict"] else ""))
        if out.get("first_divergence"):
            f = out["first_divergence"]
            print(f"  first divergence: {f['metric']} at step {f['step']}: {f['original']} → {f['reproduced']} "
                  f"({f['reason']})")
        if out.get("note"):
            print(f"  {out['note']}")
    return status


def register(add_verb) -> None:
    p = add_verb("launch", "run a command as a reproducible job (labdeck launch [options] -- COMMAND ARGS…)", cmd_launch)
    p.add_argument("--project", metavar="DIR", help="the project (a folder in a git repository; default: here)")
    p.add_argument("--gpus", default="none", metavar="N|UUID,…|none", help="GPUs for the job (default none)")
    p.add_argument("--min-gpu-mem", type=float, metavar="GB", help="only GPUs with this much free memory")
    p.add_argument("--env", choices=("current", "locked"), default="current",
                   help="current interpreter, or a venv built by uv from requirements.lock/.txt")
    # PYTHONHASHSEED takes 0 to 2**32 - 1: a seed outside it could not start the job.
    p.add_argument("--seed", type=int_in_range(0, 2**32 - 1), help="passed as LABDECK_SEED and PYTHONHASHSEED (see sdk.seed_everything)")
    p.add_argument("--dataset", action="append", metavar="NAME:VERSION", help="dataset version used (repeatable)")
    p.add_argument("--priority", type=int_in_range(), default=0, help="higher starts first (default 0)")
    p.add_argument("--cpus", type=int_in_range(1, 4096), metavar="N", help="CPUs asked of a cluster executor")
    p.add_argument("--mem", type=positive_gb, metavar="GB", help="memory asked of a cluster executor")
    p.add_argument("--executor", default="local", metavar="NAME",
                   help="where it runs: local (default) or a cluster added with labdeck executor add")
    p.add_argument("--wait", action="store_true", help="return when the job ends, with its exit status")
    p.add_argument("--json", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS…")
    p = add_verb("jobs", "list jobs; jobs cancel ID; jobs logs ID [--follow]", cmd_jobs)
    p.add_argument("action", nargs="?", choices=("cancel", "logs"))
    p.add_argument("id", nargs="?")
    p.add_argument("--follow", "-f", action="store_true", help="with logs: keep printing until the job ends")
    p.add_argument("--json", action="store_true")
    p = add_verb("reproduce", "run a past run again and compare its metrics", cmd_reproduce)
    p.add_argument("run")
    p.add_argument("--gpus", metavar="N|UUID,…|none", help="default: as many as the original used")
    p.add_argument("--env", choices=("current", "locked"), help="default: as the original")
    p.add_argument("--executor", default="local", metavar="NAME", help="where the reproduction runs (default local)")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help=f"tolerance of the verdict (default {DEFAULT_RTOL})")
    p.add_argument("--plan", dest="plan_only", action="store_true", help="only show the plan")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--json", action="store_true")
