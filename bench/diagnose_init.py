"""Diagnostic: does mammoth's MLP initialisation explain the gap to the published S-MNIST figures?

    python -m bench.diagnose_init [--presets clser-split-mnist-200,er-split-mnist-200] [--seeds 0,1,2,3,4]

Up to commit ab337c6, clcore's MLP kept PyTorch's default nn.Linear initialisation (weights and biases
uniform in ±1/sqrt(fan_in)); mammoth's MNISTMLP (used by the DER and CLS-ER papers) applies `xavier` from
backbone/__init__.py: weights uniform in ±sqrt(6 / (fan_in + fan_out)), biases 0. This script runs each
preset with both initialisations on the same seeds (clcore itself is not modified: the Xavier variant
re-initialises the run's model in place after Run() is built, from a generator seeded with the run's
seed, and re-syncs CLS-ER's two EMA copies). Records go to bench/results/diagnose-init.json (resumable).

The committed diagnose-init.json was produced on commit 218b68c, where "default" meant PyTorch's init.
Since ab337c6 clcore's MLP itself uses Xavier-uniform weights and zero biases, so on the current engine
both arms are Xavier (with different random draws) and the script no longer measures the init change.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
from torch import nn

from ._common import RESULTS_DIR, environment, read_json, set_threads, write_json
from .accuracy import record_from_result


def mammoth_xavier_(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                fan_out, fan_in = m.weight.shape
                a = math.sqrt(3.0) * math.sqrt(2.0 / (fan_in + fan_out))
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * a - a)
                if m.bias is not None:
                    m.bias.zero_()


def run_variant(preset: str, seed: int, init: str) -> dict:
    from clcore import Run, make_config

    started = time.perf_counter()
    run = Run(make_config(preset=preset, seed=seed, eval_every=0, device="cpu"))
    if init == "xavier":
        strategy = run.strategy
        mammoth_xavier_(strategy.model, seed)
        for copy_name in ("plastic", "stable"):  # CLS-ER's EMA models start as copies of the model
            if hasattr(strategy, copy_name):
                getattr(strategy, copy_name).load_state_dict(strategy.model.state_dict())
    result = run.run_to_end()
    rec = record_from_result(preset, seed, result, time.perf_counter() - started)
    rec["init"] = init
    return rec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnose_init")
    parser.add_argument("--presets", default="clser-split-mnist-200,er-split-mnist-200")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--inits", default="default,xavier")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS_DIR / "diagnose-init.json"))
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    data = read_json(args.out, None) or {"purpose": __doc__.split("\n\n")[0], "runs": []}
    data["environment"] = environment(threads)
    done = {(r["preset"], r["seed"], r["init"]) for r in data["runs"]}
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        for preset in args.presets.split(","):
            for init in args.inits.split(","):
                if (preset, seed, init) in done:
                    continue
                rec = run_variant(preset, seed, init)
                data["runs"].append(rec)
                write_json(args.out, data)
                print(
                    f"{preset:24s} seed {seed} init {init:8s} acc {rec['avg_acc']:.2f} "
                    f"task-il {rec['task_il_avg_acc']:.2f} wall {rec['wall_s']:.1f}s",
                    flush=True,
                )
    print("\nmean ± std over seeds " + ",".join(map(str, seeds)) + ":")
    import statistics

    for preset in args.presets.split(","):
        for init in args.inits.split(","):
            accs = [
                r["avg_acc"] for r in data["runs"] if r["preset"] == preset and r["init"] == init and r["seed"] in seeds
            ]
            if accs:
                sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
                print(f"  {preset:24s} {init:8s} {statistics.fmean(accs):6.2f} ± {sd:.2f}  (n={len(accs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
