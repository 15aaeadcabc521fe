"""The summary of a sweep: one row per benchmark x strategy x grid point, mean ± std over its seeds.

Read from the run store (every finished cell of the grid, run now or by an earlier, interrupted sweep), printed
and written as Markdown and CSV. The std is the sample standard deviation (n - 1); one seed has none.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

from clcore.runs.store import StoredRun
from clcore.sweep.grid import Cell, point_text

# (column, how a finished run gives the value): final average accuracy, forgetting, Task-IL, wall time.
MEASURES = {
    "avg_acc": lambda result: result.get("avg_acc"),
    "forgetting": lambda result: result.get("forgetting"),
    "task_il": lambda result: (result.get("task_il") or {}).get("avg_acc"),
    "wall_s": lambda result: result.get("wall_s"),
}
HEADERS = {"avg_acc": "final avg acc", "forgetting": "forgetting", "task_il": "Task-IL", "wall_s": "wall s"}


@dataclass
class Row:
    benchmark: str
    strategy: str
    point: tuple  # the grid's axis values of the row ((name, value), ...)
    seeds: list[int]  # the seeds with a finished run
    missing: list[int]  # the seeds without one (failed, or not run yet)
    stats: dict[str, tuple[float, float | None] | None]  # measure -> (mean, std) over the seeds; None: no value

    @property
    def settings(self) -> str:
        return point_text(self.point)


def mean_std(values: list[float]) -> tuple[float, float | None] | None:
    """(mean, sample std) of the values that exist; std None for one value; None for none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summarise(cells: list[Cell], finished: dict[str, StoredRun]) -> list[Row]:
    """Rows in the grid's order; `finished`: the store's finished runs by config hash."""
    grouped: dict[tuple, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.row, []).append(cell)
    rows = []
    for (benchmark, strategy, point), members in grouped.items():
        results = {c.config.seed: finished[c.key].result or {} for c in members if c.key in finished}
        stats = {name: mean_std([get(r) for r in results.values()]) for name, get in MEASURES.items()}
        missing = [c.config.seed for c in members if c.key not in finished]
        rows.append(Row(benchmark, strategy, point, sorted(results), missing, stats))
    return rows


def _cell_text(pair) -> str:
    if pair is None:
        return "-"
    mean, std = pair
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def markdown(rows: list[Row]) -> str:
    lines = [
        f"| benchmark | strategy | settings | seeds | {' | '.join(HEADERS.values())} |",
        "| --- | --- | --- | --- |" + " --- |" * len(HEADERS),
    ]
    for row in rows:
        seeds = ",".join(map(str, row.seeds)) or "-"
        if row.missing:
            seeds += f" (missing {','.join(map(str, row.missing))})"
        values = " | ".join(_cell_text(row.stats[name]) for name in HEADERS)
        lines.append(f"| {row.benchmark} | {row.strategy} | {row.settings or '-'} | {seeds} | {values} |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["benchmark", "strategy", "settings", "seeds", "missing_seeds"]
        + [f"{name}_{part}" for name in MEASURES for part in ("mean", "std")]
    )
    for row in rows:
        values = []
        for name in MEASURES:
            mean, std = row.stats[name] or (None, None)
            values += ["" if mean is None else f"{mean:.4f}", "" if std is None else f"{std:.4f}"]
        writer.writerow(
            [row.benchmark, row.strategy, row.settings, " ".join(map(str, row.seeds)), " ".join(map(str, row.missing))]
            + values
        )
    return out.getvalue()


def write_summary(rows: list[Row], out_dir: Path) -> tuple[Path, Path]:
    """summary.md and summary.csv in `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, table = out_dir / "summary.md", out_dir / "summary.csv"
    md.write_text(markdown(rows), encoding="utf-8")
    table.write_text(csv_text(rows), encoding="utf-8")
    return md, table
