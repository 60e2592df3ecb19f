"""A pool of isolated reader processes: files spread over the workers, answers in the order given.

Real child processes reading real returns; what a lone worker does on a crash or a timeout is
tested in tests/test_pipeline.py and the hostile corpus, and the pool hands each file to one.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from deadline import wait_for
from returns import GOOD, fill, make_workspace, real_template, rewrite_member

from xlq.core.config import load_workspace
from xlq.core.errors import ConfigError
from xlq.intake.pool import MIN_FILES_PER_WORKER, ReaderPool
from xlq.intake.reader import read_return
from xlq.intake.worker import file_digest


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("pool")
    workspace, catalogue = make_workspace(root / "ws")
    template = real_template(catalogue, workspace, root / "LUT.xlsx")
    paths = []
    for n in range(2 * MIN_FILES_PER_WORKER + 3):
        paths.append(fill(template, root / f"r{n:02d}.xlsx", {**GOOD, "INC": {"Value": n}}).path)
    # a hostile file in the middle: refused by the checks in whichever worker gets it
    paths[7] = rewrite_member(paths[7], root / "huge.xlsx", "xl/worksheets/sheet1.xml", lambda xml: xml.replace(
        "</sheetData>", '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'))
    return paths


@pytest.fixture(autouse=True)
def no_leaked_processes():
    yield
    wait_for(lambda: not multiprocessing.active_children(), 15, "reader processes to end")


def test_a_batch_is_spread_over_the_workers_and_answered_in_order(returns) -> None:
    with ReaderPool(2) as pool:
        answers = list(pool.read_many((p, *file_digest(p)) for p in returns))
        assert len(pool.pids) == 2 and pool.files == len(returns) and pool.restarts == 0
    assert [path for path, _ in answers] == [str(p) for p in returns]
    for path, parsed in answers:
        assert parsed == read_return(path), path  # the same as reading it here
    assert [f.rule for f in answers[7][1].findings] == ["file-too-large"]
    assert [r.value.raw for r in answers[3][1].rows if r.code.raw == "INC"] == [3]


def test_a_small_batch_starts_one_worker_and_none_for_nothing(returns) -> None:
    with ReaderPool(4) as pool:
        assert list(pool.read_many([])) == [] and pool.pids == []
        answers = list(pool.read_many((p, None, None) for p in returns[:3]))
        assert len(pool.pids) == 1
    assert [path for path, _ in answers] == [str(p) for p in returns[:3]]


def test_a_started_worker_serves_the_first_batch(returns) -> None:
    with ReaderPool(4) as pool:
        pool.start()  # returns at once: the child imports while the caller goes on
        (pid,) = pool.pids
        answers = list(pool.read_many((p, None, None) for p in returns[:2]))
        assert pool.pids == [pid] and pool.restarts == 0 and pool.files == 2
    assert [path for path, _ in answers] == [str(p) for p in returns[:2]]


def test_feedback_copies_are_written_side_by_side(returns, tmp_path: Path) -> None:
    from xlq.intake.feedback import Mark  # only here: the marks a copy carries

    jobs = [(p, tmp_path / f"{p.stem}.feedback.xlsx", (Mark("warning", "check this", "Return", "A1"),), "Title", ("line",))
            for p in returns[:4]]
    with ReaderPool(2) as pool:
        assert pool.feedback_many(jobs) == [True] * 4
        assert len(pool.pids) == 2
    assert all(job[1].exists() for job in jobs)


def _with_workers(config: str, line: str) -> str:
    """The config with its `workers` line (if any) replaced by `line` (nothing: removed)."""
    kept = [old for old in config.splitlines() if not old.startswith("workers")]
    at = kept.index("[watch]") + 1
    return "\n".join(kept[:at] + ([line] if line else []) + kept[at:]) + "\n"


@pytest.mark.parametrize(("line", "workers"), [("workers = 3", 3), ("workers = 0", 0), ("", 0)])
def test_the_number_of_workers_is_set_in_xlq_toml(tmp_path: Path, line: str, workers: int) -> None:
    workspace, _ = make_workspace(tmp_path / "ws")
    config = workspace.root / "xlq.toml"
    config.write_text(_with_workers(config.read_text(encoding="utf-8"), line), encoding="utf-8")
    assert load_workspace(workspace.root).watch.workers == workers


@pytest.mark.parametrize("value", ["-1", '"two"', "1.5", "true"])
def test_a_bad_number_of_workers_names_the_setting(tmp_path: Path, value: str) -> None:
    workspace, _ = make_workspace(tmp_path / "ws")
    config = workspace.root / "xlq.toml"
    config.write_text(_with_workers(config.read_text(encoding="utf-8"), f"workers = {value}"), encoding="utf-8")
    with pytest.raises(ConfigError, match="workers"):
        load_workspace(workspace.root)
