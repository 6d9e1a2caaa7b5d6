"""Run the `lostops` command line in-process with click's CliRunner.

The same commands make and the workflows run (`lostops summary drift ...`),
without a Python start-up per call. `unset` removes environment variables for
the call (CliRunner restores the environment afterwards). One real subprocess
of the installed entry point is in tests/unit/test_cli.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from lostops.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, stdin: str | None = None, env: dict | None = None, unset: tuple[str, ...] = ()) -> Result:
    overlay: dict[str, str | None] = dict.fromkeys(unset)
    overlay.update(env or {})
    result = CliRunner().invoke(main, list(args), input=stdin, env=overlay, catch_exceptions=False, prog_name="lostops")
    return Result(result.exit_code, result.stdout, result.stderr)
