"""The installable package and its `lostops` command line.

- pyproject.toml ships the `lostops` package only, with the `lostops` entry
  point, installed into the Pipfile's environment;
- the installed entry point runs as a real program (the other command tests
  run in-process, tests/unit/clirun.py);
- the release workflow's light jobs (prepare, scan) run `python -m lostops`
  with click as the only installed package: those commands import nothing
  else, and that click pin is the lock's;
- every `lostops ...` that make, the workflows and the docs mention exists;
- no sys.path or sys.modules tricks anywhere (the lab and the e2e tier are the package tests.lab/tests.e2e,
  run with `python -m` from the repository).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

from lostops.cli import main

REPO = Path(__file__).resolve().parents[2]
LOSTOPS = Path(sys.executable).parent / "lostops"


def test_pyproject_ships_only_the_lostops_package_with_one_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["packages"] == ["lostops"]
    assert project["project"]["scripts"] == {"lostops": "lostops.cli:main"}
    pipfile = (REPO / "Pipfile").read_text(encoding="utf-8")
    assert re.search(r'^lostops = \{path = "\.", editable = true\}$', pipfile, re.M)
    assert re.search(r"^click = ", pipfile, re.M)


def test_installed_entry_point_runs(tmp_path):
    output = tmp_path / "github_output"
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"}
    proc = subprocess.run(
        [str(LOSTOPS), "version", "check", "v2.10.0"],
        env={**env, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "2.10.0\n", "")
    assert output.read_text() == "version=2.10.0\n"


# What the light jobs run, in one interpreter: afterwards only the standard
# library, click and lostops may be loaded.
LIGHT = r"""
import json, sys
from lostops.cli import main
calls = [
    ["version", "check", "1.2.3"],
    ["release", "plan"],
    ["summary", "trivy", sys.argv[1]],
    ["summary", "tests", "unit=" + sys.argv[2]],
    ["summary", "drift", "--mode", "apply", sys.argv[3]],
]
codes = []
for args in calls:
    try:
        main(args, prog_name="lostops")
    except SystemExit as exc:
        codes.append(exc.code)
top = {name.split(".")[0] for name in sys.modules}
allowed = set(sys.stdlib_module_names) | {"click", "lostops", "__main__", "_distutils_hack"}
extra = sorted(n for n in top - allowed if not n.startswith("__editable__"))  # the editable install's finder
sys.stderr.write(json.dumps({"codes": codes, "extra": extra}) + "\n")
"""


def test_light_commands_need_only_click(tmp_path):
    trivy = tmp_path / "trivy.json"
    trivy.write_text(json.dumps({"Results": []}))
    junit = tmp_path / "unit.xml"
    junit.write_text('<testsuite tests="1" failures="0" errors="0" skipped="0" time="1.0"/>')
    salt = tmp_path / "salt.json"
    salt.write_text(json.dumps({"backend": {"a_|-b_|-c_|-d": {"result": True, "comment": "", "changes": {}}}}))
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"}
    env.update(
        EVENT_NAME="release",
        RELEASE_TAG="v1.2.3",
        INFRA_REF="f" * 40,
        INFRA_REPOSITORY="lostops-stg5/lostops",
        APP_REPOSITORY="lostops-stg5/lostops-app",
        LOSTOPS_INVENTORY="example",
    )
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT, str(trivy), str(junit), str(salt)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result == {"codes": [0, 0, 0, 0, 0], "extra": []}, proc.stderr


def test_cli_pin_is_the_lock_pin():
    lock = json.loads((REPO / "Pipfile.lock").read_text(encoding="utf-8"))["default"]["click"]
    text = (REPO / "tools" / "requirements-cli.txt").read_text(encoding="utf-8")
    assert f"click{lock['version']} " in text
    assert sorted(re.findall(r"--hash=(sha256:[0-9a-f]{64})", text)) == sorted(lock["hashes"])


# `lostops <command> [<sub-command>]` as make, the workflows and the docs spell it.
MENTION = re.compile(
    r"(?:`lostops|\$\((?:DEPLOY_)?LOSTOPS\)|bin/lostops|-m lostops) ([a-z][a-z-]*)(?![a-z-]|:)(?: ([a-z][a-z-]*))?"
)


def _mentions() -> list[tuple[str, str, str | None]]:
    files = [REPO / "Makefile", REPO / "README.md", *REPO.glob("mk/*.mk"), *REPO.glob(".github/workflows/*.yml")]
    files += REPO.glob("docs/*.md")
    out = []
    for path in files:
        for m in MENTION.finditer(path.read_text(encoding="utf-8")):
            out.append((str(path.relative_to(REPO)), m.group(1), m.group(2)))
    return out


def test_every_mentioned_command_exists():
    mentions = _mentions()
    assert len({(c, s) for _, c, s in mentions}) >= 10, mentions
    missing = []
    for where, name, sub in mentions:
        command = main.commands.get(name)
        if command is None or (isinstance(command, click.Group) and sub is not None and sub not in command.commands):
            missing.append(f"{where}: lostops {name} {sub or ''}".rstrip())
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help(name):
    from tests.unit import clirun

    result = clirun.run(name, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"Usage: lostops {name} "), result.stderr


def _tracked(*patterns: str) -> list[Path]:
    proc = subprocess.run(["git", "ls-files", "-z", *patterns], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / p for p in proc.stdout.split("\0") if p]


def test_no_sys_path_edits():
    offenders = []
    for path in _tracked("*.py", "*.sls", "scripts/*", "etc/salt/*", "tests/*"):
        rel = path.relative_to(REPO).as_posix()
        if path == Path(__file__) or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if re.search(r"sys\.path\.(insert|append)|sys\.modules\.pop", text):
            offenders.append(rel)
    assert not offenders, offenders
