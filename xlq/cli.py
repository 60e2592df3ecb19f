"""The `xlq` command: each command parses its options, calls the library and prints the result.

Every command takes `--workspace DIR`. Stage modules are imported inside each command, for
start-up time: `xlq validate one.xlsx` loads only what checking a file needs (XlsxWriter and
the watcher are never imported for it). Every failure xlq reports is an `XlqError`, printed
by `main` as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from xlq.core.catalogue import PERIOD_RE, load_catalogue
from xlq.core.config import init_workspace, load_workspace
from xlq.core.errors import UsageError, XlqError
from xlq.core.report import finding_dict, findings_table, history_table, sort_findings, status_table
from xlq.core.rules import rules_markdown
from xlq.core.text import shown
from xlq.store.catalogue_versions import diff_text, record_workspace, versions
from xlq.store.journal import open_store


def _workspace(args: argparse.Namespace):

    return load_workspace(args.workspace)


def _catalogue(workspace):

    return load_catalogue(workspace.catalogue_path, workspace.department_codes)


def cmd_init(args: argparse.Namespace) -> int:

    root = init_workspace(Path(args.dir))
    print(f"Created workspace {root}")
    print("  edit xlq.toml (organisation, departments, calendar) and catalogue.toml (indicators),")
    print(f"  then: xlq template --workspace {root} --period YYYY-MM")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.template.workbook import write_templates

    if not PERIOD_RE.match(args.period):
        raise UsageError(f"--period {args.period!r} is not a month written YYYY-MM")
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    departments = [args.department] if args.department else None
    if args.department and workspace.department(args.department) is None:
        raise UsageError(f"--department {args.department!r} is not in {workspace.root / 'xlq.toml'}")
    with open_store(workspace.store_path, workspace.root) as store:
        record_workspace(store, workspace, catalogue)  # templates carry the version they were issued under
        paths = write_templates(catalogue, workspace, args.period, departments,
                                last_month_for=partial(store.last_month, catalogue=catalogue))
    for path in paths:
        print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.intake.validate import check_files

    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    files = [Path(f) for f in args.files]
    if workspace.store_path.exists():
        with open_store(workspace.store_path, workspace.root) as store:
            results = check_files(files, catalogue, workspace, store)
    else:
        results = check_files(files, catalogue, workspace)
    if args.json:
        payload = [
            {"file": str(path), "outcome": checked.outcome,
             "findings": [finding_dict(f) for f in sort_findings(checked.findings)]}
            for path, checked in results
        ]
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for path, checked in results:
            print(f"{shown(path)}: {checked.outcome.replace('_', ' ')}, {len(checked.values)} values, "
                  f"{len(checked.findings)} findings")
            if checked.findings:
                print(findings_table(checked.findings))
    return 1 if any(f.severity == "error" for _, c in results for f in c.findings) else 0


def cmd_run(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.watch.service import run_once

    summary = run_once(_workspace(args))
    print(summary.describe())
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.watch.service import watch_forever

    watch_forever(_workspace(args), poll=args.poll)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    # imported here for start-up time (see the module docstring)
    from xlq.master.reconcile import period_status

    with open_store(workspace.store_path, workspace.root) as store:
        status = period_status(store, catalogue, workspace, args.period)
    # imported here for start-up time (see the module docstring)
    from xlq.watch.inbox import InboxScanner

    lingering = InboxScanner(workspace).lingering()
    if args.json:
        data = status.as_dict()
        data["ignored_in_inbox"] = [{"path": path, "why": why} for path, why in lingering]
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(status_table(status))
        if lingering:
            print(f"In inbox/ for over a day and not read ({len(lingering)}):")
            for path, why in lingering:
                print(f"  {shown(path, 120)}  ({why})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    if args.code not in catalogue and catalogue.resolve(args.code) in catalogue:
        print(f"{args.code} was renamed {catalogue.resolve(args.code)}: its history is kept under the new code.")
        args.code = catalogue.resolve(args.code)
    if args.code not in catalogue:
        raise UsageError(f"indicator {args.code!r} is not in {catalogue.path}")
    # imported here for start-up time (see the module docstring)
    from xlq.master.reconcile import indicator_history

    with open_store(workspace.store_path, workspace.root) as store:
        history = indicator_history(store, catalogue, workspace, args.code)
    if args.json:
        print(json.dumps(history.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(history_table(catalogue[args.code], history))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.demo import run_demo

    summary = run_demo(Path(args.dir or args.demo_workspace or "demo"), args.through)
    print(summary)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.importer import import_history

    count = import_history(_workspace(args), Path(args.file))
    print(f"Imported {count} values from {args.file}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:  # imported here for start-up time, and pandas is an optional extra
        from xlq.analysis.export import export
        from xlq.analysis.workspace import Workspace
    except ModuleNotFoundError as exc:
        raise UsageError(f'xlq export needs {exc.name}: pip install "xlq[analysis]"') from None
    try:
        paths = export(Workspace(args.workspace), args.tables or ["values"], args.format, args.output, is_wide=args.wide,
                       superseded=args.superseded, start=args.start, end=args.end, departments=args.department,
                       indicators=args.indicator)
    except OSError as exc:  # a folder we may not write to, or a file open in another program on Windows
        raise UsageError(f"could not write the export: {exc}") from None
    for path in paths:
        print(path)
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    """`xlq catalogue diff`: every recorded catalogue and department change, with who and when."""
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    with open_store(workspace.store_path, workspace.root) as store:
        record_workspace(store, workspace, catalogue)  # a change just typed in is the newest version
        history = versions(store)
    if args.json:
        print(json.dumps([{"version": v.number, "catalogue": v.label, "recorded_by": v.recorded_by,
                           "recorded_at": v.recorded_at, "changes": list(v.changes)} for v in history], indent=2))
    else:
        print(diff_text(history))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    print(rules_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=".", metavar="DIR",
                        help="workspace folder holding xlq.toml (default: the current folder)")
    parser = argparse.ArgumentParser(prog="xlq", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a workspace: xlq.toml, catalogue.toml and the folders")
    p.add_argument("dir", nargs="?", default=".")
    p = add("template", cmd_template, "write each department's return template for a month")
    p.add_argument("--period", required=True, metavar="YYYY-MM")
    p.add_argument("--department", metavar="CODE")
    p = add("validate", cmd_validate,
            "check returns without storing them, against the store's history if there is one (exit 1 on any error)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print findings as JSON")
    add("run", cmd_run, "process what is in inbox/ once and rebuild the master")
    p = add("watch", cmd_watch, "keep processing every workbook dropped into inbox/")
    p.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                   help="poll every SECONDS instead of file events (network shares)")
    p = add("status", cmd_status, "which departments have returned for a month")
    p.add_argument("--period", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")
    p = add("history", cmd_history, "an indicator's values by month and department, with provenance")
    p.add_argument("code")
    p.add_argument("--json", action="store_true")
    p = add("import", cmd_import, "load figures kept before xlq from a CSV into the store")
    p.add_argument("file", metavar="FILE.csv")
    p = add("export", cmd_export, "write the store's tables to CSV, Parquet or xlsx for pandas, R, Power BI and Excel")
    p.add_argument("tables", nargs="*", metavar="TABLE",
                   help="values (default), organisation, findings, submissions, indicators, departments or all")
    p.add_argument("--format", "-f", choices=("csv", "parquet", "xlsx"), help="default: OUTPUT's suffix, else csv")
    p.add_argument("--output", "-o", metavar="PATH", help="a file, or a folder for one file per table (default: here)")
    p.add_argument("--from", dest="start", metavar="YYYY-MM", help="first month (organisation: default the master's 13)")
    p.add_argument("--to", dest="end", metavar="YYYY-MM", help="last month")
    p.add_argument("--department", action="append", metavar="CODE", help="only this department (repeatable)")
    p.add_argument("--indicator", action="append", metavar="CODE", help="only this indicator (repeatable)")
    p.add_argument("--wide", action="store_true", help="values and organisation pivoted to the scorecard's shape: months across")
    p.add_argument("--superseded", action="store_true", help="values later replaced by a resubmission or correction too")
    p = add("catalogue", cmd_catalogue, "the catalogue's recorded versions: what changed, who and when")
    p.add_argument("action", choices=("diff",))
    p.add_argument("--json", action="store_true")
    add("rules", cmd_rules, "list every validation rule code")
    p = sub.add_parser("demo", help="build the whole story in a fresh workspace (default ./demo)",
                       description="build the whole story in a fresh workspace (default ./demo)")
    p.add_argument("dir", nargs="?", default=None, help="the workspace to create (replaced if it is a demo)")
    p.add_argument("--workspace", "-w", dest="demo_workspace", metavar="DIR", help="the same as DIR")
    p.add_argument("--through", default="2023-12", metavar="YYYY-MM",
                   help="go on past the seed's Dec-23 into 2024-25: new targets, indicators and a merger from Apr-24")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except XlqError as exc:
        print(f"xlq: {shown(exc)}", file=sys.stderr)  # one line, whatever names it quotes
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `xlq validate ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
