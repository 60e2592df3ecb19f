"""THE BARE-JOB FLOOR: read every cell of every return with python-calamine, then write a master
with exactly the sheets, cells, formats, sparklines, charts and links xlq's master has, with
XlsxWriter, and nothing else. Its cells and notes are written as xlq writes them (xlq.master.quick_xml:
the same bytes as XlsxWriter's own, sooner), so the floor is the quickest writing known, not xlq's.

No checks, no store, no validation, no reconciling, no deciding what goes where: the writing is
a replay of the XlsxWriter calls xlq made for that workspace's master, recorded beforehand
(untimed) by wrapping the workbook class while xlq builds it. So the timed process does only
what any tool producing the same master from the same files cannot avoid. benchmarks/run.py
compares xlq's whole pipeline with it (and with the read-only floor, floor_calamine.py).

It prints how long the reading and the writing each took: the writing alone is the floor of
every rebuild of this master, a watcher's after a drop included, and benchmarks/run.py reports it.

Usage:
    python benchmarks/floor_job.py record WORKSPACE CALLS.pickle   # untimed: what xlq writes
    python benchmarks/floor_job.py INBOX_DIR CALLS.pickle OUT.xlsx  # timed: read all, write the same
"""

from __future__ import annotations

import gc
import itertools
import pickle
import sys
import tempfile
import time
from pathlib import Path

from floor_calamine import read_every_cell  # beside this script: the same reading as the read floor

from xlq.master import quick_xml


class Ref:
    """An XlsxWriter object (worksheet, format, chart) in a recorded call, by its number."""

    def __init__(self, number: int) -> None:
        self.number = number


class _Proxy:
    """Stands in for an XlsxWriter object while xlq writes, recording each call made on it."""

    def __init__(self, calls: list, number: int, target: object) -> None:
        object.__setattr__(self, "_calls", calls)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            result = value(*_real(args), **_real(kwargs))
            made = None
            if type(result).__module__.startswith(("xlsxwriter", quick_xml.__name__)):  # its sheets too
                made = next(_NUMBERS)
                result = _Proxy(self._calls, made, result)
            self._calls.append((self._number, name, _refs(args), _refs(kwargs), made))
            return result

        return call

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._target, name, _real(value))
        self._calls.append((self._number, "__setattr__", (name, _refs(value)), {}, None))


_NUMBERS = itertools.count(1)  # 0 is the workbook


def _map(value, leaf):
    if isinstance(value, (_Proxy, Ref)):
        return leaf(value)
    if isinstance(value, dict):
        return {k: _map(v, leaf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, leaf) for v in value)
    return value


def _real(value):
    return _map(value, lambda p: p._target)


def _refs(value):
    return _map(value, lambda p: Ref(p._number))


def _where_refs(args: tuple, kwargs: dict) -> tuple[int, ...] | bool:
    """The positions of the arguments that are references, when only plain positional ones
    are; True when one is nested or named (resolve them all); () when there is none."""
    if _has_refs(kwargs) or any(_has_refs(a) for a in args if not isinstance(a, Ref)):
        return True
    return tuple(i for i, a in enumerate(args) if isinstance(a, Ref))


def _has_refs(value) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, dict):
        return any(_has_refs(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_refs(v) for v in value)
    return False


def record(workspace_root: Path, out: Path) -> int:
    """Build the workspace's master as xlq does (to a scratch file), keeping every XlsxWriter call."""
    # imported here: the timed replay must not pay for xlq's imports
    from xlq.core.catalogue import load_catalogue
    from xlq.core.config import load_workspace
    from xlq.master.reconcile import reconcile
    from xlq.master.workbook import write_scorecard
    from xlq.store.db import Store

    calls: list = []
    real_workbook = quick_xml.QuickWorkbook

    def recording_workbook(*args, **kwargs):
        calls.append((None, "Workbook", _refs(args[1:]), _refs(kwargs), 0))
        return _Proxy(calls, 0, real_workbook(*args, **kwargs))

    workspace = load_workspace(workspace_root)
    catalogue = load_catalogue(workspace.catalogue_path, workspace.department_codes)
    quick_xml.QuickWorkbook = recording_workbook
    try:
        with Store(workspace.store_path) as store, tempfile.TemporaryDirectory() as scratch:
            reconciled = reconcile(store, catalogue, workspace)
            write_scorecard(reconciled, catalogue, workspace, Path(scratch) / "master.xlsx")
    finally:
        quick_xml.QuickWorkbook = real_workbook
    # Where a call names another XlsxWriter object is settled here, untimed, so the replay does
    # not walk every call's arguments: most are cell writes whose only reference is their format.
    calls = [(*call, _where_refs(call[2], call[3])) for call in calls]
    out.write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"{len(calls)} XlsxWriter calls recorded")
    return 0


def replay(calls: list, path: Path) -> None:
    objects: dict[int, object] = {}

    def resolve(value):
        return _map(value, lambda r: objects[r.number])

    for number, name, args, kwargs, made, refs in calls:
        if refs is True:
            args, kwargs = resolve(args), resolve(kwargs)
        elif refs:
            args = list(args)
            for i in refs:
                args[i] = objects[args[i].number]
        if name == "Workbook":
            result: object = quick_xml.QuickWorkbook(str(path), *args, **kwargs)
        elif name == "__setattr__":
            setattr(objects[number], args[0], args[1])
            continue
        else:
            result = getattr(objects[number], name)(*args, **kwargs)
        if made is not None:
            objects[made] = result


def main(inbox: Path, recorded: Path, out: Path) -> int:
    # The cycle collector is paused, as it is while xlq rebuilds a master: its walks are work a
    # tool can avoid (0.4-1.0 s of this replay at 10,000 returns), and a floor holds none of that.
    gc.disable()
    started = time.perf_counter()
    files, cells = read_every_cell(inbox)
    read = time.perf_counter() - started
    calls = pickle.loads(recorded.read_bytes())
    started = time.perf_counter()
    replay(calls, out)
    write = time.perf_counter() - started
    print(f"{files} workbooks, {cells} cells read; {len(calls)} XlsxWriter calls replayed into {out.name}")
    # benchmarks/run.py reads the writing's share: alone, it is the floor of every rebuild of this master
    print(f"reading {read:.3f} s, writing {write:.3f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        sys.exit(record(Path(sys.argv[2]), Path(sys.argv[3])))
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().split("Usage:")[1])
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
