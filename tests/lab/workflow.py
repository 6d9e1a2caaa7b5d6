"""Run one job of a GitHub Actions workflow file on this machine, as a runner would.

The lab rehearsal (tests/e2e/test_12_release_rehearsal.py) uses it to execute
the deploy job of .github/workflows/release.yml and the drift job of
drift.yml FROM THE FILES: their steps in file order, each `run:` script with
the `env:` a real run has (workflow, job and step level, with every `${{ }}`
evaluated against the contexts given), `if:` conditions with GitHub's status
functions, `$GITHUB_OUTPUT`, `$GITHUB_ENV` and `$GITHUB_STEP_SUMMARY`, and
`continue-on-error`. A step added to the workflow runs here without touching
the test.

What cannot run here is replaced by a NAMED lab equivalent (`Substitute`):
every `uses:` action (looked up by action name) and every `run:` step whose
script calls a make target that needs Azure (looked up by target). A step
that has neither a run: line that can run nor a substitute is an error, never
silently skipped.

The expression evaluator covers what these workflow files use (GitHub's
documented semantics): literals ('str', numbers, true, false, null), context
paths (`a.b-c.d`, `a['x']`), `!`, `==`/`!=` (strings compared without case),
`<`/`<=`/`>`/`>=`, `&&`/`||` (returning an operand, not a boolean), parentheses,
and the functions `success()`, `failure()`, `always()`, `cancelled()`,
`contains()`, `startsWith()`, `endsWith()`, `format()`. Anything else raises
ExprError, so a new construct in a workflow is noticed, not mis-evaluated.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# ----------------------------------------------------------------------------- expressions


class ExprError(ValueError):
    """An expression this evaluator does not understand (or that is malformed)."""


TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read expression at {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(value) -> bool:
    return value not in (None, False, 0, "") and value == value  # NaN is falsy


def _num(value):
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0
        except ValueError:
            return float("nan")
    return float("nan")


def _eq(a, b) -> bool:
    """GitHub's loose equality: same type compared as such (strings without case), else as numbers."""
    if type(a) is type(b) or (isinstance(a, str) and isinstance(b, str)):
        if isinstance(a, str):
            return a.lower() == b.lower()
        return a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b
    return _num(a) == _num(b)


def to_string(value) -> str:
    """How a value is interpolated into a string (env values, with: inputs)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Status:
    """The job's state for the status functions."""

    failed: bool = False
    cancelled: bool = False


class _Parser:
    def __init__(self, text: str, contexts: dict, status: Status):
        self.toks = _tokens(text)
        self.i = 0
        self.ctx = contexts
        self.status = status
        self.used_status = False

    def peek(self, value: str | None = None):
        if self.i >= len(self.toks):
            return None
        tok = self.toks[self.i]
        return tok if value is None or tok[1] == value else None

    def take(self, value: str | None = None):
        tok = self.peek(value)
        if tok is None:
            raise ExprError(f"expected {value or 'more'} in expression")
        self.i += 1
        return tok

    def parse(self):
        value = self.or_()
        if self.i != len(self.toks):
            raise ExprError(f"unexpected {self.toks[self.i][1]!r} in expression")
        return value

    def or_(self):
        left = self.and_()
        while self.peek("||"):
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self):
        left = self.cmp()
        while self.peek("&&"):
            self.take()
            right = self.cmp()
            left = right if truthy(left) else left
        return left

    def cmp(self):
        left = self.unary()
        while self.peek() and self.peek()[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            if op == "==":
                left = _eq(left, right)
            elif op == "!=":
                left = not _eq(left, right)
            else:
                a, b = (
                    (left.lower(), right.lower())
                    if isinstance(left, str) and isinstance(right, str)
                    else (_num(left), _num(right))
                )
                left = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return left

    def unary(self):
        if self.peek("!"):
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind != "name":
            raise ExprError(f"unexpected {value!r} in expression")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self.peek("("):
            return self.call(value)
        if value not in self.ctx:
            raise ExprError(f"unknown context {value!r}")
        obj = self.ctx[value]
        while self.peek(".") or self.peek("["):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = to_string(self.or_())
                self.take("]")
            obj = obj.get(key) if isinstance(obj, dict) else None
        return obj

    def call(self, name: str):
        self.take("(")
        args = []
        while not self.peek(")"):
            args.append(self.or_())
            if self.peek(","):
                self.take()
        self.take(")")
        lname = name.lower()
        if lname in ("success", "failure", "always", "cancelled"):
            if args:
                raise ExprError(f"{name}() takes no arguments here")
            self.used_status = True
            return {
                "success": not self.status.failed and not self.status.cancelled,
                "failure": self.status.failed and not self.status.cancelled,
                "always": True,
                "cancelled": self.status.cancelled,
            }[lname]
        if lname in ("contains", "startswith", "endswith") and len(args) == 2:
            hay, needle = args
            if lname == "contains" and isinstance(hay, list):
                return any(_eq(x, needle) for x in hay)
            hay, needle = to_string(hay).lower(), to_string(needle).lower()
            return {"contains": needle in hay, "startswith": hay.startswith(needle), "endswith": hay.endswith(needle)}[
                lname
            ]
        if lname == "format" and args:
            text = to_string(args[0])
            for n, arg in enumerate(args[1:]):
                text = text.replace("{" + str(n) + "}", to_string(arg))
            return text
        raise ExprError(f"function {name}() is not supported by this evaluator")


def evaluate(text: str, contexts: dict, status: Status | None = None):
    """The value of one expression (the text inside ${{ }})."""
    return _Parser(text, contexts, status or Status()).parse()


EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value, contexts: dict, status: Status | None = None):
    """A YAML value with its ${{ }} parts evaluated: a whole-expression string keeps its type."""
    if not isinstance(value, str):
        return value
    m = EXPR.fullmatch(value)
    if m and "}}" not in m.group(1):
        return evaluate(m.group(1), contexts, status)
    return EXPR.sub(lambda m: to_string(evaluate(m.group(1), contexts, status)), value)


def condition(raw, contexts: dict, status: Status) -> bool:
    """A step's `if:`: implicit ${{ }}, and success() && (...) unless a status function is used."""
    if raw is None:
        return not status.failed and not status.cancelled
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    else:
        text = str(raw).strip()
        m = EXPR.fullmatch(text)
        if m and "}}" not in m.group(1):
            text = m.group(1)
    parser = _Parser(text, contexts, status)
    value = truthy(parser.parse())
    if not parser.used_status:
        value = value and not status.failed and not status.cancelled
    return value


# ----------------------------------------------------------------------------- files


def parse_command_file(text: str) -> dict[str, str]:
    """`$GITHUB_OUTPUT` / `$GITHUB_ENV` content: `key=value` lines and `key<<DELIM` blocks."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        else:
            raise ValueError(f"malformed command file line {line[:60]!r}")
    return out


# ----------------------------------------------------------------------------- running


@dataclass
class Substitute:
    """A named lab equivalent for a step that needs GitHub or Azure."""

    name: str  # said in the summary: what stands in for the step
    run: Callable[[dict], int] | None = None  # env -> exit code; None: nothing to do here


@dataclass
class StepResult:
    index: int
    name: str
    kind: str  # "run", "lab" (substituted), "skipped" (if: false)
    what: str  # the make target / command, or the substitute's name
    outcome: str  # success | failure | skipped
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""


@dataclass
class JobRun:
    workflow: str
    job: str
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    def step(self, needle: str) -> StepResult:
        found = [s for s in self.steps if needle in s.name or needle == s.what]
        if len(found) != 1:
            raise KeyError(f"{len(found)} steps match {needle!r}")
        return found[0]


MAKE_TARGET = re.compile(r"\bmake\s+(?:--?\S+\s+)*([a-z][a-z0-9-]+)")


def step_name(step: dict) -> str:
    if step.get("name"):
        return str(step["name"])
    if step.get("uses"):
        return "Run " + str(step["uses"]).split("@")[0]
    return "Run " + str(step.get("run", "")).strip().splitlines()[0][:60]


def load_job(workflow: Path, job: str) -> tuple[dict, dict]:
    data = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    return data, data["jobs"][job]


def run_job(
    workflow: Path,
    job: str,
    contexts: dict,
    base_env: dict[str, str],
    cwd: Path,
    uses: dict[str, Substitute],
    targets: dict[str, Substitute],
    after: Callable[[StepResult, dict], None] | None = None,
    log_dir: Path | None = None,
    names: dict[str, Substitute] | None = None,
    timeout: float = 1800,
) -> JobRun:
    """Execute `job` of `workflow` step by step (see the module docstring).

    contexts: github, vars, secrets, needs, inputs, runner (steps and env are
    filled in here). base_env: the runner machine's environment. uses: action
    name (`owner/repo`) -> substitute. targets: make target -> substitute for a
    run: step that calls it. names: step name -> substitute (a run: step
    that checks something only GitHub provides). after(result, contexts) runs
    after each step (the rehearsal's checks between steps)."""
    wf, spec = load_job(workflow, job)
    result = JobRun(workflow.name, job)
    status = Status()
    ctx = {k: dict(v) if isinstance(v, dict) else v for k, v in contexts.items()}
    ctx.setdefault("steps", {})
    ctx.setdefault("inputs", {})
    workdir = Path(tempfile.mkdtemp(prefix="lostops-gha-"))
    summary_file = workdir / "step_summary.md"
    summary_file.write_text("")
    env_extra: dict[str, str] = {}  # $GITHUB_ENV
    # workflow-level env, then job-level env (each may use the contexts allowed there)
    level_env: dict[str, str] = {}
    for level in (wf.get("env") or {}, spec.get("env") or {}):
        ctx["env"] = dict(level_env)
        for key, value in level.items():
            level_env[key] = to_string(interpolate(value, ctx, status))
    try:
        for n, step in enumerate(spec.get("steps") or []):
            name = step_name(step)
            ctx["env"] = {**level_env, **env_extra}
            if not condition(step.get("if"), ctx, status):
                sr = StepResult(n, name, "skipped", "if: false", "skipped")
                result.steps.append(sr)
                if step.get("id"):
                    ctx["steps"][step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                if after:
                    after(sr, ctx)
                continue
            step_env = {k: to_string(interpolate(v, ctx, status)) for k, v in (step.get("env") or {}).items()}
            out_file = workdir / f"output-{n}"
            env_file = workdir / f"env-{n}"
            out_file.write_text("")
            env_file.write_text("")
            env = {
                **base_env,
                **level_env,
                **env_extra,
                **step_env,
                "GITHUB_OUTPUT": str(out_file),
                "GITHUB_ENV": str(env_file),
                "GITHUB_STEP_SUMMARY": str(summary_file),
                "CI": "true",
                "GITHUB_ACTIONS": "true",
            }
            t0 = time.monotonic()
            stdout = stderr = ""
            if name in (names or {}):
                sub = names[name]
                rc = sub.run(env) if sub.run else 0
                kind, what = "lab", sub.name
            elif "uses" in step:
                action = str(step["uses"]).split("@")[0]
                sub = uses.get(action)
                if sub is None:
                    raise ExprError(f"{workflow.name}/{job}: step {name!r} uses {action}: no lab equivalent named")
                # its inputs are evaluated as a runner would (a bad expression fails here)
                for value in (step.get("with") or {}).values():
                    interpolate(value, ctx, status)
                rc = sub.run(env) if sub.run else 0
                kind, what = "lab", sub.name
            else:
                script = str(step["run"])
                called = MAKE_TARGET.findall(script)
                sub = next((targets[t] for t in called if t in targets), None)
                if sub is not None:
                    rc = sub.run(env) if sub.run else 0
                    kind, what = "lab", sub.name
                else:
                    path = workdir / f"step-{n}.sh"
                    path.write_text(script)
                    # GitHub's default shell on Linux when `shell:` is not given
                    argv = ["bash", "-e", str(path)]
                    if step.get("shell") == "bash":
                        argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)]
                    elif step.get("shell"):
                        raise ExprError(f"{workflow.name}/{job}: step {name!r}: shell {step['shell']!r} not supported")
                    wd = cwd / step["working-directory"] if step.get("working-directory") else cwd
                    proc = subprocess.run(argv, cwd=wd, env=env, capture_output=True, text=True, timeout=timeout)
                    rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
                    lines = [x.strip() for x in script.splitlines() if x.strip() and not x.strip().startswith("set ")]
                    kind, what = "run", " ".join(called) or (lines[0][:60] if lines else "")
            outcome = "success" if rc == 0 else "failure"
            conclusion = "success" if rc == 0 or step.get("continue-on-error") is True else "failure"
            sr = StepResult(n, name, kind, what, outcome, time.monotonic() - t0, stdout, stderr)
            result.steps.append(sr)
            if log_dir:
                log_dir.mkdir(parents=True, exist_ok=True)
                (log_dir / f"{job}-{n:02d}.log").write_text(
                    f"{name}\n{kind}: {what}\noutcome {outcome} in {sr.seconds:.1f} s\n"
                    f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
                )
            outputs = parse_command_file(out_file.read_text())
            env_extra.update(parse_command_file(env_file.read_text()))
            if step.get("id"):
                ctx["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
            if conclusion == "failure":
                status.failed = True
            if after:
                after(sr, ctx)
    finally:
        result.summary = summary_file.read_text() if summary_file.exists() else ""
        if log_dir:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{job}-step-summary.md").write_text(result.summary)
        for p in sorted(workdir.iterdir()):
            p.unlink()
        workdir.rmdir()
    return result
