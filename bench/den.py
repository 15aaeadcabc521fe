"""DEN in its authors' own setting, as far as two shared CPU cores allow (bench/DEN.md).

    python -m bench.den                      # the shortened setting (see SHORT below), seed 0
    python -m bench.den --epochs 20 --stage-epochs 20 --train-subset 0   # the full preset (hours on a CPU)

The authors' permuted-MNIST script (jaehong31/DEN DEN_run.py, preset den-permuted-mnist): 10 permutations,
MLP 784-312-128, Adam lr 1e-3, batch 256, 4,300 iterations a task for each stage. It prints the average over
the tasks seen of each task's test AUROC (one-vs-rest per class, averaged over the 10 classes): `avg_perf`.
This script runs that preset with fewer examples and epochs, measures the same AUROC from each task's head
(softmax probabilities) and the Task-IL accuracy, and runs the multi-head MLP (fine-tuning with one head per
task: the paper's plain "DNN" baseline) the same way for reference. Results: bench/results/den.json, one study
per setting (a rerun of a setting replaces its study).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from clcore import PRESETS, Run, make_config

from ._common import RESULTS_DIR, environment, read_json, set_threads, write_json

PRESET = "den-permuted-mnist"
# What two shared cores allow: 10,000 examples a task (of 60,000), one epoch a stage (of about 20).
SHORT = {"train_subset": 10_000, "epochs": 1, "stage_epochs": 1}


def auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve of `scores` for the boolean labels `positive` (Mann-Whitney, average ranks
    for ties): the probability that a positive outranks a negative."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = scores.argsort()
    ranks = torch.empty_like(scores, dtype=torch.float64)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    for value in scores[order][1:][scores[order][1:] == scores[order][:-1]].unique():  # ties: their mean rank
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def task_aurocs(run: Run) -> list[float]:
    """Each task's test AUROC as DEN.py's `get_performance` scores it: its head's probabilities, one class
    against the rest, averaged over the task's classes."""
    model, bench = run.strategy.model, run.benchmark
    model.eval()
    out = []
    for task in bench.tasks:
        x, y = bench.test_set(task)
        probs = model.forward_task(x, task.index).softmax(1)
        out.append(sum(auroc(probs[:, c], y == c) for c in task.classes) / len(task.classes))
    return out


def run_one(strategy: str, seed: int, train_subset: int, epochs: int, stage_epochs: int) -> dict:
    preset = dict(PRESETS[PRESET])
    params = {**preset.pop("params"), "stage_epochs": stage_epochs} if strategy == "den" else {}
    settings = {**preset, "strategy": strategy, "params": params, "epochs": epochs, "seed": seed}
    settings.update(device="cpu", eval_every=0, train_subset=train_subset or None)
    run = Run(make_config(**settings))
    began = time.perf_counter()
    result = run.run_to_end()
    record = {
        "strategy": strategy,
        "seed": seed,
        "status": result["status"],
        "message": result["message"],
        "wall_s": round(time.perf_counter() - began, 1),
        # the preset's scenario is Task-IL: the run's own accuracy is the one with the task id given
        "task_il_avg_acc": result["avg_acc"],
        "task_il_final_row": result["acc_matrix"][-1],
        "auroc_per_task": task_aurocs(run),
        "param_count": sum(p.numel() for p in run.strategy.model.parameters()),
    }
    record["auroc_avg"] = sum(record["auroc_per_task"]) / len(record["auroc_per_task"])
    if strategy == "den":
        reports = run.record.strategy_reports
        record["units_per_task"] = [r.units for r in reports]
        record["added_per_task"] = [r.added for r in reports]
        record["duplicated_per_task"] = [r.duplicated for r in reports]
        record["selected_per_task"] = [r.selected for r in reports]
        record["loss_after_selective"] = [r.loss for r in reports]
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.den", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--train-subset", type=int, default=SHORT["train_subset"], help="examples a task (0: all)")
    parser.add_argument("--epochs", type=int, default=SHORT["epochs"], help="epochs of selective retraining")
    parser.add_argument("--stage-epochs", type=int, default=SHORT["stage_epochs"], help="epochs of each later stage")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: shared machine)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "den.json"))
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    runs = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        for strategy in ("den", "multihead"):
            print(f"{strategy} seed {seed} ...", end=" ", flush=True)
            record = run_one(strategy, seed, args.train_subset, args.epochs, args.stage_epochs)
            runs.append(record)
            print(
                f"{record['status']} in {record['wall_s']} s: AUROC {record['auroc_avg']:.4f}, "
                f"Task-IL {record['task_il_avg_acc']:.2f} %, {record['param_count']:,} parameters",
                flush=True,
            )
    settings = {"train_subset": args.train_subset, "epochs": args.epochs, "stage_epochs": args.stage_epochs}
    data = read_json(Path(args.out), {"preset": PRESET, "preset_settings": PRESETS[PRESET], "studies": []})
    studies = [s for s in data["studies"] if s["settings"] != settings]  # a rerun replaces its own study
    studies.append({"settings": settings, "environment": environment(threads), "runs": runs})
    write_json(args.out, {**data, "studies": studies})
    return 0 if all(r["status"] == "finished" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
