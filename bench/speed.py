"""Training throughput of clcore against a bare PyTorch loop doing the same work.

    python -m bench.speed [--reps 5] [--threads 1]

Strategy `finetune` on Split-MNIST (5 tasks of 2 classes, Class-IL), MLP 784-100-100-10, SGD lr 0.03,
1 epoch, at batch size 10 and 128. The bare loop uses the same model class (clcore.models.MLP) with
the same seeded initialisation, the same data tensors (clcore.data.datasets.load_dataset('mnist')), the same
task split and per-epoch permutations drawn the same way, and only F.cross_entropy + SGD
zero_grad/backward/step. Repetitions are interleaved (bare, clcore, bare, clcore, ...) so that load
from other processes affects both alike; the figure is the median over pairs of clcore/bare.

Three clcore figures per repetition:
- train_samples_per_s from run.result(): clcore's own timer around each training step (batch assembly,
  strategy.observe, loss bookkeeping) — the figure the requirement >= 0.8 is about;
- loop samples/s: all training samples / (result wall_s minus the time spent in test-set evaluations,
  measured by wrapping the run's _evaluate method from outside): the whole training loop, generator
  yields, periodic loss reports and events included;
- whole-run samples/s: all training samples / wall-clock of Run(...) + run_to_end(), which also pays for
  building the benchmark, the initial and the per-task-end full test-set evaluations (6 x 10,000 images)
  and the event bookkeeping.
The bare loop's time covers its whole training loop (its only work). One untimed warm-up of each runs
first. The last part times one full CLS-ER run (preset clser-split-mnist-200, seed 0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from ._common import RESULTS_DIR, environment, set_threads, write_json

LR = 0.03
SEED = 0
CLASS_GROUPS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def bare_split_mnist(batch_size: int, seed: int = SEED, train_subset: int | None = None) -> dict:
    """Plain PyTorch: same model init, same tasks, index slices of a per-epoch permutation."""
    from clcore.data.datasets import load_dataset
    from clcore.models import MLP

    data = load_dataset("mnist", "cpu")
    gen = torch.Generator().manual_seed(seed)
    tasks = []
    for group in CLASS_GROUPS:  # drawn exactly as clcore.data.benchmarks does: same tasks, same batches
        idx = torch.nonzero(torch.isin(data.y_train, torch.tensor(group))).flatten()
        n_test = int(torch.isin(data.y_test, torch.tensor(group)).sum())
        idx = idx[torch.randperm(len(idx), generator=gen)]
        torch.randperm(n_test, generator=gen)  # clcore shuffles the test indices from the same stream
        tasks.append(idx[:train_subset] if train_subset else idx)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(data.image_shape, data.n_classes, (100, 100))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    order_gen = torch.Generator().manual_seed(seed)
    x_all, y_all = data.x_train, data.y_train

    samples = 0
    started = time.perf_counter()
    for idx in tasks:
        order = torch.randperm(len(idx), generator=order_gen)
        for s in range(0, len(idx), batch_size):
            chosen = idx[order[s : s + batch_size]]
            x, y = x_all[chosen], y_all[chosen]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            samples += len(y)
    elapsed = time.perf_counter() - started
    return {
        "samples": samples,
        "wall_s": elapsed,
        "samples_per_s": samples / elapsed,
        "final_loss": float(loss.detach()),
    }


def clcore_split_mnist(batch_size: int, seed: int = SEED, train_subset: int | None = None) -> dict:
    from clcore import Run, make_config

    started = time.perf_counter()
    run = Run(
        make_config(
            benchmark="split-mnist",
            strategy="finetune",
            model="mlp",
            hidden=(100, 100),
            optimizer="sgd",
            lr=LR,
            batch_size=batch_size,
            epochs=1,
            eval_every=0,
            device="cpu",
            seed=seed,
            train_subset=train_subset,
        )
    )
    # Instrumentation only (an instance attribute, clcore untouched): time the test-set evaluations so
    # that the training loop's own wall-clock (yields, bookkeeping, events included) can be separated.
    eval_s = [0.0]
    evaluate = run._evaluate

    def timed_evaluate(*args, **kwargs):
        began = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            eval_s[0] += time.perf_counter() - began

    run._evaluate = timed_evaluate
    result = run.run_to_end()
    elapsed = time.perf_counter() - started
    assert result["status"] == "finished", result["message"]
    loop_s = result["wall_s"] - eval_s[0]
    return {
        "samples": result["train_samples"],
        "train_samples_per_s": result["train_samples_per_s"],
        "result_wall_s": result["wall_s"],
        "eval_s": eval_s[0],
        "loop_s": loop_s,
        "loop_samples_per_s": result["train_samples"] / loop_s,
        "wall_s": elapsed,
        "whole_run_samples_per_s": result["train_samples"] / elapsed,
        "avg_acc": result["avg_acc"],
    }


def compare(batch_size: int, reps: int) -> dict:
    bare_split_mnist(batch_size, train_subset=500)  # warm-up (allocator, kernels, data cache)
    clcore_split_mnist(batch_size, train_subset=500)
    bare, core = [], []
    for rep in range(reps):
        bare.append(bare_split_mnist(batch_size))
        core.append(clcore_split_mnist(batch_size))
        print(
            f"  batch {batch_size:>3} rep {rep + 1}/{reps}: bare {bare[-1]['samples_per_s']:9,.0f}/s "
            f"clcore {core[-1]['train_samples_per_s']:9,.0f}/s (loop {core[-1]['loop_samples_per_s']:9,.0f}/s, "
            f"whole run {core[-1]['whole_run_samples_per_s']:9,.0f}/s, "
            f"{core[-1]['wall_s']:.2f}s vs bare {bare[-1]['wall_s']:.2f}s)",
            flush=True,
        )
    ratio_train = [c["train_samples_per_s"] / b["samples_per_s"] for b, c in zip(bare, core)]
    ratio_loop = [c["loop_samples_per_s"] / b["samples_per_s"] for b, c in zip(bare, core)]
    ratio_whole = [c["whole_run_samples_per_s"] / b["samples_per_s"] for b, c in zip(bare, core)]
    med = statistics.median
    return {
        "batch_size": batch_size,
        "reps": reps,
        "bare_samples_per_s": [b["samples_per_s"] for b in bare],
        "bare_wall_s": [b["wall_s"] for b in bare],
        "clcore_train_samples_per_s": [c["train_samples_per_s"] for c in core],
        "clcore_loop_samples_per_s": [c["loop_samples_per_s"] for c in core],
        "clcore_whole_run_samples_per_s": [c["whole_run_samples_per_s"] for c in core],
        "clcore_eval_s": [c["eval_s"] for c in core],
        "clcore_wall_s": [c["wall_s"] for c in core],
        "clcore_result_wall_s": [c["result_wall_s"] for c in core],
        "ratio_train": ratio_train,
        "ratio_loop": ratio_loop,
        "ratio_whole_run": ratio_whole,
        "median_bare_samples_per_s": med(b["samples_per_s"] for b in bare),
        "median_clcore_train_samples_per_s": med(c["train_samples_per_s"] for c in core),
        "median_clcore_loop_samples_per_s": med(c["loop_samples_per_s"] for c in core),
        "median_clcore_whole_run_samples_per_s": med(c["whole_run_samples_per_s"] for c in core),
        "median_clcore_eval_s": med(c["eval_s"] for c in core),
        "median_bare_wall_s": med(b["wall_s"] for b in bare),
        "median_clcore_wall_s": med(c["wall_s"] for c in core),
        "median_ratio_train": med(ratio_train),
        "median_ratio_loop": med(ratio_loop),
        "median_ratio_whole_run": med(ratio_whole),
        "requirement": 0.8,
        "meets_requirement": med(ratio_train) >= 0.8,
    }


def time_clser(preset: str = "clser-split-mnist-200", seed: int = SEED) -> dict:
    from clcore import Run, make_config

    started = time.perf_counter()
    result = Run(make_config(preset=preset, seed=seed, eval_every=0, device="cpu")).run_to_end()
    elapsed = time.perf_counter() - started
    return {
        "preset": preset,
        "seed": seed,
        "status": result["status"],
        "wall_s": result["wall_s"],
        "elapsed_s": elapsed,
        "train_s": result["train_s"],
        "train_samples_per_s": result["train_samples_per_s"],
        "avg_acc": result["avg_acc"],
        "per_model_avg_acc": {k: v["avg_acc"] for k, v in result.get("per_model", {}).items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions per batch size (>= 3)")
    parser.add_argument("--batch-sizes", default="10,128")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the machine is shared; 0 = PyTorch's default)",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR / "speed.json"))
    parser.add_argument("--no-clser", action="store_true", help="skip the CLS-ER wall-time run")
    args = parser.parse_args(argv)
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    threads = set_threads(args.threads)
    print(f"finetune on split-mnist, MLP 100-100, SGD lr {LR}, 1 epoch, torch threads {threads}", flush=True)

    rows = [compare(int(b), args.reps) for b in args.batch_sizes.split(",")]
    out = {
        "environment": environment(threads),
        "setup": {
            "benchmark": "split-mnist",
            "strategy": "finetune",
            "model": "mlp 100-100",
            "optimizer": "sgd",
            "lr": LR,
            "epochs": 1,
            "seed": SEED,
        },
        "comparisons": rows,
    }
    write_json(args.out, out)

    print()
    print(
        f"{'batch':>5} | {'bare samples/s':>14} | {'clcore train/s':>14} | {'ratio':>6} | {'clcore loop/s':>13} | "
        f"{'ratio':>6} | {'clcore whole-run/s':>18} | {'ratio':>6} | {'bare s':>7} | {'clcore s':>8} | >=0.8"
    )
    for r in rows:
        print(
            f"{r['batch_size']:>5} | {r['median_bare_samples_per_s']:>14,.0f} | "
            f"{r['median_clcore_train_samples_per_s']:>14,.0f} | {r['median_ratio_train']:>6.3f} | "
            f"{r['median_clcore_loop_samples_per_s']:>13,.0f} | {r['median_ratio_loop']:>6.3f} | "
            f"{r['median_clcore_whole_run_samples_per_s']:>18,.0f} | {r['median_ratio_whole_run']:>6.3f} | "
            f"{r['median_bare_wall_s']:>7.2f} | {r['median_clcore_wall_s']:>8.2f} | "
            f"{'yes' if r['meets_requirement'] else 'NO'}"
        )

    if not args.no_clser:
        clser = time_clser()
        out["clser_split_mnist_200"] = clser
        write_json(args.out, out)
        print(
            f"\nCLS-ER split-mnist buffer 200 (seed {clser['seed']}): wall_s {clser['wall_s']:.1f} s "
            f"({clser['elapsed_s']:.1f} s incl. setup), {clser['train_samples_per_s']:,.0f} training samples/s, "
            f"avg acc {clser['avg_acc']:.2f}"
        )
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
