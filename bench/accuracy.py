"""Accuracy suites: published-preset runs of every strategy through the clcore Python API.

    python -m bench.accuracy --suite split-mnist --seeds 0,1,2 --out bench/results/split-mnist.json
    python -m bench.accuracy --suite permuted-mnist --seeds 0,1,2 --out bench/results/permuted-mnist.json

One record per (preset, seed) is appended to the output JSON right after the run finishes (the file is
rewritten atomically), and (preset, seed) pairs already present are skipped, so an interrupted suite
resumes where it stopped. Seeds are the outer loop: every preset of seed 0 runs before any of seed 1.
All runs use device='cpu' and eval_every=0 (no live evaluations; the accuracy matrix is still measured
on the full test sets at every task end).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from clcore import PRESETS, STRATEGIES

from ._common import RESULTS_DIR, environment, read_json, set_threads, write_json

# Every strategy's paper preset: Split-MNIST without a buffer or with 200 / 500 examples, Permuted-MNIST
# without a buffer or with 200 (the DER paper's settings), listed in the engine's strategy order.
SUITE_BUFFERS = {"split-mnist": (0, 200, 500), "permuted-mnist": (0, 200)}
# Strategies whose paper-scale runs have a bench of their own: MER and La-MAML in bench/meta.py (bench/META.md,
# batch-1 and look-ahead runs of minutes each), DEN in bench/den.py (bench/DEN.md: its preset takes hours on a CPU).
OWN_BENCH = {"mer", "lamaml", "den"}


def _suite(benchmark: str) -> list[str]:
    order = list(STRATEGIES)
    chosen = [
        (name, p)
        for name, p in PRESETS.items()
        if p["benchmark"] == benchmark
        and p["buffer_size"] in SUITE_BUFFERS[benchmark]
        and p["strategy"] not in OWN_BENCH
    ]
    chosen.sort(key=lambda item: (item[1]["buffer_size"], order.index(item[1]["strategy"])))
    return [name for name, _ in chosen]


SUITES = {benchmark: _suite(benchmark) for benchmark in SUITE_BUFFERS}
SCHEMA = 1


def _model_summary(entry: dict) -> dict:
    out = {k: entry.get(k) for k in ("avg_acc", "forgetting", "bwt", "fwt")}
    if "task_il" in entry:
        out["task_il_avg_acc"] = entry["task_il"]["avg_acc"]
    return out


def record_from_result(preset: str, seed: int, result: dict, elapsed_s: float) -> dict:
    """The compact per-run record the report reads (the full result JSON is not kept)."""
    task_il = result.get("task_il") or {}
    rec = {
        "preset": preset,
        "seed": seed,
        "status": result["status"],
        "message": result["message"],
        "strategy": result["config"]["strategy"],
        "buffer_size": result["config"]["buffer_size"],
        "config": result["config"],
        "reported_model": result["reported_model"],
        "model_params": result.get("model_params"),
        "avg_acc": result["avg_acc"],
        "task_il_avg_acc": task_il.get("avg_acc"),
        "forgetting": result["forgetting"],
        "bwt": result["bwt"],
        "fwt": result["fwt"],
        "task_il": task_il or None,
        "acc_matrix": result["acc_matrix"],
        "acc_matrix_task_il": result.get("acc_matrix_task_il"),
        "wall_s": result["wall_s"],
        "elapsed_s": elapsed_s,  # Run construction + training + evaluations, measured here
        "train_s": result["train_s"],
        "train_samples": result["train_samples"],
        "train_samples_per_s": result["train_samples_per_s"],
        "steps": result["steps"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if "per_model" in result:
        rec["per_model"] = {name: _model_summary(entry) for name, entry in result["per_model"].items()}
        rec["per_model_avg_acc"] = {name: entry["avg_acc"] for name, entry in result["per_model"].items()}
    return rec


def run_one(preset: str, seed: int) -> dict:
    from clcore import Run, make_config

    started = time.perf_counter()
    run = Run(make_config(preset=preset, seed=seed, eval_every=0, device="cpu"))
    result = run.run_to_end()
    return record_from_result(preset, seed, result, time.perf_counter() - started)


def _fmt(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True, choices=list(SUITES))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--out", help="result JSON (default bench/results/<suite>.json)")
    parser.add_argument("--only", help="comma-separated subset of the suite's presets")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the machine is shared; 0 = PyTorch's default)",
    )
    args = parser.parse_args(argv)

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    presets = SUITES[args.suite]
    if args.only:
        wanted = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = sorted(set(wanted) - set(presets))
        if unknown:
            parser.error(f"--only: {unknown} are not in suite {args.suite}; choose from {', '.join(presets)}")
        presets = [p for p in presets if p in wanted]
    out = Path(args.out) if args.out else RESULTS_DIR / f"{args.suite}.json"
    threads = set_threads(args.threads)

    data = read_json(out, None) or {"schema": SCHEMA, "suite": args.suite, "runs": []}
    if data.get("suite") != args.suite:
        parser.error(f"{out} holds suite {data.get('suite')!r}, not {args.suite!r}")
    data["environment"] = environment(threads)
    data["presets"] = SUITES[args.suite]
    done = {(r["preset"], r["seed"]) for r in data["runs"]}

    todo = [(p, s) for s in seeds for p in presets if (p, s) not in done]
    print(
        f"suite {args.suite}: {len(todo)} runs to do, {len(seeds) * len(presets) - len(todo)} already in {out} "
        f"(torch threads: {threads})",
        flush=True,
    )
    failures = 0
    for i, (preset, seed) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {preset} seed {seed} ...", end=" ", flush=True)
        try:
            rec = run_one(preset, seed)
        except Exception as error:  # keep going; the failure is recorded and will be retried next time
            failures += 1
            print(f"ERROR {type(error).__name__}: {error}", flush=True)
            traceback.print_exc()
            continue
        rec["git"] = data["environment"]["git"]  # per record: a resumed suite may run on newer code
        data["runs"].append(rec)
        write_json(out, data)
        extra = ""
        if rec.get("per_model_avg_acc"):
            extra = " [" + ", ".join(f"{k} {v:.2f}" for k, v in rec["per_model_avg_acc"].items()) + "]"
        print(
            f"{rec['status']}: acc {_fmt(rec['avg_acc'])} task-il {_fmt(rec['task_il_avg_acc'])} "
            f"forget {_fmt(rec['forgetting'])} bwt {_fmt(rec['bwt'])} wall {rec['wall_s']:.1f}s "
            f"{_fmt(rec['train_samples_per_s'], 0)} samples/s{extra}",
            flush=True,
        )
    print(f"done: {len(data['runs'])} runs in {out}" + (f", {failures} failed" if failures else ""), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
