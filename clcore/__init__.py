"""clcore: the continual-learning engine behind the Playground (no UI code here).

Python API: `make_config(...)` -> `Run(config)` -> `run.advance(...)` (events) -> `run.result()`.
CLI: `python -m clcore list` and `python -m clcore run ...`.
"""

from clcore.errors import ConfigError, DataUnavailable, TrainingDiverged
from clcore.runs.run import Run
from clcore.settings.config import RunConfig, make_config
from clcore.settings.presets import PRESETS
from clcore.strategies import REGISTRY as STRATEGIES

__all__ = [
    "RunConfig",
    "make_config",
    "Run",
    "ConfigError",
    "DataUnavailable",
    "TrainingDiverged",
    "PRESETS",
    "STRATEGIES",
]
