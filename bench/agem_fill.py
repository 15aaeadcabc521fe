"""A-GEM's Rotated-MNIST row with mammoth's memory fills instead of clcore's (bench/DER_TABLE.md, the note under it).

    nice -n 19 python -m bench.agem_fill --fill per-task --seeds 0-9 [--workers 2]
    nice -n 19 python -m bench.agem_fill --fill batch --seeds 0-9

clcore's A-GEM keeps a reservoir over the whole stream. mammoth's `models/agem.py` adds to its memory only at a
task's end: the version of the README that holds the DER paper's figures (commit 7ab9db9) adds buffer_size //
n_tasks random images of the finished task (`per-task`: 10 of each of the 20 tasks); the 2022 version (0d727a7)
adds one shuffled training batch of 128 by reservoir (`batch`). This swaps clcore's fill for one of those, in this
process only, and runs the DER table's A-GEM row (bench/der_table.py) on the given seeds. Results are appended to
bench/results/agem-fill.json (resumable: finished (fill, seed) pairs are skipped).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from ._common import RESULTS_DIR, read_json, set_threads, write_json
from .der_table import BY_KEY

OUT = RESULTS_DIR / "agem-fill.json"
ROW = "rot-mnist/agem-200"
FILLS = ("per-task", "batch")
MAMMOTH_BATCH = BY_KEY[ROW].settings["batch_size"]  # the 2022 fill's one training batch


def keep_nothing(*args, **kwargs) -> None:
    pass


def use_mammoth_fill(fill: str) -> None:
    """clcore's A-GEM with its memory filled at each task's end (`fill`) and never during a task."""
    import torch

    from clcore.strategies.agem import AveragedGEM

    gem_observe = AveragedGEM.observe

    def observe(self, batch):
        self.buffer.add = keep_nothing  # shadows the buffer's own add: GEM's step adds nothing during a task
        return gem_observe(self, batch)

    def end_task(self, task_index):
        task = self.benchmark.tasks[task_index]
        n = self.buffer.capacity // len(self.benchmark.tasks) if fill == "per-task" else MAMMOTH_BATCH
        pick = torch.randperm(len(task.train_idx), generator=self.generator)[:n]
        x, y = self.benchmark.train_batch(task, pick.to(task.train_idx.device))
        type(self.buffer).add(self.buffer, x, y, task_index)

    AveragedGEM.observe = observe
    AveragedGEM.end_task = end_task


def run_one(fill: str, seed: int) -> dict:
    from clcore import Run, make_config

    set_threads(1)
    use_mammoth_fill(fill)
    started = time.perf_counter()
    result = Run(make_config(**BY_KEY[ROW].settings, seed=seed, eval_every=0, device="cpu")).run_to_end()
    return {"fill": fill, "seed": seed, "avg_acc": result["avg_acc"], "wall_s": round(time.perf_counter() - started)}


def seeds_from(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last) + 1)) if last else [int(s) for s in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fill", choices=FILLS, required=True)
    parser.add_argument("--seeds", default="0-9", help="0-9 or 0,3,5")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    runs = read_json(OUT, [])
    done = {(r["fill"], r["seed"]) for r in runs}
    todo = [s for s in seeds_from(args.seeds) if (args.fill, s) not in done]
    # one process per run: the fill is swapped into clcore's A-GEM class of that process only
    with ProcessPoolExecutor(args.workers, max_tasks_per_child=1) as pool:
        for record in pool.map(run_one, [args.fill] * len(todo), todo):
            print(record, flush=True)
            runs.append(record)
            write_json(OUT, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
