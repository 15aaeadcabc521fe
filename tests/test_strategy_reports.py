"""Every strategy's task-end report is the typed report its strategy declares (`report_type`), the one its
Playground view reads, and each report type survives a run's JSON result: read back through the strategy
(Strategy.read_report), it holds the same data."""

from __future__ import annotations

import json

import pytest

import clcore
from clcore import Run, make_config
from clcore.runs.results import build_result, jsonable
from pages.shared import strategy_views

REPORTING = sorted(name for name, cls in clcore.STRATEGIES.items() if cls.report_type is not None)


def test_every_task_end_view_reads_a_typed_report():
    for name, view in strategy_views.VIEWS.items():
        if view.at_task_end:
            assert clcore.STRATEGIES[name].report_type is not None, f"{name}: its task-end view has no report type"
    assert set(REPORTING) <= set(strategy_views.VIEWS), "a strategy reports what no view draws"


@pytest.fixture(scope="module")
def finished_runs():
    """One two-task run of each strategy with a view: tiny data, two evaluations."""
    runs = {}

    def finished(name: str) -> Run:
        if name not in runs:
            cls = clcore.STRATEGIES[name]
            run = Run(
                make_config(
                    strategy=name,
                    classes="0,1|2,3",
                    train_subset=40,
                    batch_size=10,
                    hidden=(16,),
                    eval_every=0,
                    eval_subset=20,
                    seed=0,
                    buffer_size=20 if cls.uses_buffer else 0,
                )
            )
            run.run_to_end()
            runs[name] = run
        return runs[name]

    return finished


@pytest.mark.parametrize("name", sorted(strategy_views.VIEWS))
def test_the_run_records_the_strategys_typed_reports(name, finished_runs):
    run = finished_runs(name)
    assert run.status == "finished", run.message
    report_type = clcore.STRATEGIES[name].report_type
    reports = run.record.strategy_reports
    assert len(reports) == 2
    if report_type is None:
        assert reports == [None, None]
    else:
        assert all(type(r) is report_type for r in reports), [type(r) for r in reports]


@pytest.mark.parametrize("name", REPORTING)
def test_each_report_type_round_trips_through_the_results_json(name, finished_runs):
    run = finished_runs(name)
    stored = json.loads(json.dumps(build_result(run)))["strategy_reports"]
    strategy = clcore.STRATEGIES[name]
    read = [strategy.read_report(data) for data in stored]
    assert all(type(r) is strategy.report_type for r in read)
    assert jsonable(read) == stored
