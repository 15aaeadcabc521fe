"""`python -m clcore list | run | runs | sweep | tune`: the command-line contract other tools rely on."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from clcore.data.benchmarks import BENCHMARKS, boundary_note
from clcore.errors import ConfigError, DataUnavailable
from clcore.runs.events import BatchEnd, TaskEnd
from clcore.runs.results import write_result
from clcore.runs.state import RunState
from clcore.runs.store import STORE_ENV, RunStore, StoreUnavailable, default_store_path
from clcore.settings.config import FIELDS, make_config
from clcore.settings.declaration import LAYERS, SETTINGS, Setting
from clcore.settings.presets import PRESETS
from clcore.settings.recommended import recommended_settings, with_recommended
from clcore.strategies import REGISTRY
from clcore.sweep.commands import add_commands as add_sweep_commands
from clcore.sweep.commands import sweep_command, tune_command

CLI_WORKSPACE = "cli"  # the workspace of the CLI's runs in a run store (never one of the app's hex workspaces)
STORE_HELP = f"the run store (default: ${STORE_ENV}, else data/runs.sqlite, the app's store)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        sys.stderr.write(f"clcore: {message} (see python -m clcore {self.prog.split()[-1]} --help)\n")
        sys.exit(2)


def _parse_param(text: str):
    if "=" not in text:
        raise ConfigError("params", "param_syntax", value=text)
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _option_help(setting: Setting) -> str:
    """A setting's help on the command line: the declared help, its choices or range, and its default."""
    if setting.choices is not None:
        extra = f"one of {', '.join(setting.choices)}"
    elif setting.low is not None:
        extra = f"{'above' if setting.low_open else 'from'} {setting.low} to {setting.high}"
    else:
        extra = ""
    if setting.default is None:
        default = ""
    else:
        shown = ",".join(map(str, setting.default)) if setting.kind == LAYERS else setting.default
        default = f"default {shown}"
    details = "; ".join(part for part in (extra, default) if part)
    return f"{setting.help}; {details}" if details else setting.help


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clcore", description="Continual-learning engine of the Playground.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    lister = sub.add_parser("list", help="benchmarks, strategies with their parameters, presets")
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    run = sub.add_parser(
        "run",
        help="train one strategy on one task sequence",
        description="Options not given take the recommended settings of the strategy on the benchmark where "
        "there are some (the bundled benchmarks: clcore/strategies/recommended.json, written by "
        "python -m bench.demo, see bench/DEMO.md), else the defaults shown below. --no-recommended "
        "gives the defaults below; with --preset, the preset's settings are the base instead.",
    )
    arg = run.add_argument
    for setting in SETTINGS:
        arg(setting.flag, *setting.flag_aliases, dest=setting.name, help=_option_help(setting))
    arg(
        "--no-recommended",
        action="store_true",
        help="the defaults below for every option not given, not the recommended settings",
    )
    arg(
        "--param",
        action="append",
        default=[],
        help="strategy parameter name=value (repeatable; replaces that one parameter, the others stay)",
    )
    arg("--out", help="write the result JSON here")
    arg(
        "--store",
        nargs="?",
        const="",
        metavar="PATH",
        help=f"record the run in a run store, saved at every task end and at the end ({STORE_HELP}); "
        "python -m clcore runs lists them",
    )
    arg("--quiet", action="store_true", help="no progress bar and no notes on stderr (errors only)")
    arg(
        "--checkpoint",
        metavar="PATH",
        help="save the run here as it trains (atomically: a kill mid-write leaves the previous checkpoint); "
        "--resume PATH continues it",
    )
    arg(
        "--checkpoint-every",
        default="task",
        metavar="WHEN",
        help="with --checkpoint (or --resume): task (each task end, the default), epoch, or a number of batches",
    )
    arg(
        "--resume",
        metavar="PATH",
        help="continue the run checkpointed at PATH, with its settings (options that differ are an error); it "
        "goes on saving to PATH unless --checkpoint names another file",
    )
    arg(
        "--log",
        metavar="LOGGERS",
        help="write loss, accuracy matrix and strategy signals as the run trains: tensorboard, csv or tensorboard,csv",
    )
    arg(
        "--log-dir",
        metavar="DIR",
        help="the loggers' folder (default: runs/<strategy>-<benchmark>-seed<seed>-<time>); give the same one "
        "with --resume to continue its curves",
    )
    runs = sub.add_parser("runs", help="the runs recorded in a run store (the app's and clcore run --store's)")
    runs.add_argument("--store", metavar="PATH", help=STORE_HELP)
    runs.add_argument("--json", action="store_true", help="machine-readable output")
    add_sweep_commands(sub)
    return parser


def _list(as_json: bool) -> None:
    info = {
        "benchmarks": [
            {"name": b.name, "kind": b.kind, "default_tasks": b.default_tasks, "offline": b.bundled, "help": b.help}
            for b in BENCHMARKS.values()
        ],
        "strategies": [cls.describe() for cls in REGISTRY.values()],
        "presets": PRESETS,
    }
    if as_json:
        print(json.dumps(info, indent=1, default=list))
        return
    print("Benchmarks:")
    for b in BENCHMARKS.values():
        where = "bundled, offline" if b.bundled else "downloaded once"
        print(f"  {b.name:<22} {b.default_tasks:>3} tasks  ({where})  {b.help}")
    print("\nStrategies (--strategy NAME, --param name=value):")
    for cls in REGISTRY.values():
        buffer = "  [needs --buffer-size]" if cls.uses_buffer else ""
        print(f"  {cls.name:<10} {cls.summary}{buffer}")
        for p in cls.params:
            print(f"      {p.name:<15} default {p.default!s:<8} range {p.low}..{p.high}  {p.help}")
    print("\nPresets (--preset NAME):")
    for name, p in PRESETS.items():
        extra = " ".join(f"{k}={v}" for k, v in p.get("params", {}).items())
        print(f"  {name:<28} lr={p['lr']} batch={p['batch_size']} replay={p.get('replay_batch_size', '-')} {extra}")


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, run, quiet: bool):
        self.run, self.quiet, self.last = run, quiet, 0.0
        n = sum(len(t.train_idx) for t in run.benchmark.tasks)
        self.total_steps = max(1, -(-n // run.config.batch_size) * run.config.epochs)

    def __call__(self, event):
        if self.quiet or not isinstance(event, (BatchEnd, TaskEnd)):
            return
        now = time.perf_counter()
        if isinstance(event, BatchEnd) and now - self.last < 0.2:
            return
        self.last = now
        run = self.run
        frac = min(1.0, run.step / self.total_steps)
        bar = "#" * int(frac * 30)
        speed = f"{event.samples_per_s:,.0f} samples/s" if isinstance(event, BatchEnd) else ""
        sys.stderr.write(f"\r[{bar:<30}] {frac:5.1%} task {run.task + 1}/{run.n_tasks} step {run.step} {speed:<20}")
        sys.stderr.flush()

    def close(self):
        if not self.quiet:
            sys.stderr.write("\n")


class _Recorder:
    """Records a run in a run store as the app does: saved at every task end and at the end. A store that
    cannot be opened or written leaves the run going in memory; `finish` returns why (None when saved)."""

    def __init__(self, run, path: str):
        self.run = run
        self.store = RunStore(path or None, memory_fallback=True)
        config = run.config
        label = f"{config.strategy} on {config.benchmark}, seed {config.seed}"
        self.run_id = self.store.create(CLI_WORKSPACE, config.to_dict(), label)
        run.subscribe(self)

    def __call__(self, event):
        if isinstance(event, TaskEnd):
            self.store.save(self.run_id, self.run.result(), RunState.RUNNING)

    def finish(self, result: dict) -> StoreUnavailable | None:
        self.store.save(self.run_id, result, RunState(result["status"]))
        self.store.close()
        return self.store.problem


def _runs(path: str | None, as_json: bool) -> int:
    """`clcore runs`: every run of a store (all workspaces), oldest first; damaged rows reported, skipped."""
    path = Path(path) if path else default_store_path()
    if not path.exists():
        sys.stderr.write(f"clcore: no run store at {path} (python -m clcore run --store records runs there)\n")
        return 1
    try:
        store = RunStore(path)
        runs = store.list_summaries()
    except StoreUnavailable as error:
        sys.stderr.write(f"clcore: {error}\n")
        return 1
    for run_id, reason in store.damaged_rows.items():
        sys.stderr.write(f"clcore: run {run_id} in {path} is damaged ({reason}); skipped\n")
    store.close()
    rows = [
        {
            "id": r.id,
            "workspace": r.workspace,
            "state": r.status.value,
            "strategy": r.config.get("strategy"),
            "benchmark": r.config.get("benchmark"),
            "avg_acc": (r.result or {}).get("avg_acc"),
            "label": r.label,
            "updated": r.updated,
        }
        for r in runs
    ]
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'id':>5}  {'workspace':<16} {'state':<11} {'strategy':<18} {'benchmark':<20} {'avg acc':>7}")
    for row in rows:
        print(
            f"{row['id']:>5}  {row['workspace']:<16} {row['state']:<11} {row['strategy'] or '-':<18} "
            f"{row['benchmark'] or '-':<20} {_fmt(row['avg_acc']):>7}"
        )
    return 0


def _fmt(value, suffix=""):
    return "-" if value is None else f"{value:.2f}{suffix}"


def _summary(result: dict) -> str:
    lines = [
        f"{result['config']['strategy']} on {result['config']['benchmark']} "
        f"({result['config']['scenario']}), status: {result['status']}"
    ]
    matrix = result["acc_matrix"]
    lines.append("accuracy matrix R[i][j] (%), row = after task i, column = task j:")
    lines.append("        " + " ".join(f"{'T' + str(j + 1):>6}" for j in range(len(result["tasks"]))))
    for i, row in enumerate(matrix):
        label = "all" if result["offline"] else f"T{i + 1}"
        lines.append(f"  {label:>4}  " + " ".join(f"{v:6.1f}" for v in row))
    models = result.get("per_model", {result["reported_model"]: result})
    lines.append(f"{'model':<10} {'avg acc':>8} {'forget':>8} {'BWT':>8} {'FWT':>8} {'Task-IL':>8}")
    for name, m in models.items():
        til = m.get("task_il", {}).get("avg_acc") if "task_il" in m else None
        lines.append(
            f"{name:<10} {_fmt(m['avg_acc']):>8} {_fmt(m['forgetting']):>8} {_fmt(m['bwt']):>8} "
            f"{_fmt(m['fwt']):>8} {_fmt(til):>8}"
        )
    speed = result["train_samples_per_s"]
    lines.append(
        f"wall time {result['wall_s']:.1f} s, {_fmt(speed)} training samples/s"
        + (f"; reported model: {result['reported_model']}" if "per_model" in result else "")
    )
    return "\n".join(lines)


def run_settings(args: argparse.Namespace) -> dict:
    """make_config keywords of `clcore run`: the options given (a --param per name) on top of the recommended
    settings of the strategy on the benchmark, unless --no-recommended; a preset is its own base."""
    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    given["params"] = _params(args)
    return given if args.no_recommended else with_recommended(given)


def _params(args: argparse.Namespace) -> dict:
    return dict(_parse_param(p) for p in args.param)


def _default_log_dir(run) -> str:
    config = run.config
    return f"runs/{config.strategy}-{config.benchmark}-seed{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def _recommended_note(args: argparse.Namespace, config) -> str | None:
    """The stderr line saying that recommended settings filled the options not given (None where none did)."""
    if args.no_recommended or args.preset or not recommended_settings(config.strategy, config.benchmark):
        return None
    return (
        f"clcore: recommended settings for {config.strategy} on {config.benchmark} loaded "
        "(--no-recommended for the bare defaults)"
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        _list(args.json)
        return 0
    if args.command == "runs":
        return _runs(args.store, args.json)
    if args.command == "sweep":
        return sweep_command(args)
    if args.command == "tune":
        return tune_command(args)
    # after argument parsing, so `--help` stays instant
    from clcore.runs.checkpoint import Checkpointer, CheckpointError, parse_every, resume
    from clcore.runs.loggers import LoggerError, attach_loggers
    from clcore.runs.run import Run

    try:
        every = parse_every(args.checkpoint_every)
        if args.resume:
            run = resume(args.resume, **{k: v for k, v in vars(args).items() if k in FIELDS}, params=_params(args))
        else:
            run = Run(make_config(**run_settings(args)))
        checkpoint = args.checkpoint or args.resume
        checkpointer = Checkpointer(run, checkpoint, every) if checkpoint else None
        loggers = attach_loggers(run, args.log, args.log_dir or _default_log_dir(run)) if args.log else []
    except (ConfigError, DataUnavailable, CheckpointError, LoggerError) as error:
        sys.stderr.write(f"clcore: {error}\n")
        return 2
    note = None if args.resume else _recommended_note(args, run.config)
    if note and not args.quiet:  # after the checks: bad input still gets its one line only
        sys.stderr.write(note + "\n")
    caveat = boundary_note(REGISTRY[run.config.strategy], run.config.benchmark, run.config.blurry)
    if caveat and not args.quiet:  # the method acts at task boundaries this sequence lacks or blurs
        sys.stderr.write(f"clcore: note: {caveat}\n")
    progress = _Progress(run, args.quiet)
    run.subscribe(progress)
    recorder = _Recorder(run, args.store) if args.store is not None else None
    try:
        while not run.done:
            if checkpointer:
                checkpointer.advance(seconds=0.5)
            else:
                run.advance(seconds=0.5)
    except KeyboardInterrupt:
        run.stop("interrupted (Ctrl-C)")
    except CheckpointError as error:  # the disk filled up or the folder went away: the run stops, results kept
        run.stop(str(error))
    finally:
        progress.close()
        for logger in loggers:
            logger.close()
    result = run.result()
    if args.out:
        write_result(result, args.out)
    print(_summary(result))
    store_problem = recorder.finish(result) if recorder else None
    if store_problem:  # the run itself is done and shown: its exit status stays the run's
        sys.stderr.write(f"clcore: {store_problem}\n")
    if run.status != "finished":
        sys.stderr.write(
            f"clcore: run {run.status}: {run.message}"
            + (f"; results so far written to {args.out}\n" if args.out else "\n")
        )
        return 1
    return 0
