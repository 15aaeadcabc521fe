"""Continual-learning metrics on a hand-made accuracy matrix, with the arithmetic written out."""

import pytest

from clcore.runs import metrics
from clcore.runs.results import _metrics_for

# R[i][j]: accuracy (%) on task j after training task i.
R = [
    [90.0, 10.0, 5.0],
    [95.0, 80.0, 20.0],  # task 0 improved after task 1 (positive backward transfer on it)
    [50.0, 70.0, 85.0],
]
RANDOM_INIT = [10.0, 12.0, 8.0]  # a random model's accuracy per task


def test_average_accuracy_full():
    # last row, tasks 0..2: (50 + 70 + 85) / 3 = 205 / 3
    assert metrics.average_accuracy(R) == pytest.approx(205 / 3)


def test_forgetting_uses_best_accuracy_ever_not_the_diagonal():
    # task 0: best of R[0][0], R[1][0] = max(90, 95) = 95; now 50 -> 45
    # task 1: best of R[1][1]          = 80;               now 70 -> 10
    # mean (45 + 10) / 2 = 27.5
    assert metrics.forgetting(R) == pytest.approx(27.5)


def test_backward_transfer_uses_the_diagonal():
    # task 0: R[2][0] - R[0][0] = 50 - 90 = -40
    # task 1: R[2][1] - R[1][1] = 70 - 80 = -10
    # mean (-40 - 10) / 2 = -25  (differs from -forgetting because task 0 peaked after task 1)
    assert metrics.backward_transfer(R) == pytest.approx(-25.0)


def test_forward_transfer():
    # task 1: R[0][1] - random[1] = 10 - 12 = -2
    # task 2: R[1][2] - random[2] = 20 - 8  = 12
    # mean (-2 + 12) / 2 = 5
    assert metrics.forward_transfer(R, RANDOM_INIT) == pytest.approx(5.0)


def test_accuracy_after_each_task():
    # after task 0: 90
    # after task 1: (95 + 80) / 2 = 87.5
    # after task 2: (50 + 70 + 85) / 3 = 68.333...
    assert metrics.accuracy_after_each_task(R) == pytest.approx([90.0, 87.5, 205 / 3])


def test_prefix_matrix_of_a_run_stopped_after_two_tasks():
    prefix = R[:2]
    # avg: (95 + 80) / 2 = 87.5
    assert metrics.average_accuracy(prefix) == pytest.approx(87.5)
    # forgetting: task 0, best before now = R[0][0] = 90, now 95 -> 90 - 95 = -5
    assert metrics.forgetting(prefix) == pytest.approx(-5.0)
    # bwt: R[1][0] - R[0][0] = 95 - 90 = 5
    assert metrics.backward_transfer(prefix) == pytest.approx(5.0)
    # fwt: R[0][1] - random[1] = 10 - 12 = -2
    assert metrics.forward_transfer(prefix, RANDOM_INIT) == pytest.approx(-2.0)
    assert metrics.accuracy_after_each_task(prefix) == pytest.approx([90.0, 87.5])


def test_single_row_gives_none_for_comparative_metrics():
    one = R[:1]
    assert metrics.average_accuracy(one) == pytest.approx(90.0)  # only task 0 seen
    assert metrics.forgetting(one) is None
    assert metrics.backward_transfer(one) is None
    assert metrics.forward_transfer(one, RANDOM_INIT) is None
    assert metrics.accuracy_after_each_task(one) == [90.0]
    assert metrics.summarize(one, RANDOM_INIT) == {"avg_acc": 90.0, "forgetting": None, "bwt": None, "fwt": None}


def test_summarize_full_matrix():
    s = metrics.summarize(R, RANDOM_INIT)
    assert s == pytest.approx({"avg_acc": 205 / 3, "forgetting": 27.5, "bwt": -25.0, "fwt": 5.0})


def test_empty_matrix_is_an_error():
    with pytest.raises(ValueError):
        metrics.average_accuracy([])


def test_result_metrics_for_offline_and_empty_runs():
    # joint trains once: one row over all tasks; average over all columns (10 + 20 + 60) / 3 = 30
    assert _metrics_for([[10.0, 20.0, 60.0]], RANDOM_INIT, offline=True) == {
        "avg_acc": pytest.approx(30.0),
        "forgetting": None,
        "bwt": None,
        "fwt": None,
    }
    # a run stopped before its first task ended has no rows
    assert _metrics_for([], RANDOM_INIT, offline=False) == {
        "avg_acc": None,
        "forgetting": None,
        "bwt": None,
        "fwt": None,
    }
