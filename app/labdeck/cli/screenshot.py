"""`labdeck screenshot OUT.png`: the main window rendered offscreen with runs compared."""

from __future__ import annotations

from labdeck.cli.common import CliError
from labdeck.paths import normalise
from labdeck.workspace import Workspace

VIEWS = ("runs", "datasets", "models", "jobs")
ANALYSIS_TABS = ("Compare", "Params", "Parallel", "Diff")  # also taken by --tab, as before --analysis


def cmd_screenshot(ws: Workspace, args) -> int:
    project = None
    if args.project:
        project, created = ws.add_project(args.project)
        if created or not any(
            p.path == project and p.scanned_at for p in ws.projects()
        ):
            ws.index(project)
        project = normalise(project)
    if args.select:
        ws.run_pks(args.select)  # a bad query fails here, with the usual caret message
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError as exc:
        raise CliError(
            f"--size wants WIDTHxHEIGHT, e.g. 1500x900, not {args.size!r}"
        ) from exc
    # The entry point may reach the UI; lazily, so other verbs never load Qt.
    from labdeck.ui.screenshot import render

    out = render(
        ws,
        args.out,
        project=project,
        select=args.select or "",
        metrics=args.metric or None,
        size=(w, h),
        tab=args.analysis or (args.tab if args.tab in ANALYSIS_TABS else "Compare"),
        view=args.tab.lower() if args.tab in VIEWS else "runs",
        group_by=args.group_by or "",
        columns=args.column,
        log_y=args.log_y,
        smoothing=args.smoothing,
    )
    print(f"saved {out}")
    return 0


def register(add_verb) -> None:
    p = add_verb(
        "screenshot",
        "save a PNG of the app with runs selected and compared (offscreen)",
        cmd_screenshot,
    )
    p.add_argument("out", metavar="OUT.png")
    p.add_argument(
        "--project", metavar="DIR", help="show this project (added and indexed if new)"
    )
    p.add_argument(
        "--select",
        metavar="QUERY",
        help="select the runs matching QUERY (default: the first six)",
    )
    p.add_argument(
        "--metric",
        action="append",
        metavar="KEY",
        help="metric to plot (repeat for stacked plots)",
    )
    p.add_argument(
        "--column",
        action="append",
        metavar="KEY",
        help="extra table column, e.g. params.lr (repeat)",
    )
    p.add_argument("--log-y", action="store_true", help="logarithmic y axis")
    p.add_argument(
        "--smoothing",
        type=float,
        default=0.0,
        metavar="W",
        help="EMA weight 0..0.99 (default 0)",
    )
    p.add_argument(
        "--size",
        default="1500x900",
        metavar="WxH",
        help="window size (default 1500x900)",
    )
    p.add_argument(
        "--tab",
        default="runs",
        choices=[*VIEWS, *ANALYSIS_TABS],
        help="tab to show: runs, datasets, models or jobs (default runs)",
    )
    p.add_argument(
        "--analysis",
        choices=list(ANALYSIS_TABS),
        help="the Runs tab's analysis tab (default Compare)",
    )
    p.add_argument(
        "--group-by",
        metavar="KEY",
        help="group the runs table and charts by KEY, e.g. params.lr",
    )
