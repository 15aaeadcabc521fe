"""Recommended settings at the Playground's scale, one entry per (bundled benchmark, strategy).

The paper presets (clcore.settings.presets) reproduce published protocols on the full data: minutes a run, and some
methods' own defaults are far too slow or too strong for the Playground's small demo runs. An entry here is
what a demo run of that method should use so that pressing Play shows the method's published behaviour in
seconds: the learning rate, batch sizes, epochs, number of tasks, buffer and the method's own parameters.

The entries are data, `strategies/recommended.json`, written by `python -m bench.demo` (a search on a
validation hold-out of the training data, never the test set), together with the test accuracy each entry
gave over three seeds (`expected`), which the Learn cards and tooltips quote. The Playground, the CLI (unless
`--no-recommended`), Learn's "Try it" and the lecture presets all read them from here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from clcore.settings.declaration import SETTINGS

TABLE_PATH = Path(__file__).resolve().parents[1] / "strategies" / "recommended.json"
# The settings an entry declares; everything else (model, device, seed, live evaluation) is the user's.
DECLARED = (*(s.name for s in SETTINGS if s.recommended), "params")


@functools.cache
def table() -> dict:
    """{benchmark: {strategy: {"settings": {...}, "expected": {...} or None}}}."""
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))["entries"]


def recommended_settings(strategy: str, benchmark: str) -> dict:
    """RunConfig fields of the recommended demo run of `strategy` on `benchmark` (benchmark and strategy
    included); {} where none is declared (a downloaded benchmark, or one the method is not defined on)."""
    entry = table().get(benchmark, {}).get(strategy)
    if entry is None:
        return {}
    settings = json.loads(json.dumps(entry["settings"]))  # a deep copy: callers may change it
    return {"benchmark": benchmark, "strategy": strategy, **settings}


def expected(strategy: str, benchmark: str) -> dict | None:
    """What the recommended run gave on the test set over seeds 0-2 (bench/DEMO.md): `scenario`, `avg_acc`,
    `forgetting`, `task_il` (split benchmarks), each [mean, std], and `wall_s`. None if not measured."""
    entry = table().get(benchmark, {}).get(strategy)
    return None if entry is None else entry.get("expected")


def with_recommended(given: dict) -> dict:
    """`given` (make_config keywords; None means not given) on top of the recommended settings of its strategy
    and benchmark (fine-tune and split-MNIST when not given). A preset is its own base: nothing is added."""
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("preset"):
        return given
    base = recommended_settings(given.get("strategy", "finetune"), given.get("benchmark", "split-mnist"))
    if "classes" in given:  # explicit class groups define the number of tasks
        base.pop("n_tasks", None)
    params = {**base.pop("params", {}), **(given.get("params") or {})}
    return {**base, **given, "params": params}
