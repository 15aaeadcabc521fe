"""MER and La-MAML at paper scale, in their references' own settings (bench/META.md).

    python -m bench.meta                                   # every preset below, seed 0
    python -m bench.meta --presets mer-split-mnist-200 --seeds 0,1,2

Each preset (clcore/settings/presets.py) runs as published: full Split-MNIST for MER (mammoth's best arguments:
batch 1, lr 0.1, replay 128, beta = gamma = 1, one batch), and La-MAML with its authors' MNIST settings on
rotated and permuted MNIST (1,000 examples a task, 20 tasks, 5 glances) and on Split-MNIST (no published run).
The final average accuracy (the scenario's: Class-IL on Split-MNIST, Domain-IL on the others; Task-IL as well
where the benchmark has it) is set against the published figure where a stored source gives one
(bench/REFERENCES.md section 8). Results: bench/results/meta.json, one record per (preset, seed); a rerun
replaces its record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from clcore import PRESETS, Run, make_config

from ._common import RESULTS_DIR, environment, read_json, set_threads, write_json

# Published final average accuracy (%) of each preset's setting, with where it was read (None: none found).
PUBLISHED = {
    "mer-split-mnist-200": (81.47, "DER paper table as reproduced in the aimagelab/mammoth README (S-MNIST, Class-IL)"),
    "mer-split-mnist-500": (88.35, "DER paper table as reproduced in the aimagelab/mammoth README (S-MNIST, Class-IL)"),
    "lamaml-rotated-mnist-200": (None, "La-MAML paper Table 1: not readable from any stored source"),
    "lamaml-permuted-mnist-200": (None, "La-MAML paper Table 1: not readable from any stored source"),
    "lamaml-split-mnist-200": (None, "no published Split-MNIST run"),
}
OUT = RESULTS_DIR / "meta.json"


def run_one(preset: str, seed: int) -> dict:
    run = Run(make_config(**{**PRESETS[preset], "seed": seed, "device": "cpu", "eval_every": 0}))
    began = time.perf_counter()
    result = run.run_to_end()
    record = {
        "preset": preset,
        "seed": seed,
        "status": result["status"],
        "message": result["message"],
        "wall_s": round(time.perf_counter() - began, 1),
        "steps": result["steps"],
        "avg_acc": result["avg_acc"],
        "final_row": result["acc_matrix"][-1] if result["acc_matrix"] else None,
    }
    if "task_il" in result:
        record["task_il_avg_acc"] = result["task_il"]["avg_acc"]
    return record


def summary(records: list[dict]) -> dict:
    """Per preset: the seeds run, mean and spread of the final average accuracy, and the gap to the published figure."""
    out = {}
    for preset in dict.fromkeys(r["preset"] for r in records):
        done = [r for r in records if r["preset"] == preset and r["status"] == "finished"]
        if not done:
            continue
        accs = [r["avg_acc"] for r in done]
        published, source = PUBLISHED.get(preset, (None, ""))
        mean = statistics.mean(accs)
        out[preset] = {
            "seeds": [r["seed"] for r in done],
            "avg_acc_mean": round(mean, 2),
            "avg_acc_std": round(statistics.pstdev(accs), 2),
            "published": published,
            "published_source": source,
            "gap": None if published is None else round(mean - published, 2),
            "wall_s_per_seed": round(statistics.mean(r["wall_s"] for r in done), 1),
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.meta", description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(PUBLISHED), help="comma-separated presets (default: all)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: shared machine)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    presets = [p for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PUBLISHED]
    if unknown:
        parser.error(f"unknown preset {unknown[0]}; choose among {', '.join(PUBLISHED)}")
    threads = set_threads(args.threads)
    for preset in presets:
        for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
            print(f"{preset} seed {seed} ...", end=" ", flush=True)
            record = {**run_one(preset, seed), "environment": environment(threads)}
            # read again just before writing: several invocations may share the file (one per core)
            records = read_json(Path(args.out), {"records": []})["records"]
            records = [r for r in records if (r["preset"], r["seed"]) != (preset, seed)] + [record]
            write_json(args.out, {"records": records, "summary": summary(records)})
            task_il = f", Task-IL {record['task_il_avg_acc']:.2f} %" if "task_il_avg_acc" in record else ""
            print(f"{record['status']} in {record['wall_s']} s: {record['avg_acc']:.2f} %{task_il}", flush=True)
    finished = read_json(Path(args.out), {"records": []})["records"]
    return 0 if all(r["status"] == "finished" for r in finished if r["preset"] in presets) else 1


if __name__ == "__main__":
    sys.exit(main())
