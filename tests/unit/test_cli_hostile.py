"""Every `lostops` command ends in one line and an exit code, never a traceback.

One table of hostile command lines per class: outputs that cannot be written,
programs that are not installed, malformed input to the summaries, a bad
--cn, unbalanced quotes in an environment variable. Each asserts the one line
(stderr) and the exit status; the last guard (lostops.cli._OneLineGroup) is
tested on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from lostops import cli
from tests.unit import clirun

DIGEST = "sha256:" + "a" * 64
# A path whose parent is a plain file: no user, root included, can create it (a
# missing directory would be created by commands that make their output directory).
MISSING = "{tmp}/a-plain-file/dir"


def _files(tmp: Path) -> dict[str, str]:
    """Hostile input files, by name."""
    files = {
        "json-truncated.json": '{"a": [1,',
        "json-list.json": "[1, 2]",
        "json-deep.json": "[" * 100_000 + "]" * 100_000,
        "trivy-results-not-objects.json": '{"Results": [5]}',
        "trivy-vulns-not-objects.json": '{"Results": [{"Vulnerabilities": [5]}]}',
        "trivy-severity-number.json": '{"Results": [{"Vulnerabilities": [{"Severity": 5}]}]}',
        "salt-run-num-mixed.json": json.dumps(
            {"m": {"a_|-b_|-c_|-d": {"result": True, "__run_num__": "x"}, "e": {"result": True, "__run_num__": 1}}}
        ),
        "salt-run-num-list.json": json.dumps(
            {"m": {"a": {"result": False, "__run_num__": [1]}, "b": {"result": True}}}
        ),
        "junit-bad.xml": "<x",
        "junit-letters.xml": '<testsuite tests="x"/>',
        "junit-huge.xml": f'<testsuite tests="{"9" * 5000}"/>',
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    (tmp / "a-directory.xml").mkdir()
    (tmp / "a-plain-file").write_text("")
    return {name: str(tmp / name) for name in [*files, "a-directory.xml"]}


# (id, args, env, exit status, the one stderr line's start); {name} is a file from _files, {tmp} the directory
HOSTILE = [
    # outputs that cannot be written
    ("render-out-unwritable", ["render", "--out", f"{MISSING}/render", "backend"], {}, 1, "lostops render: "),
    (
        "github-output-unwritable",
        ["version", "check", "1.2.3"],
        {"GITHUB_OUTPUT": f"{MISSING}/out"},
        1,
        "lostops version check: ",
    ),
    (
        "rollout-json-out-unwritable",
        ["release", "rollout", "--no-backup", "--json-out", f"{MISSING}/x.json"],
        {"SALT_SSH": "true", "APP_VERSION": "1.2.3", "APP_DIGEST": DIGEST},
        2,
        f"release-rollout: cannot write {MISSING}/x.json: Not a directory",
    ),
    (
        "rollout-summary-unwritable",
        ["release", "rollout", "--no-backup", "--json-out", "{tmp}/x.json", "--summary", f"{MISSING}/s.md"],
        {"SALT_SSH": "true", "APP_VERSION": "1.2.3", "APP_DIGEST": DIGEST},
        2,
        f"release-rollout: cannot write {MISSING}/s.md: Not a directory",
    ),
    ("mysql-ca-unwritable", ["mysql-ca", f"{MISSING}/ca.env"], {}, 1, f"make-mysql-ca: cannot write {MISSING}/ca.env"),
    (
        "secrets-write-unwritable",
        ["secrets", "write"],
        {"LOSTOPS_SECRETS_FILE": f"{MISSING}/secrets.yaml", "LOSTOPS_INVENTORY": "example"},
        None,  # 2 when the environment lacks a secret (checked first), 1 when only the file is the problem
        "write-secrets: ",
    ),
    # programs that are not installed
    (
        "salt-ssh-missing",
        ["release", "rollout", "--no-backup", "--json-out", "{tmp}/x.json"],
        {"SALT_SSH": "{tmp}/no-salt-ssh", "APP_VERSION": "1.2.3", "APP_DIGEST": DIGEST},
        2,
        "release-rollout: {tmp}/no-salt-ssh: not found (run `make deps`, or set SALT_SSH)",
    ),
    (
        "salt-ssh-missing-for-the-backup",
        ["release", "rollout", "--json-out", "{tmp}/x.json"],
        {"SALT_SSH": f"{MISSING}/salt-ssh", "APP_VERSION": "1.2.3", "APP_DIGEST": DIGEST},
        2,
        f"release-rollout: cannot run {MISSING}/salt-ssh: Not a directory",
    ),
    (
        "jit-exec-program-missing",
        ["jit", "serving-version", "--channel", "exec"],
        {"LOSTOPS_JIT_EXEC": "{tmp}/no-runner {host}"},
        1,
        "jit-access serving-version: {tmp}/no-runner: not found (check LOSTOPS_JIT_EXEC)",
    ),
    (
        "az-missing",
        ["jit", "serving-version", "--channel", "azure"],
        {"PATH": "{tmp}/empty-path"},
        1,
        "jit-access serving-version: az: not found (install the Azure CLI (az), or use --channel exec)",
    ),
    # unbalanced quotes in an environment variable
    (
        "salt-ssh-unbalanced-quotes",
        ["release", "rollout", "--no-backup"],
        {"SALT_SSH": 'salt-ssh "--wipe', "APP_VERSION": "1.2.3", "APP_DIGEST": DIGEST},
        2,
        "release-rollout: SALT_SSH: no closing quotation (unbalanced quotes in 'salt-ssh \"--wipe')",
    ),
    (
        "jit-exec-unbalanced-quotes",
        ["jit", "serving-version", "--channel", "exec"],
        {"LOSTOPS_JIT_EXEC": "sh -c 'x {host}"},
        1,
        "jit-access serving-version: LOSTOPS_JIT_EXEC: no closing quotation",
    ),
    # bad --cn
    ("cn-empty", ["mysql-ca", "--cn", ""], {}, 2, "make-mysql-ca: --cn: the common name is empty"),
    ("cn-too-long", ["mysql-ca", "--cn", "c" * 65], {}, 2, "make-mysql-ca: --cn: 65 characters"),
    ("cn-line-break", ["mysql-ca", "--cn", "CA\nO=evil"], {}, 2, "make-mysql-ca: --cn: contains a line break"),
    # malformed input to the summaries
    ("trivy-truncated", ["summary", "trivy", "{json-truncated.json}"], {}, 1, "trivy-summary: report "),
    ("trivy-deep", ["summary", "trivy", "{json-deep.json}"], {}, 1, "trivy-summary: report "),
    ("trivy-results-not-objects", ["summary", "trivy", "{trivy-results-not-objects.json}"], {}, 1, "trivy-summary: "),
    ("trivy-vulns-not-objects", ["summary", "trivy", "{trivy-vulns-not-objects.json}"], {}, 1, "trivy-summary: "),
    ("trivy-severity-number", ["summary", "trivy", "{trivy-severity-number.json}"], {}, 1, "trivy-summary: "),
    ("tests-bad-xml", ["summary", "tests", "unit={junit-bad.xml}"], {}, 2, "test-summary: "),
    ("tests-letters", ["summary", "tests", "unit={junit-letters.xml}"], {}, 2, "test-summary: "),
    ("tests-huge-number", ["summary", "tests", "unit={junit-huge.xml}"], {}, 2, "test-summary: "),
    ("tests-directory", ["summary", "tests", "unit={a-directory.xml}"], {}, 2, "test-summary: "),
]

# The drift summary writes its verdict as Markdown on stdout (a job summary) and exits 1.
DRIFT_HOSTILE = [
    "json-truncated.json",
    "json-list.json",
    "json-deep.json",
    "salt-run-num-mixed.json",
    "salt-run-num-list.json",
]


def _fill(text: str, files: dict[str, str], tmp: Path) -> str:
    for name, path in files.items():
        text = text.replace("{" + name + "}", path)
    return text.replace("{tmp}", str(tmp))


@pytest.mark.parametrize("args,env,code,expected", [pytest.param(a, e, c, x, id=i) for i, a, e, c, x in HOSTILE])
def test_hostile_command_line_is_one_line_and_an_exit_code(tmp_path, args, env, code, expected):
    files = _files(tmp_path)
    env = {k: _fill(v, files, tmp_path) for k, v in env.items()}
    result = clirun.run(*[_fill(a, files, tmp_path) for a in args], env=env)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 or (args[0] == "jit" and len(set(lines)) == 1), result.stderr
    assert lines[0].startswith(_fill(expected, files, tmp_path)), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == code if code is not None else result.returncode in (1, 2)


@pytest.mark.parametrize("name", DRIFT_HOSTILE)
def test_drift_summary_of_malformed_salt_output_is_a_verdict_not_a_traceback(tmp_path, name):
    files = _files(tmp_path)
    result = clirun.run("summary", "drift", files[name])
    assert result.returncode in (0, 1)
    assert result.stdout.startswith("## Drift report")
    assert result.stderr == ""


def test_the_last_guard_turns_any_escaping_exception_into_one_line(monkeypatch):
    """Input no command foresaw: `lostops <command>: <what>` and exit 1; LOSTOPS_DEBUG=1 shows the traceback."""
    from lostops import version

    def boom(_args):
        raise KeyError("surprise\nsecond line")

    monkeypatch.setattr(version, "check", boom)
    result = clirun.run("version", "check", "1.2.3")
    assert result.returncode == 1
    assert result.stderr == "lostops version check: KeyError: 'surprise\\nsecond line'\n"
    with pytest.raises(KeyError):
        clirun.run("version", "check", "1.2.3", env={"LOSTOPS_DEBUG": "1"})


def test_the_guard_says_which_program_could_not_run():
    try:
        import subprocess

        subprocess.run(["/nonexistent-lostops-test/tool"], check=False)
    except FileNotFoundError as exc:
        assert (
            cli.describe(exc)
            == "cannot run /nonexistent-lostops-test/tool: No such file or directory (is it installed?)"
        )
    assert isinstance(cli.main, click.Group)
