"""Running the command line in the test process: `python -m clcore ...` without a new interpreter
(torch's import costs seconds per process). tests/test_cli.py checks the real subprocess once."""
from __future__ import annotations

import contextlib
import io

from clcore.cli import main


def run_cli(args: list[str]) -> tuple[int, str]:
    """(exit code, what the command wrote to stderr) of `python -m clcore <args>`."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, stderr.getvalue()
