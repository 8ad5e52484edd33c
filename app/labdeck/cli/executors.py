"""Verbs for cluster executors: executor add NAME slurm|ray …, executor list, executor remove NAME."""

from __future__ import annotations

from labdeck.cli.common import CliError, print_json, table
from labdeck.launch import executors_config
from labdeck.launch.executors_config import ExecutorConfigError
from labdeck.workspace import Workspace


def cmd_executor(ws: Workspace, args) -> int:
    try:
        if args.action == "add":
            if not args.name or not args.kind:
                raise CliError("usage: labdeck executor add NAME slurm|ray [options]")
            options = {o: getattr(args, o) for o in ("partition", "account", "qos", "time", "extra", "address",
                                                     "shared", "python")}
            cfg = executors_config.add(args.name, args.kind, options, replace=args.replace)
            print(f"executor {cfg.name}: {cfg.describe()}")
            return 0
        if args.action == "remove":
            if not args.name:
                raise CliError("usage: labdeck executor remove NAME")
            executors_config.remove(args.name)
            print(f"executor {args.name} removed (its jobs keep their recorded settings)")
            return 0
        configs = executors_config.load_all()
    except ExecutorConfigError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json([{"name": "local", "kind": "local"}, *(c.to_json() for c in configs)])
        return 0
    rows = [["local", "local", "this machine's GPUs (default)"], *([c.name, c.kind, c.describe().split(" ", 1)[-1]
                                                                     if c.options else ""] for c in configs)]
    print(table(rows, ["NAME", "KIND", "SETTINGS"]))
    return 0


def register(add_verb) -> None:
    p = add_verb("executor", "where jobs run: executor add NAME slurm|ray [options]; executor list; "
                 "executor remove NAME", cmd_executor)
    p.add_argument("action", nargs="?", choices=("add", "list", "remove"), default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("kind", nargs="?", help="slurm or ray (with add)")
    p.add_argument("--partition", help="slurm: sbatch --partition")
    p.add_argument("--account", help="slurm: sbatch --account")
    p.add_argument("--qos", help="slurm: sbatch --qos")
    p.add_argument("--time", metavar="HH:MM:SS", help="slurm: the job's time limit")
    p.add_argument("--extra", metavar="'…'", help="slurm: more sbatch options, one string: --extra='--constraint=a100'")
    p.add_argument("--address", metavar="http://HOST:8265|ray://HOST:PORT", help="ray: the job server")
    p.add_argument("--shared", metavar="DIR", help="a folder the compute nodes see (default: the project's "
                   ".labdeck-cluster)")
    p.add_argument("--python", metavar="PATH", help="the interpreter with labdeck on the nodes (default: this one)")
    p.add_argument("--replace", action="store_true", help="with add: overwrite an executor of that name")
    p.add_argument("--json", action="store_true")
