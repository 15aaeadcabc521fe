"""Presets of the Playground: lecture demos (small, each finishes in well under a minute on a 2-core
CPU) and the engine's paper settings (clcore.PRESETS: full data, minutes on a CPU).

`measured_s` is the wall time of `Run(make_config(**settings)).run_to_end()` through the engine, measured
with `python -m pages.shared.presets` on the reference machine (2 CPU cores, no GPU, torch CPU build);
`measured_cpu_s` is the process CPU time of the same run. The machine was shared with other jobs while
measuring (load average about 4.5 on the 2 cores), so the wall times are upper bounds; in the app a run
takes somewhat longer because the live views redraw while it trains. The About page shows them.

Each lecture preset's title and description are catalog texts, `presets.<name>.title` / `.description`
(pages/shared/i18n.py); `lecture_title(name)` and `lecture_description(name)` give them in the active language.
"""
from __future__ import annotations

from clcore import PRESETS

from .i18n import t

PAPER_PREFIX = "paper:"

# Lecture presets: settings are RunConfig fields (what `clcore.make_config` takes).
LECTURE_PRESETS: dict[str, dict] = {
    "forgetting-30s": {
        "settings": dict(benchmark="split-mnist", strategy="finetune", epochs=1, batch_size=10, lr=0.03,
                         optimizer="sgd", model="mlp", hidden=(100, 100), train_subset=2000, eval_subset=300,
                         seed=0),
        "measured_s": 4.9, "measured_cpu_s": 4.7,
    },
    "replay": {
        "settings": dict(benchmark="split-mnist", strategy="er", buffer_size=200, replay_batch_size=10,
                         epochs=1, batch_size=10, lr=0.1, optimizer="sgd", model="mlp", hidden=(100, 100),
                         train_subset=2000, eval_subset=300, seed=0),
        "measured_s": 3.1, "measured_cpu_s": 2.9,
    },
    "ewc-permuted": {
        "settings": dict(benchmark="permuted-mnist", n_tasks=5, strategy="ewc",
                         params=dict(ewc_lambda=10.0, gamma=1.0, fisher_samples=1000), epochs=1, batch_size=10,
                         lr=0.1, optimizer="sgd", model="mlp", hidden=(100, 100), train_subset=3000,
                         eval_subset=300, seed=0),
        "measured_s": 10.5, "measured_cpu_s": 10.0,
    },
    "clser": {
        "settings": dict(benchmark="split-mnist", strategy="clser", buffer_size=200, replay_batch_size=32,
                         params=dict(reg_weight=1.0, plastic_freq=1.0, plastic_alpha=0.95, stable_freq=0.9,
                                     stable_alpha=0.99),
                         epochs=1, batch_size=10, lr=0.05, optimizer="sgd", model="mlp", hidden=(100, 100),
                         train_subset=3000, eval_subset=300, seed=0),
        "measured_s": 5.8, "measured_cpu_s": 5.6,
    },
    "joint": {
        "settings": dict(benchmark="split-mnist", strategy="joint", epochs=1, batch_size=10, lr=0.03,
                         optimizer="sgd", model="mlp", hidden=(100, 100), train_subset=2000, eval_subset=300,
                         seed=0),
        "measured_s": 1.4, "measured_cpu_s": 1.3,
    },
}


def preset_choices() -> list[str]:
    """Options of the preset menu: '' (none), the lecture presets, then 'paper:<engine preset>'."""
    return ["", *LECTURE_PRESETS, *(PAPER_PREFIX + name for name in PRESETS)]


def lecture_title(name: str) -> str:
    return t(f"presets.{name}.title")


def lecture_description(name: str) -> str:
    return t(f"presets.{name}.description")


def preset_title(choice: str) -> str:
    if not choice:
        return t("presets.choose")
    if choice in LECTURE_PRESETS:
        return lecture_title(choice)
    if choice.startswith(PAPER_PREFIX):
        return t("presets.paper_title", name=choice[len(PAPER_PREFIX):])
    return choice


def preset_settings(choice: str) -> dict | None:
    """RunConfig fields of a preset menu choice (also accepts an engine preset's bare name)."""
    if choice in LECTURE_PRESETS:
        return dict(LECTURE_PRESETS[choice]["settings"])
    name = choice[len(PAPER_PREFIX):] if choice.startswith(PAPER_PREFIX) else choice
    if name in PRESETS:
        return dict(PRESETS[name])
    return None


def preset_note(choice: str) -> str:
    if choice in LECTURE_PRESETS:
        measured = LECTURE_PRESETS[choice].get("measured_s")
        if measured:
            return t("presets.note_measured", description=lecture_description(choice), seconds=f"{measured:.0f}")
        return lecture_description(choice)
    if preset_settings(choice):
        return t("presets.paper_note")
    return ""


def measure(names=None) -> dict[str, tuple[float, float]]:
    """Time each lecture preset through the engine: {name: (wall s, CPU s)}."""
    import time

    from clcore import Run, make_config

    out = {}
    for name in names or LECTURE_PRESETS:
        wall, cpu = time.perf_counter(), time.process_time()
        result = Run(make_config(**LECTURE_PRESETS[name]["settings"])).run_to_end()
        out[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(f"{name:<16} {out[name][0]:6.1f} s wall {out[name][1]:6.1f} s CPU  avg acc {result['avg_acc']:.1f}  "
              f"status {result['status']}", flush=True)
    return out


if __name__ == "__main__":  # python -m pages.shared.presets
    measure()
