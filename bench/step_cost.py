"""Per-step cost of the batch-10 training loop: the engine at a git revision against the working tree.

    python -m bench.step_cost [--before REV] [--reps 3] [--presets P,...] [--bare-reps 3]
    python -m bench.step_cost --profile [--tree DIR] [--steps 300]

The paper presets of fine-tune, ER-200, DER++-200 and CLS-ER-200 on Split-MNIST (batch 10, one epoch, seed 0)
run once per repetition on the engine at REV (default HEAD: the commit before an uncommitted change, checked out
by `git worktree add` into a temporary folder) and once on the working tree, alternating before / after within
each repetition so that load from other processes affects both alike. Every run is its own subprocess with one
torch thread, started from this checkout with the engine's folder first on sys.path.

The figure is the run loop's wall time: result["wall_s"] (time spent in Run.advance) minus the time spent in
test-set evaluations (Run._evaluate, timed from outside as bench/speed.py does); building the data, benchmark and
model is outside it. Reported per preset: the median over repetitions of the after / before ratio, and each side's
final average accuracy (runs are deterministic: one figure per side).

Then fine-tune through the working tree's engine against a bare PyTorch loop at batch 128 and 10
(bench.speed.compare): the loop samples/s ratio, the target being >= 0.9.

--profile prints cProfile's and torch.profiler's top entries over `--steps` steps of each preset (after 100
warm-up steps of the first task, the buffer full), for the engine in --tree (default: this checkout).

Writes bench/results/step-cost.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import BENCH_DIR, RESULTS_DIR, environment, set_threads, write_json

REPO = BENCH_DIR.parent
SEED = 0
PRESETS = ("finetune-split-mnist", "er-split-mnist-200", "derpp-split-mnist-200", "clser-split-mnist-200")
TARGET_RATIO = 0.55  # after / before, for the replay presets
TARGET_BARE = 0.9  # fine-tune's loop samples/s over the bare loop's


def _import_engine(tree: str):
    """Import clcore from `tree` (this process has not imported it yet) and check that it came from there."""
    sys.path.insert(0, tree)
    import clcore

    if not Path(clcore.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise RuntimeError(f"clcore came from {clcore.__file__}, not {tree}")
    return clcore


def _make_run(preset: str):
    from clcore import Run, make_config

    return Run(make_config(preset=preset, seed=SEED, eval_every=0, device="cpu", cpu_threads=1))


def time_run(preset: str) -> dict:
    """One full run; the loop's wall time excludes the test-set evaluations. The loop's CPU time (this process's,
    evaluations excluded too) is kept beside it: it moves less when other processes take the cores."""
    run = _make_run(preset)
    eval_s, eval_cpu_s = [0.0], [0.0]
    evaluate = run._evaluate

    def timed_evaluate(*args, **kwargs):  # instrumentation from outside: the engine is left as it is
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            return evaluate(*args, **kwargs)
        finally:
            eval_s[0] += time.perf_counter() - began
            eval_cpu_s[0] += time.process_time() - began_cpu

    run._evaluate = timed_evaluate
    began_cpu = time.process_time()
    result = run.run_to_end()
    cpu_s = time.process_time() - began_cpu
    assert result["status"] == "finished", result["message"]
    return {
        "preset": preset,
        "loop_s": result["wall_s"] - eval_s[0],
        "loop_cpu_s": cpu_s - eval_cpu_s[0],
        "eval_s": eval_s[0],
        "wall_s": result["wall_s"],
        "steps": run.step,
        "avg_acc": result["avg_acc"],
    }


def profile_run(preset: str, steps: int, top: int = 15) -> str:
    """cProfile's and torch.profiler's top entries over `steps` training steps, as text."""
    import cProfile
    import io
    import pstats

    import torch

    run = _make_run(preset)
    run.advance(batches=100)  # the initial evaluation, the buffer filled, allocations warmed up
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    run.advance(batches=steps)
    profiler.disable()
    plain_ms = (time.perf_counter() - began) * 1000 / steps
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run.advance(batches=steps)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)
    cprofile_lines = text.getvalue().strip().splitlines()
    start = next(i for i, line in enumerate(cprofile_lines) if "ncalls" in line)
    return "\n".join(
        [
            f"== {preset}: {steps} steps, {plain_ms:.3f} ms a step under cProfile",
            "-- cProfile, by own time",
            *cprofile_lines[start:],
            "-- torch.profiler, by self CPU time",
            table,
        ]
    )


def _worker(tree: str, preset: str, profile_steps: int) -> int:
    _import_engine(tree)
    set_threads(1)
    if profile_steps:
        print(profile_run(preset, profile_steps))
    else:
        print(json.dumps(time_run(preset)))
    return 0


def _in_subprocess(tree: Path, preset: str, profile_steps: int = 0) -> str:
    command = [sys.executable, "-m", "bench.step_cost", "--worker", "--tree", str(tree), "--presets", preset]
    if profile_steps:
        command += ["--profile", "--steps", str(profile_steps)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{preset} on {tree} failed:\n{done.stderr}")
    return done.stdout


def _checkout(rev: str, into: Path) -> str:
    """A detached worktree of `rev` in `into`; returns the full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "worktree", "add", "--detach", str(into), commit], cwd=REPO, capture_output=True, check=True)
    return commit


def compare_revisions(before: Path, presets: list[str], reps: int) -> dict:
    runs: dict[str, dict[str, list]] = {p: {"before": [], "after": []} for p in presets}
    for rep in range(reps):
        for preset in presets:
            for side, tree in (("before", before), ("after", REPO)):
                runs[preset][side].append(json.loads(_in_subprocess(tree, preset)))
            b, a = runs[preset]["before"][-1], runs[preset]["after"][-1]
            print(
                f"  rep {rep + 1}/{reps} {preset:<24} loop before {b['loop_s']:6.2f} s  after {a['loop_s']:6.2f} s  "
                f"({a['loop_s'] / b['loop_s']:.3f}; CPU {a['loop_cpu_s'] / b['loop_cpu_s']:.3f})  "
                f"acc {b['avg_acc']:.2f} -> {a['avg_acc']:.2f}",
                flush=True,
            )
    rows = []
    for preset, sides in runs.items():
        ratios = [a["loop_s"] / b["loop_s"] for b, a in zip(sides["before"], sides["after"])]
        cpu_ratios = [a["loop_cpu_s"] / b["loop_cpu_s"] for b, a in zip(sides["before"], sides["after"])]
        before_s = statistics.median(r["loop_s"] for r in sides["before"])
        after_s = statistics.median(r["loop_s"] for r in sides["after"])
        rows.append(
            {
                "preset": preset,
                "steps": sides["after"][0]["steps"],
                "loop_s_before": [r["loop_s"] for r in sides["before"]],
                "loop_s_after": [r["loop_s"] for r in sides["after"]],
                "ratios": ratios,
                "median_loop_s_before": before_s,
                "median_loop_s_after": after_s,
                "median_ms_per_step_before": before_s * 1000 / sides["before"][0]["steps"],
                "median_ms_per_step_after": after_s * 1000 / sides["after"][0]["steps"],
                "median_ratio": statistics.median(ratios),
                "loop_cpu_s_before": [r["loop_cpu_s"] for r in sides["before"]],
                "loop_cpu_s_after": [r["loop_cpu_s"] for r in sides["after"]],
                "cpu_ratios": cpu_ratios,
                "median_cpu_ratio": statistics.median(cpu_ratios),
                "avg_acc_before": sorted({r["avg_acc"] for r in sides["before"]}),
                "avg_acc_after": sorted({r["avg_acc"] for r in sides["after"]}),
            }
        )
    return {"reps": reps, "presets": rows}


def compare_bare(reps: int) -> list[dict]:
    from .speed import compare

    _import_engine(str(REPO))
    return [
        {
            "batch_size": r["batch_size"],
            "median_bare_samples_per_s": r["median_bare_samples_per_s"],
            "median_clcore_loop_samples_per_s": r["median_clcore_loop_samples_per_s"],
            "median_ratio_loop": r["median_ratio_loop"],
            "median_ratio_train": r["median_ratio_train"],
            "ratio_loop": r["ratio_loop"],
        }
        for r in (compare(batch, reps) for batch in (128, 10))
    ]


def print_table(revisions: dict, bare: list[dict]) -> None:
    print(
        f"\n{'preset':<24} | {'before s':>8} | {'after s':>8} | {'ms/step':>13} | {'after/before':>12} | "
        f"{'CPU ratio':>9} | acc before -> after"
    )
    for r in revisions["presets"]:
        print(
            f"{r['preset']:<24} | {r['median_loop_s_before']:>8.2f} | {r['median_loop_s_after']:>8.2f} | "
            f"{r['median_ms_per_step_before']:>5.3f}->{r['median_ms_per_step_after']:<6.3f} | "
            f"{r['median_ratio']:>12.3f} | {r['median_cpu_ratio']:>9.3f} | "
            f"{r['avg_acc_before']} -> {r['avg_acc_after']}"
        )
    for r in bare:
        print(
            f"fine-tune vs bare loop, batch {r['batch_size']:>3}: loop samples/s ratio {r['median_ratio_loop']:.3f} "
            f"(bare {r['median_bare_samples_per_s']:,.0f}/s, clcore {r['median_clcore_loop_samples_per_s']:,.0f}/s)"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="HEAD", help="git revision of the engine to compare with (default HEAD)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (>= 3)")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--bare-reps", type=int, default=3, help="repetitions of the bare-loop comparison (0: skip)")
    parser.add_argument("--profile", action="store_true", help="print the top profile entries instead")
    parser.add_argument("--steps", type=int, default=300, help="steps profiled per preset")
    parser.add_argument("--tree", default=str(REPO), help="with --profile: the checkout whose engine is profiled")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS_DIR / "step-cost.json"))
    args = parser.parse_args(argv)
    presets = args.presets.split(",")
    if args.worker:
        return _worker(args.tree, presets[0], args.steps if args.profile else 0)
    if args.profile:
        for preset in presets:
            print(_in_subprocess(Path(args.tree), preset, args.steps), flush=True)
        return 0
    if args.reps < 3:
        parser.error("--reps must be at least 3")

    threads = set_threads(1)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill still removes the worktree
    with tempfile.TemporaryDirectory(prefix="step-cost-") as tmp:
        before = Path(tmp) / "before"
        commit = _checkout(args.before, before)
        print(f"before: {args.before} = {commit[:12]}; after: the working tree; torch threads 1", flush=True)
        try:
            revisions = compare_revisions(before, presets, args.reps)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, capture_output=True)
    bare = compare_bare(args.bare_reps) if args.bare_reps else []
    out = {
        "environment": environment(threads),
        "command": "python -m bench.step_cost " + " ".join(sys.argv[1:] if argv is None else argv),
        "before": commit,
        "after": "working tree",
        "figure": "run loop wall time = result['wall_s'] - time in Run._evaluate, one torch thread",
        "targets": {"replay_ratio_at_most": TARGET_RATIO, "finetune_vs_bare_at_least": TARGET_BARE},
        "revisions": revisions,
        "finetune_vs_bare": bare,
    }
    write_json(args.out, out)
    print_table(revisions, bare)
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
