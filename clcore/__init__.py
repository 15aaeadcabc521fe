"""clcore: the continual-learning engine behind the Playground (no UI code here).

Python API: `make_config(...)` -> `Run(config)` -> `run.advance(...)` (events) -> `run.result()`;
`run.snapshot()` copies its progress, `run.status` is a RunState. In the background:
`RunQueue(slots).submit(run)` -> a BackgroundRun (play / pause / step / stop, `.state`, `.snapshot()`).
CLI: `python -m clcore list` and `python -m clcore run ...`.
"""

from clcore.errors import ConfigError, DataUnavailable, TrainingDiverged
from clcore.runs.queue import RunQueue
from clcore.runs.run import Run, RunSnapshot
from clcore.runs.state import RunState
from clcore.settings.config import RunConfig, make_config
from clcore.settings.presets import PRESETS
from clcore.strategies import REGISTRY as STRATEGIES

__all__ = [
    "RunConfig",
    "make_config",
    "Run",
    "RunSnapshot",
    "RunState",
    "RunQueue",
    "ConfigError",
    "DataUnavailable",
    "TrainingDiverged",
    "PRESETS",
    "STRATEGIES",
]
