"""Grid files: strategies x settings x seeds x benchmarks, read from YAML or JSON and checked before anything runs.

    benchmarks: [split-mnist]           # or `benchmark: split-mnist`
    strategies: [finetune, er]          # names, `all`, or a mapping name -> its own settings and params:
    #   strategies: {er: {buffer_size: [200, 500]}, der: {params: {alpha: [0.3, 1.0]}}}
    seeds: [0, 1, 2]                    # default [0]
    recommended: true                   # default: each cell starts from the strategy's recommended settings
    settings: {train_subset: 1000, lr: [0.03, 0.1]}

Settings go by their declared names (clcore/settings/declaration.py); a list is an axis (every value is tried),
anything else is fixed. Write `hidden` as text ("100,100"), so that a list of sizes stays an axis. Each cell is a
full RunConfig, built and validated like `clcore run` builds one (the recommended settings of its strategy on its
benchmark unless `recommended: false`, then the grid's values), with one torch thread unless `cpu_threads` says
otherwise, and is known by a hash of that config (`Cell.key`): the run store finds finished cells by it.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from clcore.data.benchmarks import BENCHMARKS
from clcore.errors import ConfigError, show
from clcore.settings.config import FIELDS, RunConfig, validate
from clcore.settings.declaration import BY_NAME, LAYERS
from clcore.settings.recommended import with_recommended
from clcore.strategies import REGISTRY

TOP_KEYS = ("benchmark", "benchmarks", "strategies", "seeds", "recommended", "settings")
GRID_FIELDS = sorted(FIELDS - {"strategy", "benchmark", "seed", "params"})  # what `settings` may hold


class GridError(ValueError):
    """A grid file that cannot be run; its text is one line saying what to change."""


@dataclass(frozen=True)
class Cell:
    config: RunConfig
    validation: bool  # evaluated on the validation hold-out of the training data (tuning), not the test set
    point: tuple[tuple[str, object], ...]  # the axis values (seed excepted) that set this cell apart: its row

    @property
    def key(self) -> str:
        return config_hash(self.config, self.validation)

    @property
    def row(self) -> tuple:
        """The summary row the cell belongs to: all its seeds share it."""
        return (self.config.benchmark, self.config.strategy, self.point)

    @property
    def label(self) -> str:
        point = f", {point_text(self.point)}" if self.point else ""
        hold_out = " (validation)" if self.validation else ""
        return f"{self.config.strategy} on {self.config.benchmark}{point}, seed {self.config.seed}{hold_out}"


def point_text(items) -> str:
    """`name value, ...` of axis values, numbers compactly."""
    return ", ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}" for name, value in items)


def config_hash(config: RunConfig, validation: bool) -> str:
    """The key of a run in the store: its fully resolved config, and whether it evaluated on the hold-out."""
    text = json.dumps({"config": config.to_dict(), "validation": validation}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()


def _axes(where: str, values: dict) -> list[tuple[str, list]]:
    """[(name, values)] of a mapping whose lists are axes and other values fixed (a one-value axis); layer sizes
    given as a list of numbers are one value."""
    axes = []
    for name, value in values.items():
        layers = name in BY_NAME and BY_NAME[name].kind == LAYERS
        if layers and isinstance(value, list) and all(isinstance(v, int) for v in value):
            value = [",".join(map(str, value))]
        value = list(value) if isinstance(value, (list, tuple)) else [value]
        if layers:
            value = [str(v) if isinstance(v, int) else v for v in value]
        if not value:
            raise GridError(f"{where}: {name}: an empty list gives no cells; give at least one value")
        axes.append((name, value))
    return axes


def _mapping(where: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GridError(f"{where}: expected a mapping of names to values, got {value!r}")
    return value


def _settings_axes(where: str, values) -> list[tuple[str, list]]:
    values = _mapping(where, values)
    for name in values:
        if name == "params":
            raise GridError(f"{where}: params belong to a strategy: strategies: {{der: {{params: {{alpha: 0.5}}}}}}")
        if name in ("strategy", "benchmark", "seed"):
            raise GridError(f"{where}: {name} has its own key in a grid ({name}s: [...])")
        if name not in FIELDS:
            raise GridError(f"{where}: {ConfigError('', 'unknown_setting', value=name, choices=GRID_FIELDS)}")
    return _axes(where, values)


def unknown_name(kind: str, name, known) -> GridError:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = (
        f"did you mean {close[0]}? (python -m clcore list shows them all)"
        if close
        else f"choose one of {', '.join(known)}"
    )
    return GridError(f"{kind}: unknown '{name}'; {hint}")


def _strategies(value) -> dict[str, dict]:
    """{strategy: its own settings mapping} from a name, a list of names, `all` or a mapping."""
    if value == "all":
        return {name: {} for name in REGISTRY}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            raise GridError("strategies: give names (a list), `all`, or a mapping name -> its settings")
        value = {name: {} for name in value}
    value = _mapping("strategies", value)
    for name in value:
        if name not in REGISTRY:
            raise unknown_name("strategy", name, REGISTRY)
    return {name: _mapping(f"strategies: {name}", own) for name, own in value.items()}


def _names(key: str, value, kind) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise GridError(f"empty grid: {key} is an empty list; give at least one")
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise GridError(f"{key}: give a {kind.__name__} or a list of them, not {value!r}")
    return values


def read_grid_file(path: str | Path) -> dict:
    """The grid file's mapping; GridError when it is missing or is not YAML/JSON (JSON is YAML too)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GridError(f"{path}: cannot be read ({error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise GridError(f"{path}: not a YAML or JSON grid file{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise GridError(f"{path}: not a grid: expected a mapping with keys {', '.join(TOP_KEYS)}")
    return data


def cells_of(data: dict, validation: bool = False) -> list[Cell]:
    """Every cell of a grid mapping, validated (duplicates dropped); GridError naming what to change."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise GridError(f"unknown key '{unknown[0]}'; a grid has {', '.join(TOP_KEYS)}")
    benchmarks = _names("benchmarks", data.get("benchmarks", data.get("benchmark", "split-mnist")), str)
    for name in benchmarks:
        if name not in BENCHMARKS:
            raise unknown_name("benchmark", name, BENCHMARKS)
    if "strategies" not in data or data["strategies"] in (None, [], {}):
        raise GridError("empty grid: give strategies (a list of names, or `all`)")
    strategies = _strategies(data["strategies"])
    seeds = _names("seeds", data.get("seeds", 0), int)
    recommended = data.get("recommended", True)
    if not isinstance(recommended, bool):
        raise GridError(f"recommended: give true or false, not {recommended!r}")
    shared = _settings_axes("settings", data.get("settings"))

    cells, seen = [], set()
    for benchmark, (strategy, own) in itertools.product(benchmarks, strategies.items()):
        if not REGISTRY[strategy].defined_on(BENCHMARKS[benchmark]):
            continue  # e.g. iCaRL on permuted digits: `strategies: all` over several benchmarks skips it
        own = dict(own)
        where = f"strategies: {strategy}: params"
        params = _axes(where, _mapping(where, own.pop("params", None)))
        axes = shared + _settings_axes(f"strategies: {strategy}", own) + [(f"params.{n}", v) for n, v in params]
        for values in itertools.product(*(v for _, v in axes)):
            chosen = dict(zip((name for name, _ in axes), values))
            point = tuple((name, value) for (name, options), value in zip(axes, values) if len(options) > 1)
            for seed in seeds:
                cell = _cell(benchmark, strategy, seed, chosen, point, recommended, validation)
                if cell.key not in seen:
                    seen.add(cell.key)
                    cells.append(cell)
    if not cells:
        raise GridError(f"empty grid: none of the strategies is defined on {', '.join(benchmarks)}")
    return cells


def cell_settings(benchmark: str, strategy: str, seed: int, chosen: dict, recommended: bool) -> dict:
    """make_config keywords of one cell: `chosen` (settings, and `params.<name>` values) on top of the strategy's
    recommended settings on the benchmark (as `clcore run` does) unless `recommended` is False; one torch thread."""
    given = {k: v for k, v in chosen.items() if not k.startswith("params.")}
    params = {k.split(".", 1)[1]: v for k, v in chosen.items() if k.startswith("params.")}
    given.update(benchmark=benchmark, strategy=strategy, seed=seed, params=params)
    settings = with_recommended(given) if recommended else given
    settings.setdefault("cpu_threads", 1)  # cells run side by side, one core each
    return settings


def _cell(benchmark, strategy, seed, chosen, point, recommended, validation) -> Cell:
    settings = cell_settings(benchmark, strategy, seed, chosen, recommended)
    try:
        config = validate(settings)
    except ConfigError as error:
        where = "".join(f", {name} {show(value)}" for name, value in chosen.items())
        raise GridError(f"{strategy} on {benchmark}{where}: {error}") from None
    return Cell(config, validation, point)


def load_grid(path: str | Path) -> list[Cell]:
    """The cells of a grid file; GridError (one line, starting with the file's name) for anything wrong."""
    data = read_grid_file(path)
    try:
        return cells_of(data)
    except GridError as error:
        raise GridError(f"{path}: {error}") from None
