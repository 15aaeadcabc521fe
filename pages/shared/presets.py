"""Presets of the Playground: lecture demos and the engine's paper settings (clcore.PRESETS: full data,
minutes on a CPU).

A lecture preset is a strategy on a benchmark at its recommended settings (clcore.settings.recommended: the same run as
that strategy's "Try it" on the Learn page), plus any setting the lecture changes on purpose. Its time is the
one `python -m bench.demo` measured for that recommended run (bench/DEMO.md); the About page and the preset's
note show it, and say "not measured" until the search has run.

Each lecture preset's title and description are catalog texts, `presets.<name>.title` / `.description`
(pages/shared/i18n.py); `lecture_title(name)` and `lecture_description(name)` give them in the active language,
the description with the preset's number of tasks and buffer size filled in.
"""

from __future__ import annotations

from clcore import PRESETS
from clcore.settings.recommended import expected, recommended_settings

from .i18n import t

PAPER_PREFIX = "paper:"

# Lecture presets: strategy and benchmark; any other key (a RunConfig field) overrides the recommended value.
LECTURE_PRESETS: dict[str, dict] = {
    "forgetting-30s": dict(strategy="finetune", benchmark="split-mnist"),
    "replay": dict(strategy="er", benchmark="split-mnist"),
    "ewc-permuted": dict(strategy="ewc", benchmark="permuted-mnist"),
    "clser": dict(strategy="clser", benchmark="split-mnist"),
    "joint": dict(strategy="joint", benchmark="split-mnist"),
}


def lecture_settings(name: str) -> dict:
    """RunConfig fields of a lecture preset: the recommended settings of its strategy on its benchmark, with
    its own values on top."""
    preset = LECTURE_PRESETS[name]
    return {**recommended_settings(preset["strategy"], preset["benchmark"]), **preset}


def lecture_wall_s(name: str) -> float | None:
    """Seconds the preset's run took when bench.demo measured it (its slowest of three seeds); None if not
    measured. Only a preset without overrides is that run."""
    preset = LECTURE_PRESETS[name]
    if set(preset) != {"strategy", "benchmark"}:
        return None
    return (expected(preset["strategy"], preset["benchmark"]) or {}).get("wall_s")


def preset_choices() -> list[str]:
    """Options of the preset menu: '' (none), the lecture presets, then 'paper:<engine preset>'."""
    return ["", *LECTURE_PRESETS, *(PAPER_PREFIX + name for name in PRESETS)]


def lecture_title(name: str) -> str:
    return t(f"presets.{name}.title")


def lecture_description(name: str) -> str:
    settings = lecture_settings(name)
    return t(f"presets.{name}.description", tasks=settings.get("n_tasks"), buffer=settings.get("buffer_size"))


def preset_title(choice: str) -> str:
    if not choice:
        return t("presets.choose")
    if choice in LECTURE_PRESETS:
        return lecture_title(choice)
    if choice.startswith(PAPER_PREFIX):
        return t("presets.paper_title", name=choice[len(PAPER_PREFIX) :])
    return choice


def preset_settings(choice: str) -> dict | None:
    """RunConfig fields of a preset menu choice (also accepts an engine preset's bare name)."""
    if choice in LECTURE_PRESETS:
        return lecture_settings(choice)
    name = choice[len(PAPER_PREFIX) :] if choice.startswith(PAPER_PREFIX) else choice
    if name in PRESETS:
        return dict(PRESETS[name])
    return None


def preset_note(choice: str) -> str:
    if choice in LECTURE_PRESETS:
        measured = lecture_wall_s(choice)
        if measured:
            return t("presets.note_measured", description=lecture_description(choice), seconds=f"{measured:.0f}")
        return lecture_description(choice)
    if preset_settings(choice):
        return t("presets.paper_note")
    return ""
