"""Metrics over an accuracy matrix R, where R[i][j] is the accuracy (%) on task j after training task i.

R may be a prefix (a run stopped early): with k = len(R) - 1 the last task trained, every metric is
computed over the tasks seen so far. Metrics that compare tasks return None when only one task was seen.
"""

from __future__ import annotations

from statistics import fmean


def _last(R):
    if not R:
        raise ValueError("empty accuracy matrix")
    return len(R) - 1


def average_accuracy(R) -> float:
    """Mean accuracy over the tasks seen so far, after the last task trained."""
    k = _last(R)
    return fmean(R[k][: k + 1])


def forgetting(R) -> float | None:
    """Mean over old tasks of (best accuracy ever reached on it) minus (accuracy now)."""
    k = _last(R)
    if k == 0:
        return None
    return fmean(max(R[i][j] for i in range(j, k)) - R[k][j] for j in range(k))


def backward_transfer(R) -> float | None:
    """BWT (Lopez-Paz & Ranzato 2017): mean over old tasks of (accuracy now) minus (just after learning it)."""
    k = _last(R)
    if k == 0:
        return None
    return fmean(R[k][j] - R[j][j] for j in range(k))


def forward_transfer(R, random_init) -> float | None:
    """FWT: mean over tasks j >= 1 of (accuracy on j before training it) minus a random model's on j."""
    k = _last(R)
    if k == 0:
        return None
    return fmean(R[j - 1][j] - random_init[j] for j in range(1, k + 1))


def accuracy_after_each_task(R) -> list[float]:
    """Average accuracy over the tasks seen, after each task: the 'forgetting curve' of a run."""
    return [average_accuracy(R[: i + 1]) for i in range(len(R))]


def summarize(R, random_init) -> dict:
    return {
        "avg_acc": average_accuracy(R),
        "forgetting": forgetting(R),
        "bwt": backward_transfer(R),
        "fwt": forward_transfer(R, random_init),
    }
