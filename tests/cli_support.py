"""Running the command line in the test process: `python -m clcore ...` without a new interpreter
(torch's import costs seconds per process). tests/test_cli.py checks the real subprocess once."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from clcore.cli import main


def run_cli(args: list[str]) -> tuple[int, str]:
    """(exit code, what the command wrote to stderr) of `python -m clcore <args>`."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, stderr.getvalue()


def run_each(out_dir: Path, runs: dict[str, list[str]], common: list[str]) -> dict[str, tuple[int, str, dict | None]]:
    """`clcore run --strategy <name> <common> <extra> --quiet --out <out_dir>/<name>.json` for each
    `name: extra` of `runs`: {name: (exit code, stderr, its result JSON or None when none was written)}."""
    done = {}
    for name, extra in runs.items():
        path = Path(out_dir) / f"{name}.json"
        code, stderr = run_cli(["run", "--strategy", name, *common, *extra, "--quiet", "--out", str(path)])
        done[name] = (code, stderr, json.loads(path.read_text()) if path.exists() else None)
    return done
