"""xlq: collect departmental Excel returns into one master scorecard workbook.

Departments drop filled-in templates into inbox/<DEPT>/; xlq checks every figure, keeps every
file and finding in its store, tells each department what happened to its return (a feedback
copy in feedback/<DEPT>/), and rebuilds outbox/scorecard.xlsx.

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
from dataclasses import asdict
from functools import partial
from pathlib import Path

from xlq.core.accepted import settle_accepted
from xlq.core.catalogue import load_catalogue
from xlq.core.config import CONFIG_NAME, init_workspace, load_workspace
from xlq.core.errors import UsageError, XlqError
from xlq.core.months import PERIOD_RE
from xlq.core.report import finding_dict, findings_table, history_table, outcome_text, sort_findings, status_table
from xlq.core.rules import rules_markdown
from xlq.core.text import shown
from xlq.store.catalogue_versions import diff_text, record_workspace, versions
from xlq.store.connection import display_url, is_url
from xlq.store.db import Store
from xlq.store.journal import open_store
from xlq.store.reviews import accepted_warnings
from xlq.store.watchers import live_watchers, watchers_text


def _workspace(args: argparse.Namespace):

    return load_workspace(args.workspace or ".")


def _catalogue(workspace):

    return load_catalogue(workspace.catalogue_path, workspace.department_codes, workspace.cache_dir)


def cmd_init(args: argparse.Namespace) -> int:

    root = init_workspace(Path(args.dir))
    print(f"Created workspace {root}")
    print("  edit xlq.toml (organisation, departments, calendar) and catalogue.toml (indicators),")
    print(f"  then: xlq template --workspace {root} --period YYYY-MM")
    return 0


def _period(text: str | None, option: str = "--period") -> str | None:
    if text is not None and not PERIOD_RE.match(text):
        raise UsageError(f"{option} {text!r} is not a month written YYYY-MM (month 01 to 12)")
    return text


def cmd_template(args: argparse.Namespace) -> int:
    # imported here for start-up time (see the module docstring)
    from xlq.master.review_state import review_state
    from xlq.template.workbook import write_templates

    _period(args.period)
    workspace = _workspace(args)
    collecting = workspace.reporting_period()
    if args.period > collecting:
        print(f"xlq: note: {args.period} is later than the month being collected ({collecting}); a return for it "
              f"will be refused until {args.period} is being collected (calendar.current in xlq.toml)", file=sys.stderr)
    catalogue = _catalogue(workspace)
    departments = [args.department] if args.department else None
    if args.department and workspace.department(args.department) is None:
        raise UsageError(f"--department {args.department!r} is not in {workspace.root / 'xlq.toml'}")
    with open_store(workspace.store_target, workspace.root) as store:
        record_workspace(store, workspace, catalogue)  # templates carry the version they were issued under
        queries = review_state(store).queries  # the reviewer's open questions (issue 17)
        paths = write_templates(catalogue, workspace, args.period, departments,
                                last_month_for=partial(store.last_month, catalogue=catalogue),
                                queries_for=lambda code: queries.get(code, ()))
    for path in paths:
        print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    notes: dict[Path, str] = {}
    skipped: tuple[str, ...] = ()
    if args.workspace is None and not (Path.cwd() / CONFIG_NAME).exists():
        # A department on its own machine: the template carries what checking needs.
        # imported here for start-up time (see the module docstring)
        from xlq.intake.standalone import SKIPPED, check_standalone

        standalone = [check_standalone(path) for path in files]
        results = [(r.path, r.checked) for r in standalone]
        notes = {r.path: r.note for r in standalone if r.note}
        skipped = SKIPPED
    else:
        # imported here for start-up time (see the module docstring)
        from xlq.intake.validate import check_files

        workspace = _workspace(args)
        catalogue = _catalogue(workspace)
        if workspace.store_url or workspace.store_path.exists():
            with open_store(workspace.store_target, workspace.root) as store:
                accepted = accepted_warnings(store)  # a warning a reviewer accepted on the same value (issue 17)
                results = [(path, settle_accepted(checked, accepted))
                           for path, checked in check_files(files, catalogue, workspace, store)]
        else:
            results = check_files(files, catalogue, workspace)
    if args.json:
        payload = [
            {"file": str(path), "outcome": checked.outcome, "values_used": checked.used,
             "not_used": list(checked.not_used), **({"note": notes[path]} if path in notes else {}),
             "findings": [finding_dict(f) for f in sort_findings(checked.findings)]}
            for path, checked in results
        ]
        print(json.dumps({"files": payload, "skipped_checks": list(skipped)} if skipped else payload,
                         indent=2, ensure_ascii=False))
    else:
        if skipped:
            print("No xlq workspace here: each file is checked against the indicators its template carries.")
            print("Skipped (they need the trust's records):")
            print("\n".join(f"  - {text}" for text in skipped))
        for path, checked in results:
            print(f"{shown(path)}: {outcome_text(checked.outcome, checked.not_used)}; {checked.used} values used, "
                  f"{len(checked.findings)} findings")
            if path in notes:
                print(f"  note: {notes[path]}")
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
    _period(args.period)
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    # imported here for start-up time (see the module docstring)
    from xlq.master.returns import period_status

    with open_store(workspace.store_target, workspace.root) as store:
        status = period_status(store, catalogue, workspace, args.period)
        watchers = live_watchers(store)
    # imported here for start-up time (see the module docstring)
    from xlq.watch.inbox import InboxScanner

    lingering = InboxScanner(workspace).lingering()
    if args.json:
        data = status.as_dict()
        data["ignored_in_inbox"] = [{"path": path, "why": why} for path, why in lingering]
        data["watchers"] = [asdict(w) for w in watchers]
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(status_table(status))
        if watchers:
            print(watchers_text(watchers))
        if lingering:
            print(f"In inbox/ for over a day and not read ({len(lingering)}):")
            for path, why in lingering:
                print(f"  {shown(path, 120)}  ({why})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    workspace = _workspace(args)
    catalogue = _catalogue(workspace)
    wanted = args.code.strip()
    code = next((i.code for i in catalogue.indicators if i.code.casefold() == wanted.casefold()), None)
    if code is None and catalogue.resolve(wanted.upper()) in catalogue:
        code = catalogue.resolve(wanted.upper())
        print(f"{wanted} was renamed {code}: its history is kept under the new code.")
    if code is None:
        raise UsageError(f"indicator {args.code!r} is not in {catalogue.path}")
    args.code = code
    # imported here for start-up time (see the module docstring)
    from xlq.master.history import indicator_history

    with open_store(workspace.store_target, workspace.root) as store:
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

    workspace = _workspace(args)
    report = import_history(workspace, Path(args.file))
    print(report.describe())
    if report.imported:
        # imported here for start-up time (see the module docstring)
        from xlq.core.errors import WorkspaceBusy
        from xlq.watch.pipeline import Pipeline

        try:
            with Pipeline(workspace) as pipeline:
                master = pipeline.rebuild()
                print(f"Master rebuilt: {master}" if master else "Another watcher is rebuilding the master; it will "
                      "include this import.")
        except WorkspaceBusy:
            print("The master is marked out of date; the running watcher or the next 'xlq run' rebuilds it.")
    return 1 if report.refused else 0


def cmd_export(args: argparse.Namespace) -> int:
    try:  # imported here for start-up time, and pandas is an optional extra
        from xlq.analysis.export import export
        from xlq.analysis.workspace import Workspace
    except ModuleNotFoundError as exc:
        raise UsageError(f'xlq export needs {exc.name}: pip install "xlq[analysis]"') from None
    try:
        paths = export(Workspace(args.workspace or "."), args.tables or ["values"], args.format, args.output, is_wide=args.wide,
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
    with open_store(workspace.store_target, workspace.root) as store:
        record_workspace(store, workspace, catalogue)  # a change just typed in is the newest version
        history = versions(store)
    if args.json:
        print(json.dumps([{"version": v.number, "catalogue": v.label, "recorded_by": v.recorded_by,
                           "recorded_at": v.recorded_at, "changes": list(v.changes)} for v in history], indent=2))
    else:
        print(diff_text(history))
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """`xlq store migrate --to URL`: copy the workspace's SQLite store into an empty PostgreSQL database."""
    workspace = _workspace(args)
    if workspace.store_url:
        raise UsageError(f"the store is already PostgreSQL ({display_url(workspace.store_url)}); migrate copies a SQLite store")
    if not is_url(args.to):
        raise UsageError("--to must be a PostgreSQL URL: postgresql://user@host/database")
    if not workspace.store_path.exists():
        raise UsageError(f"{workspace.store_path}: no store here yet; nothing to migrate")
    # imported here for start-up time (see the module docstring)
    from xlq.store.transfer import checks_text, copy_store
    from xlq.watch.lock import WorkspaceLock

    lock = WorkspaceLock(workspace.root)
    lock.acquire()  # no watcher or run writes the SQLite store while it is copied
    try:
        Store(workspace.store_path).close()  # brought up to this xlq's schema first
        with Store(workspace.store_path, read_only=True) as source, Store(args.to) as target:
            checks = copy_store(source, target)
    finally:
        lock.release()
    print(f"Copied {workspace.store_path} into {display_url(args.to)}:")
    print(checks_text(checks))
    if not all(c.ok for c in checks):
        print("The copy does not match the store; do not switch to it.")
        return 1
    print(f'All {len(checks)} tables match. To use it, put url = "{display_url(args.to)}" under [store] in '
          f"{workspace.root / CONFIG_NAME} (the password in PGPASSWORD or ~/.pgpass, not in the file); the SQLite "
          "file stays as it was.")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    print(rules_markdown())
    return 0


EXAMPLES = {
    "init": "xlq init /srv/scorecard",
    "template": "xlq template -w /srv/scorecard --period 2023-12\n  xlq template -w /srv/scorecard --period 2023-12 "
                "--department LUT",
    "validate": "xlq validate LUT.xlsx            (on a department's PC: no workspace needed)\n"
                "  xlq validate -w /srv/scorecard inbox/LUT/*.xlsx --json",
    "run": "xlq run -w /srv/scorecard",
    "watch": "xlq watch -w /srv/scorecard\n  xlq watch -w /srv/scorecard --poll 10     (a network share)",
    "status": "xlq status -w /srv/scorecard\n  xlq status -w /srv/scorecard --period 2023-11 --json",
    "history": "xlq history -w /srv/scorecard sick-monthly",
    "import": "xlq import -w /srv/scorecard old-figures.csv",
    "export": "xlq export -w /srv/scorecard --output values.csv\n  xlq export -w /srv/scorecard all --output tables/ "
              "--format parquet",
    "store": "xlq store -w /srv/scorecard migrate --to postgresql://xlq@dbhost/xlq?sslmode=verify-full",
    "rules": "xlq rules",
    "catalogue": "xlq catalogue -w /srv/scorecard diff\n  xlq catalogue -w /srv/scorecard diff --json",
    "demo": "xlq demo /tmp/demo\n  xlq demo /tmp/demo --through 2024-06     (on into the new financial year)",
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", default=None, metavar="DIR",
                        help="workspace folder holding xlq.toml (default: the current folder)")
    doc = (__doc__ or "").split("\n\nEvery command")[0]
    parser = argparse.ArgumentParser(prog="xlq", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Run 'xlq COMMAND --help' for a command's options and an example.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, parents=(common,)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=list(parents), help=help_text, description=help_text,
                           epilog="example:\n  " + EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a workspace: xlq.toml, catalogue.toml and the folders")
    p.add_argument("dir", nargs="?", default=".", help="the folder to create it in (default: the current folder)")
    p = add("template", cmd_template, "write each department's return template for a month")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="the month the return reports")
    p.add_argument("--department", metavar="CODE", help="only this department's template (default: every department)")
    p = add("validate", cmd_validate,
            "check returns without storing them (exit 1 on any error); outside a workspace, against the template itself")
    p.add_argument("files", nargs="+", metavar="FILE", help="the workbooks to check")
    p.add_argument("--json", action="store_true", help="print outcomes and findings as JSON")
    add("run", cmd_run, "process what is in inbox/ once and rebuild the master")
    p = add("watch", cmd_watch, "keep processing every workbook dropped into inbox/")
    p.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                   help="poll every SECONDS instead of file events (network shares)")
    p = add("status", cmd_status, "each department's return for a month: outcome, values used and not used")
    p.add_argument("--period", metavar="YYYY-MM", help="the month (default: the month being collected)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p = add("history", cmd_history, "an indicator's values by month and department, with provenance")
    p.add_argument("code", help="the indicator code, in any case (SICK-MONTHLY or sick-monthly)")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p = add("import", cmd_import, "merge figures from a CSV into the store, one value per row (exit 1 if any row is "
                                  "refused)")
    p.add_argument("file", metavar="FILE.csv",
                   help="columns department, period, code, value (and numerator, denominator, comment)")
    p = add("export", cmd_export, "write the store's tables (current values by default) to CSV, Parquet or xlsx, "
                                  "for pandas, R, Power BI and Excel")
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
    p.add_argument("action", choices=("diff",), help="diff: every recorded version and what changed in it")
    p.add_argument("--json", action="store_true", help="print the versions as JSON")
    p = add("store", cmd_store, "move the workspace's SQLite store into an empty PostgreSQL database")
    p.add_argument("action", choices=("migrate",), help="migrate: copy every table, then check each by rows and checksum")
    p.add_argument("--to", required=True, metavar="URL", help="the PostgreSQL database: postgresql://user@host/database "
                   "(password from PGPASSWORD or ~/.pgpass; TLS settings as ?sslmode=...)")
    add("rules", cmd_rules, "list every validation rule code")
    p = add("demo", cmd_demo, "build the whole story in a fresh workspace (default ./demo)", parents=())
    p.add_argument("dir", nargs="?", default=None, help="the workspace to create (replaced if it is a demo)")
    p.add_argument("--workspace", "-w", dest="demo_workspace", metavar="DIR", help="the same as DIR")
    p.add_argument("--through", default="2023-12", metavar="YYYY-MM",
                   help="go on past the seed's Dec-23 into 2024-25: new targets, indicators and a merger from Apr-24")
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
