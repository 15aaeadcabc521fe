"""Each strategy's own view in the Playground: what the method is doing, drawn from the data its
strategy exposes (per-step statistics in `snap.step_stats`, task-end reports in `snap.reports`).

One module per strategy (or family) registers its drawing function by strategy name with `@view(...)`.
Live views redraw with the other live charts while training (pages/playground.py, LIVE_REFRESH_S);
`at_task_end=True` views are drawn with the page, which reruns when a task ends. A view gets the run's RunSnapshot (a
consistent copy, clcore.runs.run) and the LiveRun (for the benchmark's geometry, e.g. to un-permute maps); task-end
reports are the strategy's own typed dataclasses (Strategy.report_type).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyView:
    draw: Callable  # draw(snap, live) -> None
    at_task_end: bool


VIEWS: dict[str, StrategyView] = {}
# Strategies whose behaviour the Playground's common views already show in full: the loss, the
# forgetting curves and the heatmap (finetune, joint, LwF), plus the buffer composition (ER, DER, DER++).
COMMON_VIEWS_ONLY = frozenset({"finetune", "joint", "lwf", "er", "der", "derpp"})


def view(*strategies: str, at_task_end: bool = False):
    def register(draw):
        for name in strategies:
            if name in VIEWS:
                raise ValueError(f"two views for strategy {name}")
            VIEWS[name] = StrategyView(draw, at_task_end)
        return draw

    return register


def draw(snap, live, at_task_end: bool) -> None:
    entry = VIEWS.get(snap.strategy)
    if entry is not None and entry.at_task_end == at_task_end:
        entry.draw(snap, live)


def has_task_end_view(strategy: str) -> bool:
    return strategy in VIEWS and VIEWS[strategy].at_task_end


for _module in pkgutil.iter_modules(__path__):  # every view module registers itself on import
    importlib.import_module(f"{__name__}.{_module.name}")
