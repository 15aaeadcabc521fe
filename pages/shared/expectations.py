"""What a method should show, in words, for the Learn cards and the Playground's strategy menu and sidebar.

Two sources, both read from the engine:
- the test accuracy its recommended demo run gave (clcore.settings.recommended.expected, mean of seeds 0-2), always next
  to fine-tune's, the reference every method must beat; nothing is said while a run is not measured (None);
- where it cannot show its effect: the scenarios its strategy class declares (`weak_scenarios`, scenario ->
  reason id, the reason's text under `expect.weak.<id>`), Class-IL / Domain-IL for task-aware strategies
  (`needs_task_id`), and, from the measurements, a scenario where its recommended run came out near fine-tune.

Pure functions of the strategy and benchmark names returning text in the active language (i18n `t()`).
"""

from __future__ import annotations

from clcore import STRATEGIES
from clcore.data.benchmarks import BENCHMARKS
from clcore.settings import recommended

from .i18n import t

REFERENCE = "finetune"  # measured on every bundled benchmark
BUNDLED = tuple(name for name, info in BENCHMARKS.items() if info.bundled)
SCENARIOS = ("class-il", "domain-il", "task-il")
WITHOUT_TASK_ID = "task_id"  # the reason id of task-aware strategies outside Task-IL
# A recommended run less than this many points above fine-tune shows no effect worth a demo.
NEAR_REFERENCE = 3.0


def _scenario(scenario: str) -> str:
    return t(f"common.scenario.{scenario}")


def _title(strategy: str) -> str:
    return t(f"strategy_ui.{strategy}.title")


def _percent(value: float) -> str:
    return f"{value:.0f}"


def accuracy(measured: dict | None, scenario: str) -> float | None:
    """Mean test accuracy (%) of a measured run in `scenario`: its own scenario's, or the Task-IL accuracy that a
    split benchmark's run also reports; None if the run does not tell."""
    if measured is None:
        return None
    if measured["scenario"] == scenario:
        return measured["avg_acc"][0]
    if scenario == "task-il" and measured.get("task_il"):
        return measured["task_il"][0]
    return None


def results(strategy: str, benchmark: str) -> str | None:
    """'Class-IL ≈ 85 % vs fine-tune ≈ 19 %; Task-IL ≈ 98 % (fine-tune ≈ 96 %)': the recommended run's accuracy
    in its scenario (and Task-IL where also measured) beside fine-tune's; None while not measured."""
    measured = recommended.expected(strategy, benchmark)
    if measured is None:
        return None
    reference = None if strategy == REFERENCE else recommended.expected(REFERENCE, benchmark)
    scenarios = [measured["scenario"]]
    if measured["scenario"] != "task-il" and measured.get("task_il"):
        scenarios.append("task-il")
    parts = []
    for style, scenario in zip(("versus", "versus_aside"), scenarios):
        value, baseline = accuracy(measured, scenario), accuracy(reference, scenario)
        words = {"scenario": _scenario(scenario), "acc": _percent(value)}
        parts.append(
            t("expect.alone", **words)
            if baseline is None
            else t(f"expect.{style}", **words, reference=_percent(baseline))
        )
    return parts[0] if len(parts) == 1 else t("expect.both", first=parts[0], second=parts[1])


def benchmark_results(strategy: str, benchmark: str) -> str | None:
    """'permuted-mnist (10 tasks): Domain-IL ≈ 80 % vs fine-tune ≈ 65 %', or None while not measured."""
    shown = results(strategy, benchmark)
    if shown is None:
        return None
    settings = recommended.recommended_settings(strategy, benchmark)
    if BENCHMARKS[benchmark].kind == "stream":  # no tasks: the stream's length says what was run
        return t("expect.on_stream", benchmark=benchmark, n=f"{settings.get('train_subset', 0):,}", results=shown)
    tasks = settings.get("n_tasks", BENCHMARKS[benchmark].default_tasks)
    return t("expect.on_benchmark", benchmark=benchmark, n=tasks, results=shown)


def card_results(strategy: str) -> list[str]:
    """One line per bundled benchmark where the method's recommended run is measured."""
    return [line for benchmark in BUNDLED if (line := benchmark_results(strategy, benchmark))]


def strategy_help(descriptions: dict[str, str], benchmark: str) -> str:
    """The strategy menu's help: each strategy's description (one line each, in the given order) followed by
    what its recommended run gave on `benchmark`, under a line saying what those numbers are."""
    lines, measured = [], False
    for strategy, description in descriptions.items():
        shown = results(strategy, benchmark)
        measured = measured or shown is not None
        lines.append(description if shown is None else t("expect.tooltip_line", description=description, results=shown))
    if measured:
        lines.insert(0, t("expect.tooltip_intro", benchmark=benchmark))
    return "\n\n".join(lines)


def weakness(strategy: str, scenario: str) -> str | None:
    """The reason id (`expect.weak.<id>`) why `strategy` cannot show its effect in `scenario`, or None."""
    cls = STRATEGIES[strategy]
    if scenario in cls.weak_scenarios:
        return cls.weak_scenarios[scenario]
    if cls.needs_task_id and scenario != "task-il":
        return WITHOUT_TASK_ID
    return None


def _reason(strategy: str, reason: str, scenarios: list[str]) -> str:
    return t(f"expect.weak.{reason}", strategy=_title(strategy), scenario=" / ".join(map(_scenario, scenarios)))


def near_reference(strategy: str, benchmark: str, scenario: str) -> str | None:
    """A line when the recommended run on `benchmark` came out less than NEAR_REFERENCE points above fine-tune in
    `scenario`, else None. Not for Task-IL: fine-tune is close to the top there on split benchmarks already,
    so a small gap says nothing about the method."""
    if strategy == REFERENCE or scenario == "task-il":
        return None
    value = accuracy(recommended.expected(strategy, benchmark), scenario)
    baseline = accuracy(recommended.expected(REFERENCE, benchmark), scenario)
    if value is None or baseline is None or value >= baseline + NEAR_REFERENCE:
        return None
    return t(
        "expect.near_reference",
        strategy=_title(strategy),
        benchmark=benchmark,
        scenario=_scenario(scenario),
        acc=_percent(value),
        reference=_percent(baseline),
    )


def caveat(strategy: str, benchmark: str, scenario: str) -> str | None:
    """One line for the Playground, before Play: why this run will not show the method's effect, or None."""
    reason = weakness(strategy, scenario)
    if reason is not None:
        return _reason(strategy, reason, [scenario])
    return near_reference(strategy, benchmark, scenario)


def card_caveats(strategy: str) -> list[str]:
    """For the Learn card: each declared reason (with every scenario it applies to), then each bundled benchmark
    whose measured scenario came out near fine-tune without a declared reason."""
    by_reason: dict[str, list[str]] = {}
    for scenario in SCENARIOS:
        reason = weakness(strategy, scenario)
        if reason is not None:
            by_reason.setdefault(reason, []).append(scenario)
    measured = {benchmark: recommended.expected(strategy, benchmark) for benchmark in BUNDLED}
    near = [
        near_reference(strategy, benchmark, run["scenario"])
        for benchmark, run in measured.items()
        if run is not None and weakness(strategy, run["scenario"]) is None
    ]
    return [_reason(strategy, reason, scenarios) for reason, scenarios in by_reason.items()] + [n for n in near if n]
