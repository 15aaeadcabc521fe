"""Tuning a strategy's parameters with Optuna on the validation hold-out, trials run by the sweep's executor.

The search space is the strategy's declared parameters (each Param's range; a log scale where the range spans
two decades or more: from `low`, or from default/100 where `low` is 0), or the names given with `--param-space`
(`alpha`, `alpha=0.1:2`, `lr=0.001:0.3:log`; run settings declared by the recommended settings may be searched
too). Every trial is one run with `validation=True`: it trains on the training data less a hold-out and is
scored on that hold-out, never on the test set. Optuna's TPE sampler asks for as many trials as the executor has
free workers (ask-and-tell; its constant liar keeps trials in flight apart) and is told each score as it ends.
Trials are stored like sweep cells (by config hash, marked validation), so a tuning run started again with the
same seeds reuses the trials already finished.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

from clcore.errors import ConfigError
from clcore.runs.state import RunState
from clcore.settings.config import validate
from clcore.settings.declaration import BY_NAME
from clcore.strategies import REGISTRY
from clcore.sweep.executor import CellStore, Executor, Progress
from clcore.sweep.grid import Cell, GridError, cell_settings, point_text
from clcore.sweep.table import MEASURES

DECADES = 100.0  # a range whose high / low reaches this is searched on a log scale
METRICS = ("avg_acc", "task_il")


class TuneError(GridError):
    """A tuning request that cannot run; its text is one line."""


@dataclass(frozen=True)
class Dimension:
    name: str  # a strategy parameter as `params.<name>`, or a run setting's name
    kind: str  # "float", "int", "bool" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial):
        if self.kind == "bool":
            return trial.suggest_categorical(self.name, [False, True])
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def describe(self) -> str:
        if self.kind in ("bool", "choice"):
            return f"{self.name} in {', '.join(map(str, self.choices or (False, True)))}"
        return f"{self.name} {self.low:g}..{self.high:g}{' (log)' if self.log else ''}"


def _numeric(name: str, kind: str, low, high, default, scale: str | None) -> Dimension:
    """A number's dimension: log scale as asked (`scale`), else where the range spans DECADES: from `low`, or
    where `low` is 0 from the default (searched from default / DECADES up)."""
    if low > 0:
        floor, spans = low, high / low >= DECADES
    else:
        floor = default / DECADES if default and default > 0 else None
        spans = floor is not None and high / default >= DECADES
    log = scale == "log" or (scale is None and spans)
    if log:
        if floor is None:
            raise TuneError(f"--param-space {name}: a log scale needs a positive low bound; give {name}=LOW:HIGH:log")
        low = floor
    if kind == "int":
        low, high = (max(1, math.ceil(low)) if log else int(low)), int(high)
    if low >= high:
        raise TuneError(f"--param-space {name}: the range {low:g}..{high:g} is empty; give LOW < HIGH")
    return Dimension(name, kind, low, high, log)


def _dimension(strategy: str, item: str) -> Dimension:
    """One `--param-space` item: NAME (its declared range) or NAME=LOW:HIGH[:log|:linear]."""
    cls = REGISTRY[strategy]
    name, _, spec = item.partition("=")
    name = name.strip().removeprefix("params.")
    params = {p.name: p for p in cls.params}
    settings = {s.name: s for s in BY_NAME.values() if s.recommended}
    if name not in params and name not in settings:
        raise TuneError(
            f"--param-space: '{name}' is neither a parameter of {strategy} ({', '.join(params) or 'none'}) nor a "
            f"searchable run setting ({', '.join(settings)})"
        )
    param = params.get(name)
    declared = param or settings[name]
    key = f"params.{name}" if param else name
    choices = () if param else settings[name].choices or ()
    kind = "choice" if choices else declared.kind.__name__
    if kind in ("bool", "choice"):
        if spec:
            values = ", ".join(map(str, choices or (False, True)))
            raise TuneError(f"--param-space {name}: it takes no range; its values are {values}")
        return Dimension(key, kind, choices=choices)
    low, high, default = declared.low, declared.high, declared.default
    scale = None
    if spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "linear")):
            raise TuneError(f"--param-space {item}: write {name}=LOW:HIGH, {name}=LOW:HIGH:log or :linear")
        try:  # each bound checked by the declared range: the parameter's or setting's own message
            low, high = (param.parse(v, strategy) if param else declared.parse(v) for v in parts[:2])
        except ConfigError as error:
            raise TuneError(f"--param-space {item}: {error}") from None
        scale = parts[2] if len(parts) == 3 else None
    if low is None or high is None:
        raise TuneError(f"--param-space {name}: no declared range; give one: {name}=LOW:HIGH")
    return _numeric(key, kind, low, high, default, scale)


def search_space(strategy: str, spec: str | None) -> list[Dimension]:
    """The dimensions searched: `spec` (comma-separated `--param-space` items) or every declared parameter."""
    items = [item.strip() for item in (spec or "").split(",") if item.strip()]
    if not items:
        items = [p.name for p in REGISTRY[strategy].params]
        if not items:
            raise TuneError(f"{strategy} declares no parameters; give the settings to search, e.g. --param-space lr")
    return [_dimension(strategy, item) for item in items]


@dataclass
class TuneSpec:
    strategy: str
    benchmark: str
    trials: int
    space: list[Dimension]
    fixed: dict  # fixed settings (and `params.<name>` values) of every trial
    seed: int = 0  # the runs' seed
    sampler_seed: int = 0
    metric: str = "avg_acc"
    recommended: bool = True

    def cell(self, values: dict) -> Cell:
        """A trial's run on the validation hold-out. Raises ConfigError (values that do not go together)."""
        chosen = {**self.fixed, **values}
        config = validate(cell_settings(self.benchmark, self.strategy, self.seed, chosen, self.recommended))
        return Cell(config, validation=True, point=tuple(values.items()))

    def check(self) -> None:
        """A trial at the declared defaults must be valid: a wrong fixed setting is one line before any run."""
        try:
            validate(cell_settings(self.benchmark, self.strategy, self.seed, self.fixed, self.recommended))
        except ConfigError as error:
            raise TuneError(str(error)) from None

    def command(self, values: dict) -> str:
        """The `clcore run` line that trains the chosen settings on the full training data."""
        chosen = {**self.fixed, **values}
        words = ["python", "-m", "clcore", "run", "--strategy", self.strategy, "--benchmark", self.benchmark]
        for name, value in chosen.items():
            if name.startswith("params."):
                words += ["--param", f"{name.split('.', 1)[1]}={_text(value)}"]
            else:
                words += [BY_NAME[name].flag, _text(value)]
        return shlex.join(words + ([] if self.recommended else ["--no-recommended"]))


def _text(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def _score(spec: TuneSpec, result: dict) -> float | None:
    return MEASURES[spec.metric](result) if result.get("status") == RunState.FINISHED else None


def tune(spec: TuneSpec, executor: Executor, store: CellStore, progress: Progress) -> dict:
    """Run the study; returns what `clcore tune` writes: the best settings, its score and every trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=spec.sampler_seed))
    trials: list[dict] = []
    asked = told = 0

    def tell(trial, values: dict, result: dict, reused: bool) -> None:
        nonlocal told
        told += 1
        score = _score(spec, result)
        if score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, score)
        message = result.get("message", "") if score is None else ""
        if score is None and result.get("status") == RunState.FINISHED:
            message = f"no {spec.metric} on {spec.benchmark}"
        trials.append(dict(number=trial.number, settings=values, value=score, reused=reused, message=message))

    try:
        while told < spec.trials:
            while asked < spec.trials and executor.free > 0:
                trial, asked = study.ask(), asked + 1
                values = {d.name: d.suggest(trial) for d in spec.space}
                try:
                    cell = spec.cell(values)
                except ConfigError as error:  # e.g. min_lr above max_lr: a failed trial, the study goes on
                    tell(trial, values, {"status": RunState.FAILED.value, "message": str(error)}, reused=False)
                    progress.failure(f"trial {trial.number} ({point_text(values.items())})", str(error))
                    continue
                stored = store.finished([cell]).get(cell.key)
                if stored is not None:
                    tell(trial, values, stored.result or {}, reused=True)
                    progress.done += 1
                    continue
                executor.submit(cell, tag=(trial, values))
            for outcome in executor.wait(timeout=1.0):
                store.record(outcome)
                trial, values = outcome.tag
                tell(trial, values, outcome.result, reused=False)
                progress.ended(outcome, executor.running)
            progress.show(executor.running)
    finally:
        executor.cancel()
        progress.close()
    return _report(spec, sorted(trials, key=lambda t: t["number"]))


def _report(spec: TuneSpec, trials: list[dict]) -> dict:
    scored = [t for t in trials if t["value"] is not None]
    best = max(scored, key=lambda t: t["value"]) if scored else None
    return {
        "strategy": spec.strategy,
        "benchmark": spec.benchmark,
        "metric": spec.metric,
        "evaluated_on": "the validation hold-out of the training data (never the test set)",
        "seed": spec.seed,
        "sampler": f"optuna TPESampler(seed={spec.sampler_seed})",
        "space": [d.describe() for d in spec.space],
        "fixed": spec.fixed,
        "best": None
        if best is None
        else {"trial": best["number"], "value": best["value"], "settings": best["settings"]},
        "command": None if best is None else spec.command(best["settings"]),
        "trials": trials,
    }
