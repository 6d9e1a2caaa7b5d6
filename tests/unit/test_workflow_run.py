"""The workflow runner of the lab rehearsal (tests/lab/workflow.py): its expression
evaluator against GitHub's documented semantics, and a job run end to end on a
small workflow. Every expression of the four workflow files must be understood
by it, so a new construct is noticed here, not mis-evaluated in the lab."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.lab import workflow as wf

REPO = Path(__file__).resolve().parents[2]
# the two files the rehearsal executes
WORKFLOWS = [REPO / ".github" / "workflows" / "release.yml", REPO / ".github" / "workflows" / "drift.yml"]

CTX = {
    "github": {"sha": "f" * 40, "event_name": "release", "run_attempt": "2", "token": "t0k", "repository": "o/r"},
    "vars": {"LOSTOPS_INVENTORY": "lab"},
    "inputs": {},
    "secrets": {"S": "hush"},
    "needs": {
        "build": {"outputs": {"digest": ""}},
        "prepare": {"outputs": {"digest": "sha256:aa", "version": "1.2.3"}},
    },
    "steps": {"runner-ip": {"outputs": {"ip": "10.77.0.200"}, "outcome": "success"}, "salt": {"outcome": "failure"}},
    "runner": {"temp": "/tmp/rt"},
    "env": {"IMAGE": "ghcr.io/x/y"},
}


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("vars.LOSTOPS_INVENTORY || 'production'", "lab"),
        ("vars.NOPE || 'production'", "production"),
        ("needs.build.outputs.digest || needs.prepare.outputs.digest", "sha256:aa"),
        ("inputs.infra-repository && inputs.infra-ref || github.sha", "f" * 40),
        ("inputs.infra-repository && 'true' || 'false'", "false"),
        ("steps.runner-ip.outputs.ip != ''", True),
        ("steps.nothing.outputs.ip != ''", False),  # null == '' (both 0 as numbers)
        ("steps.salt.outcome == 'failure'", True),
        ("'ABC' == 'abc'", True),  # strings compare without case
        ("1 == '1'", True),
        ("'' == 0", True),
        ("null == false", True),
        ("!vars.NOPE", True),
        ("!(1 < 2)", False),
        ("'b' > 'A'", True),
        ("github['run_attempt']", "2"),
        ("format('{0}-{1}', needs.prepare.outputs.version, github.run_attempt)", "1.2.3-2"),
        ("contains('abc', 'B')", True),
        ("startsWith(github.repository, 'O/')", True),
        ("true && 0", 0),
        ("'a' && ''", ""),
        ("'it''s'", "it's"),
    ],
)
def test_expressions(expr, expected):
    assert wf.evaluate(expr, CTX) == expected


@pytest.mark.parametrize(
    "expr, failed, cancelled, expected",
    [
        ("always()", True, True, True),
        ("!cancelled()", True, False, True),
        ("!cancelled()", False, True, False),
        ("failure() && steps.salt.outcome == 'failure'", True, False, True),
        ("failure()", False, False, False),
        ("success()", False, False, True),
    ],
)
def test_status_functions(expr, failed, cancelled, expected):
    assert wf.evaluate(expr, CTX, wf.Status(failed, cancelled)) is expected


@pytest.mark.parametrize(
    "raw, failed, expected",
    [
        (None, False, True),
        (None, True, False),
        ("steps.runner-ip.outputs.ip != ''", True, False),  # implicit success() &&
        ("${{ always() && steps.runner-ip.outputs.ip != '' }}", True, True),
        ("vars.X != ''", False, False),
        (True, False, True),
        (False, False, False),
    ],
)
def test_step_condition(raw, failed, expected):
    assert wf.condition(raw, CTX, wf.Status(failed=failed)) is expected


@pytest.mark.parametrize(
    "expr, message",
    [
        ("hashFiles('x')", "not supported"),
        ("job.status", "unknown context"),
        ("a ==", "expected"),
        ("'unterminated", "cannot read"),
        ("1 2", "unexpected"),
    ],
)
def test_unknown_constructs_are_errors(expr, message):
    with pytest.raises(wf.ExprError, match=message):
        wf.evaluate(expr, {**CTX, "a": 1})


def test_interpolation():
    assert wf.interpolate("${{ runner.temp }}/lostops-ssh-key", CTX) == "/tmp/rt/lostops-ssh-key"
    assert wf.interpolate("${{ env.IMAGE }}@${{ needs.build.outputs.digest }}", CTX) == "ghcr.io/x/y@"
    assert wf.interpolate("${{ steps.runner-ip.outputs.ip != '' }}", CTX) is True
    assert wf.interpolate("plain", CTX) == "plain"


def test_command_file():
    text = "ip=10.0.0.1\nx=a=b\nmulti<<EOF\nline1\nline2\nEOF\nempty=\n"
    assert wf.parse_command_file(text) == {"ip": "10.0.0.1", "x": "a=b", "multi": "line1\nline2", "empty": ""}
    with pytest.raises(ValueError):
        wf.parse_command_file("no separator\n")


def _all_expressions(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "if" and isinstance(v, str) and "${{" not in v:
                yield path + ".if", v
            else:
                yield from _all_expressions(v, f"{path}.{k}")
    elif isinstance(node, list):
        for n, v in enumerate(node):
            yield from _all_expressions(v, f"{path}[{n}]")
    elif isinstance(node, str):
        for m in re.finditer(r"\$\{\{(.*?)\}\}", node, re.S):
            yield path, m.group(1)


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_expression_of_the_workflows_is_understood(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    generic = {
        name: {} for name in ("github", "vars", "inputs", "secrets", "needs", "steps", "runner", "env", "matrix", "job")
    }
    found = list(_all_expressions(data))
    assert found
    for where, expr in found:
        try:
            wf.evaluate(expr, generic)
        except wf.ExprError as exc:
            pytest.fail(f"{path.name}{where}: ${{{{ {expr.strip()} }}}}: {exc}")


WORKFLOW = """
env:
  TOP: top-${{ vars.NAME || 'none' }}
jobs:
  j:
    env:
      JOB: job-${{ needs.prep.outputs.v }}
      KEY: ${{ runner.temp }}/k
    steps:
      - name: first
        id: first
        env:
          STEP: ${{ secrets.S }}
        run: |
          echo "ip=10.1.2.3" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=yes" >> "$GITHUB_ENV"
          echo "$TOP $JOB $STEP $KEY" > seen
      - name: an action
        uses: actions/checkout@0123456789012345678901234567890123456789 # v1.0.0
        with:
          ref: ${{ github.sha }}
      - name: azure thing
        run: make --no-print-directory release-network
      - name: second
        env:
          IP: ${{ steps.first.outputs.ip }}
        run: |
          echo "$IP $FROM_ENV" >> seen
          echo "## hello" >> "$GITHUB_STEP_SUMMARY"
          false
      - name: skipped after failure
        run: echo never >> seen
      - name: only on failure
        if: ${{ failure() && steps.first.outcome == 'success' }}
        continue-on-error: true
        run: exit 3
      - name: always
        if: always()
        run: echo always >> seen
"""


def test_run_job_in_file_order_with_env_outputs_and_conditions(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text(textwrap.dedent(WORKFLOW))
    seen_after = []
    ran_lab = []
    run = wf.run_job(
        path,
        "j",
        {
            "github": {"sha": "abc"},
            "vars": {"NAME": "n"},
            "secrets": {"S": "s3"},
            "needs": {"prep": {"outputs": {"v": "7"}}},
            "runner": {"temp": "/rt"},
        },
        base_env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        uses={"actions/checkout": wf.Substitute("lab: the working tree is the checkout")},
        targets={"release-network": wf.Substitute("lab: no Azure", lambda env: ran_lab.append(env["JOB"]) or 0)},
        after=lambda sr, ctx: seen_after.append((sr.name, sr.outcome)),
    )
    assert (tmp_path / "seen").read_text().splitlines() == ["top-n job-7 s3 /rt/k", "10.1.2.3 yes", "always"]
    assert seen_after == [
        ("first", "success"),
        ("an action", "success"),
        ("azure thing", "success"),
        ("second", "failure"),
        ("skipped after failure", "skipped"),
        ("only on failure", "failure"),
        ("always", "success"),
    ]
    assert [s.kind for s in run.steps] == ["run", "lab", "lab", "run", "skipped", "run", "run"]
    assert run.step("azure thing").what == "lab: no Azure" and ran_lab == ["job-7"]
    assert run.failed and run.summary == "## hello\n"


def test_a_step_without_a_lab_equivalent_is_an_error(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("jobs:\n  j:\n    steps:\n      - uses: azure/login@x\n")
    with pytest.raises(wf.ExprError, match="azure/login: no lab equivalent"):
        wf.run_job(path, "j", {}, {"PATH": "/usr/bin:/bin"}, tmp_path, {}, {})


def test_a_step_named_for_a_lab_equivalent_is_replaced(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text(
        "jobs:\n  j:\n    steps:\n      - name: The scanned digest is known\n        run: exit 1\n"
        "      - name: next\n        run: echo ran > seen\n"
    )
    run = wf.run_job(
        path,
        "j",
        {},
        {"PATH": "/usr/bin:/bin"},
        tmp_path,
        {},
        {},
        names={"The scanned digest is known": wf.Substitute("lab: no registry digest")},
    )
    assert [(s.kind, s.what, s.outcome) for s in run.steps] == [
        ("lab", "lab: no registry digest", "success"),
        ("run", "echo ran > seen", "success"),
    ]
    assert (tmp_path / "seen").read_text() == "ran\n"
