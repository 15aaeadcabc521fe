"""Diagnostic: does mammoth's probability-weighted Fisher explain oEWC's Permuted-MNIST gap?

    python -m bench.diagnose_ewc [--seeds 0,1,2] [--preset ewc-permuted-mnist]

clcore's online EWC uses the empirical Fisher mean_i (d log p(y_i|x_i)/d theta)^2. mammoth's ewc_on
(the DER paper's numbers) weights each sample's squared gradient by p(y_i|x_i) (its `exp_cond_prob`,
bench/REFERENCES.md §4.1), which makes the Fisher, and so the penalty at the same lambda, smaller.
This script runs the preset with that weighting, everything else unchanged: the Fisher function that
clcore's EWC module calls is replaced, inside this process only, by the same exact closed form for
linear layers with each sample's delta^2 scaled by p(y_i|x_i). clcore's files are not modified.
Records go to bench/results/diagnose-ewc.json (resumable); the unweighted runs are the suite's own.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

from ._common import RESULTS_DIR, environment, read_json, set_threads, write_json
from .accuracy import record_from_result


def mammoth_fisher(model: nn.Module, x, y, logit_fn=None, chunk: int = 1024) -> dict:
    """mean_i p(y_i|x_i) * (d log p(y_i|x_i) / d theta)^2 for a network of linear layers (exact)."""
    layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    others = [
        m for m in model.modules() if next(m.parameters(False), None) is not None and not isinstance(m, nn.Linear)
    ]
    if others:
        raise NotImplementedError("mammoth_fisher handles networks of linear layers only")
    seen = {}
    hooks = [
        m.register_forward_hook(lambda _m, inp, out, name=name: seen.__setitem__(name, (inp[0], out)))
        for name, m in layers.items()
    ]
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}
    was_training = model.training
    model.eval()
    try:
        step = max(chunk, 1024)
        for start in range(0, len(x), step):
            with torch.enable_grad():
                logits = model(x[start : start + step])
                if logit_fn is not None:
                    logits = logit_fn(logits)
                ll = torch.log_softmax(logits, 1).gather(1, y[start : start + step, None]).squeeze(1)
                deltas = torch.autograd.grad(ll.sum(), [seen[name][1] for name in layers])
            weight = ll.detach().exp()[:, None]  # p(y_i | x_i): mammoth's exp_cond_prob
            for (name, layer), delta in zip(layers.items(), deltas):
                a = seen[name][0].detach()
                fisher[f"{name}.weight"] += (weight * delta.pow(2)).T @ a.pow(2)
                if layer.bias is not None:
                    fisher[f"{name}.bias"] += (weight * delta.pow(2)).sum(0)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {k: v / max(1, len(x)) for k, v in fisher.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnose_ewc")
    parser.add_argument("--preset", default="ewc-permuted-mnist")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS_DIR / "diagnose-ewc.json"))
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)

    import clcore.strategies.ewc as ewc_module
    from clcore import Run, make_config

    ewc_module.empirical_fisher = mammoth_fisher  # this process only

    data = read_json(args.out, None) or {"purpose": __doc__.split("\n\n")[0], "runs": []}
    data["environment"] = environment(threads)
    done = {(r["preset"], r["seed"]) for r in data["runs"]}
    for seed in [int(s) for s in args.seeds.split(",")]:
        if (args.preset, seed) in done:
            continue
        started = time.perf_counter()
        result = Run(make_config(preset=args.preset, seed=seed, eval_every=0, device="cpu")).run_to_end()
        rec = record_from_result(args.preset, seed, result, time.perf_counter() - started)
        rec["fisher"] = "mammoth (p-weighted)"
        rec["git"] = data["environment"]["git"]
        data["runs"].append(rec)
        write_json(args.out, data)
        print(
            f"{args.preset} seed {seed} p-weighted Fisher: acc {rec['avg_acc']:.2f} forget {rec['forgetting']:.2f} "
            f"wall {rec['wall_s']:.0f}s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
