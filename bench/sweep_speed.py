"""The same cells in sequence (one process, one after another) and through `clcore sweep` on Ray, side by side.

    python -m bench.sweep_speed                      # 4 strategies x 3 seeds on Split-MNIST, Playground scale
    python -m bench.sweep_speed --strategies er,der --seeds 0,1 --workers 2 --repeats 2

Both sides are whole commands timed from process start to exit (interpreter, torch import, Ray's start and its
workers' imports included): `python -m bench.sweep_speed sequence GRID` runs the grid's cells with the sweep's
own cell function in one process, and `python -m clcore sweep GRID --workers N` with a fresh run store. The
cells are the recommended (Playground) settings with one torch thread each; the strategies whose accuracy
matrices differ between the two sides are listed (same seeds and thread counts should give the same). With
--repeats the two alternate, sequence first. Writes
bench/results/sweep-speed.json and bench/SWEEP.md, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import BENCH_DIR, RESULTS_DIR, environment, write_json

# The slowest Split-MNIST demos (bench/DEMO.md: 8-18 s a run): Ray's start and its workers' imports cost a fixed
# 10-20 s that shorter cells do not pay back on 2 cores (--strategies er,der,... measures those).
STRATEGIES = ("generative_replay", "lamaml", "generative_negative_replay", "supsup")
RESULT_FILE = RESULTS_DIR / "sweep-speed.json"
REPORT_FILE = BENCH_DIR / "SWEEP.md"
TARGET = 1.7


def sequence(grid: Path, out: Path) -> None:
    """Every cell of `grid`, one after another in this process, as a sweep's worker runs it."""
    from clcore.sweep.executor import run_cell
    from clcore.sweep.grid import load_grid

    matrices = {}
    for cell in load_grid(grid):
        result = run_cell(cell.config.to_dict(), cell.validation)
        matrices[cell.key] = result.get("acc_matrix")
    out.write_text(json.dumps(matrices))


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    # one OpenMP thread, as Ray gives each one-CPU task: the same BLAS paths on both sides
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=BENCH_DIR.parent, env=env)
    return time.perf_counter() - started


def _sweep_matrices(store: Path) -> dict:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT config_hash, json_extract(result, '$.acc_matrix') FROM runs WHERE status='finished'")
        return {key: json.loads(matrix) for key, matrix in rows}


def measure(strategies: list[str], seeds: list[int], workers: int, repeats: int) -> dict:
    from clcore.sweep.grid import load_grid

    work = Path(tempfile.mkdtemp(prefix="sweep-speed-"))
    grid = work / "grid.json"
    grid.write_text(json.dumps({"strategies": strategies, "seeds": seeds, "settings": {"device": "cpu"}}))
    labels = {cell.key: cell.config.strategy for cell in load_grid(grid)}
    runs = []
    load_before = os.getloadavg()
    for repeat in range(repeats):
        matrices = work / f"sequence-{repeat}.json"
        seq = _timed([sys.executable, "-m", "bench.sweep_speed", "sequence", str(grid), str(matrices)])
        store = work / f"runs-{repeat}.sqlite"
        sweep_command = [sys.executable, "-m", "clcore", "sweep", str(grid), "--workers", str(workers)]
        sweep = _timed([*sweep_command, "--store", str(store), "--out", str(work / "out"), "--quiet"])
        sequence_matrices, sweep_matrices = json.loads(matrices.read_text()), _sweep_matrices(store)
        differ = sorted({labels[k] for k in labels if sequence_matrices.get(k) != sweep_matrices.get(k)})
        runs.append({"sequence_s": round(seq, 2), "sweep_s": round(sweep, 2), "matrices_differ": differ})
        print(f"repeat {repeat + 1}: sequence {seq:.1f} s, sweep {sweep:.1f} s, {seq / sweep:.2f}x, differ: {differ}")
    speedups = [r["sequence_s"] / r["sweep_s"] for r in runs]
    return {
        "cells": len(strategies) * len(seeds),
        "strategies": strategies,
        "seeds": seeds,
        "workers": workers,
        "runs": runs,
        "speedup_mean": round(statistics.fmean(speedups), 2),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "environment": environment(1),
        "command": "python -m bench.sweep_speed " + " ".join(sys.argv[1:]),
    }


def report(data: dict) -> str:
    lines = [
        "# Sweep speed: the same cells in sequence and through `clcore sweep` on Ray",
        "",
        f"Written by `{data['command'].strip()}` (bench/sweep_speed.py; raw numbers in",
        "bench/results/sweep-speed.json). Split-MNIST at the Playground's scale: each strategy's recommended",
        f"settings (1,000 examples a task, batch 10), one torch thread a run; {len(data['strategies'])} strategies",
        f"({', '.join(data['strategies'])}) x seeds {', '.join(map(str, data['seeds']))} = {data['cells']} cells.",
        "Both sides are whole commands from process start to exit: *sequence* runs the cells one after another in",
        "one process (`python -m bench.sweep_speed sequence GRID`), *sweep* is",
        f"`python -m clcore sweep GRID --workers {data['workers']}` with a fresh run store (Ray's start and its",
        "workers' torch imports included), both with one OpenMP thread a process. The last column lists the",
        f"strategies whose accuracy matrices differ between the two sides. Target: sweep at least {TARGET}x faster.",
        "",
        f"Machine: {data['environment']['cpu_count']} CPU cores, shared; load average (1, 5, 15 min) "
        f"{data['load_before']} before, {data['load_after']} after.",
        "",
        "| repeat | sequence s | sweep s | speed-up | strategies whose matrices differ |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, run in enumerate(data["runs"], 1):
        seq, sweep, differ = run["sequence_s"], run["sweep_s"], ", ".join(run["matrices_differ"]) or "-"
        lines.append(f"| {i} | {seq:.1f} | {sweep:.1f} | {seq / sweep:.2f}x | {differ} |")
    lines += ["", f"Mean speed-up: {data['speedup_mean']:.2f}x (target {TARGET}x).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sequence"]:
        sequence(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    data = measure(
        [s for s in args.strategies.split(",") if s],
        [int(s) for s in args.seeds.split(",") if s],
        args.workers,
        args.repeats,
    )
    write_json(RESULT_FILE, data)
    REPORT_FILE.write_text(report(data), encoding="utf-8")
    print(f"mean speed-up {data['speedup_mean']:.2f}x; wrote {RESULT_FILE} and {REPORT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
