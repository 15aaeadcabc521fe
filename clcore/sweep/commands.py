"""`python -m clcore sweep GRID` and `python -m clcore tune ...`: their options and what they do."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clcore.data.benchmarks import BENCHMARKS
from clcore.runs.store import STORE_ENV
from clcore.settings.config import FIELDS
from clcore.strategies import REGISTRY
from clcore.sweep.executor import (
    REPO_ROOT,
    CellStore,
    Executor,
    Progress,
    SweepError,
    connect,
    disconnect,
    run_cells,
)
from clcore.sweep.grid import GridError, load_grid, point_text, unknown_name
from clcore.sweep.table import markdown, summarise, write_summary
from clcore.sweep.tune import METRICS, TuneError, TuneSpec, search_space, tune

SWEEPS_DIR = REPO_ROOT / "data" / "sweeps"
STORE_HELP = (
    f"the run store that keeps finished cells, so that the same command run again only runs the missing ones "
    f"(default: ${STORE_ENV}, else data/runs.sqlite, the app's store; their workspace is 'sweep')"
)


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    arg = parser.add_argument
    arg("--workers", type=int, help="cells at a time (default: every CPU of the cluster; locally, all cores)")
    arg(
        "--address",
        help="an existing Ray cluster (host:port, ray://host:port or auto) instead of a local Ray on this machine",
    )
    arg("--store", metavar="PATH", help=STORE_HELP)
    arg("--quiet", action="store_true", help="no progress line (failed cells and errors only)")


def add_commands(sub) -> None:
    """The `sweep` and `tune` sub-commands, on the sub-parsers of `clcore`."""
    sweep = sub.add_parser(
        "sweep",
        help="run a grid of strategies x settings x seeds x benchmarks in parallel on Ray, resumable",
        description="Each cell is a full run (the recommended settings of its strategy unless the grid says "
        "otherwise), one CPU each; finished cells are kept in the run store by a hash of their config, so the "
        "same command run again (after a crash, Ctrl-C or kill -9) runs only the missing cells. Ends with the "
        "summary (mean ± std over seeds), printed and written as summary.md and summary.csv. The grid format is "
        "in clcore/sweep/grid.py and README.md; exit status 1 when a cell failed.",
    )
    sweep.add_argument("grid", help="the grid file (YAML or JSON)")
    sweep.add_argument("--out", help="where summary.md and summary.csv go (default: data/sweeps/<grid name>/)")
    _cluster_options(sweep)

    tuner = sub.add_parser(
        "tune",
        help="search a strategy's parameters with Optuna on the validation hold-out (never the test set)",
        description="Optuna's TPE sampler proposes settings; each trial is a run on the validation hold-out of the "
        "training data, run in parallel on Ray like sweep cells. Prints the best settings and the `clcore run` "
        "command for them, and writes them as JSON.",
    )
    arg = tuner.add_argument
    arg("--strategy", required=True, help="the strategy whose parameters are searched")
    arg("--benchmark", default="split-mnist", help="the task sequence (default split-mnist)")
    arg("--trials", type=int, required=True, help="how many runs to try")
    arg(
        "--param-space",
        help="what to search, comma-separated: NAME (its declared range), NAME=LOW:HIGH, NAME=LOW:HIGH:log; "
        "names are the strategy's parameters or run settings such as lr (default: every declared parameter, "
        "log scale where the range spans decades)",
    )
    arg("--set", action="append", default=[], metavar="NAME=VALUE", help="a fixed run setting (repeatable)")
    arg("--param", action="append", default=[], metavar="NAME=VALUE", help="a fixed strategy parameter (repeatable)")
    arg("--metric", choices=METRICS, default="avg_acc", help="what is maximised (default: final average accuracy)")
    arg("--seed", type=int, default=0, help="the runs' seed (default 0)")
    arg("--sampler-seed", type=int, default=0, help="the TPE sampler's seed (default 0)")
    arg("--no-recommended", action="store_true", help="start from the bare defaults, not the recommended settings")
    arg("--out", help="the JSON written (default: data/sweeps/tune-<strategy>-<benchmark>.json)")
    _cluster_options(tuner)


def _fail(message, code: int = 2) -> int:
    sys.stderr.write(f"clcore: {message}\n")
    return code


def _open_cluster(args) -> tuple[Executor | None, bool]:
    """The executor (None after saying why there is none) and whether this call connected to Ray (a process that
    is connected already, a test's, keeps its connection)."""
    if args.workers is not None and args.workers < 1:
        _fail("--workers must be at least 1")
        return None, False
    try:
        started = connect(args.address, args.workers)
    except SweepError as error:
        _fail(error)
        return None, False
    return Executor(args.workers), started


def _open_store(path: str | None) -> CellStore:
    store = CellStore(path)
    if store.problem:  # runs still go on; only resuming is lost
        sys.stderr.write(f"clcore: {store.problem}; finished cells will not be kept for a resume\n")
    return store


def sweep_command(args) -> int:
    try:
        cells = load_grid(args.grid)
    except GridError as error:
        return _fail(error)
    store = _open_store(args.store)
    finished = store.finished(cells)
    todo = [cell for cell in cells if cell.key not in finished]
    if not args.quiet:
        sys.stderr.write(f"sweep: {len(cells)} cells, {len(cells) - len(todo)} already finished, {len(todo)} to run\n")
    outcomes = []
    if todo:
        executor, started = _open_cluster(args)
        if executor is None:
            store.close()
            return 2
        try:
            outcomes = run_cells(todo, executor, store, Progress(len(todo), args.quiet))
        except KeyboardInterrupt:
            store.close()
            return _fail("sweep interrupted; the finished cells are kept: run the same command to go on", 130)
        finally:
            if started:
                disconnect()
    rows = summarise(cells, store.finished(cells))
    store.close()
    out = Path(args.out) if args.out else SWEEPS_DIR / Path(args.grid).stem
    md, table = write_summary(rows, out)
    print(markdown(rows), end="")
    failed = [o for o in outcomes if o.status != "finished"]
    if not args.quiet:
        sys.stderr.write(f"sweep: summary written to {md} and {table}\n")
    if failed:
        return _fail(f"{len(failed)} of {len(cells)} cells failed (see above); run the same command to retry them", 1)
    return 0


def _pairs(items: list[str], option: str) -> dict:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise TuneError(f"{option} '{item}' must look like name=value")
        pairs[name.strip()] = value.strip()
    return pairs


def tune_command(args) -> int:
    try:
        if args.strategy not in REGISTRY:
            raise unknown_name("strategy", args.strategy, REGISTRY)
        if args.benchmark not in BENCHMARKS:
            raise unknown_name("benchmark", args.benchmark, BENCHMARKS)
        if args.trials < 1:
            raise TuneError("--trials must be at least 1")
        fixed = _pairs(args.set, "--set")
        bad = sorted((set(fixed) - FIELDS) | (set(fixed) & {"strategy", "benchmark", "seed", "params"}))
        if bad:
            raise TuneError(f"--set {bad[0]}: not a run setting here (strategy, benchmark and seed have options)")
        fixed.update({f"params.{k}": v for k, v in _pairs(args.param, "--param").items()})
        spec = TuneSpec(
            args.strategy,
            args.benchmark,
            args.trials,
            search_space(args.strategy, args.param_space),
            fixed,
            seed=args.seed,
            sampler_seed=args.sampler_seed,
            metric=args.metric,
            recommended=not args.no_recommended,
        )
        spec.check()
    except GridError as error:
        return _fail(error)
    executor, started = _open_cluster(args)
    if executor is None:
        return 2
    store = _open_store(args.store)
    try:
        report = tune(spec, executor, store, Progress(args.trials, args.quiet, "tune"))
    except KeyboardInterrupt:
        return _fail("tuning interrupted; finished trials are kept: the same command reuses them", 130)
    finally:
        store.close()
        if started:
            disconnect()
    out = Path(args.out) if args.out else SWEEPS_DIR / f"tune-{args.strategy}-{args.benchmark}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    best = report["best"]
    if best is None:
        return _fail(f"no trial finished (see above); nothing chosen; trials written to {out}", 1)
    chosen = point_text(best["settings"].items())
    print(
        f"best of {len(report['trials'])} trials: {args.metric} {best['value']:.2f} on the validation hold-out "
        f"(trial {best['trial']}): {chosen}"
    )
    print(f"run it: {report['command']}")
    print(f"written to {out}")
    return 0
