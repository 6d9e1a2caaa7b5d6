"""The release workflow's decisions and its deploy step.

- :func:`plan` (`lostops release plan`): from the workflow's event, the
  version, what to build and whether to deploy (never a pre-release).
- :func:`decide` (`lostops release guard`): refuse a version older than the
  one serving, unless forced.
- :func:`rollout` (`lostops release rollout`): a fresh database backup, then
  `salt-ssh '*' state.apply` with the app version and the scanned digest.

Each prints one line on failure, prefixed with the old script's name
(`release-plan:`, `release-guard:`, `release-rollout:`), which the workflows
and the job summaries show.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from lostops import envcmd, gha
from lostops.version import VersionError, normalize

REPO = Path(__file__).resolve().parent.parent
VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def truthy(value: str | None, default: bool = False) -> bool:
    """ "1", "true", "yes" (any case) are true; empty or unset is `default`."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes")


# --- plan ---------------------------------------------------------------------------------


class PlanError(ValueError):
    pass


def plan(env: dict) -> dict:
    """The release plan from the workflow's environment (see `lostops release plan --help`).

    Decisions:
        workflow_call      build the caller's commit; deploy unless a pre-release
        release published  build APP_REPOSITORY at the tag; deploy unless a pre-release
        workflow_dispatch  no build: deploy the existing image (force allowed)
    A pre-release is built and scanned (tag X.Y.Z only, `latest` untouched)
    and never deployed. Version rules: lostops.version.
    """
    called = truthy(env.get("CALLED"))
    event = env.get("EVENT_NAME", "")
    dispatch = event == "workflow_dispatch" and not called
    raw = env.get("INPUT_VERSION", "") if (called or dispatch) else env.get("RELEASE_TAG", "")
    try:
        version = normalize(raw)
    except VersionError as exc:
        raise PlanError(str(exc)) from None
    infra_ref = env.get("INFRA_REF", "").strip()
    if not infra_ref:
        raise PlanError(
            "no infra ref: pass infra-ref (the commit of your `uses:` line); github.job_workflow_sha was empty"
        )
    prerelease = truthy(env.get("PRERELEASE"))
    if called:
        build, app_repository, app_ref = True, env.get("CALLER_REPOSITORY", ""), env.get("CALLER_SHA", "")
    elif event == "release":
        build, app_repository, app_ref = True, env.get("APP_REPOSITORY", ""), f"refs/tags/{raw}"
    elif dispatch:
        build, app_repository, app_ref = False, "", ""
    else:
        raise PlanError(f"event {event!r} does not release anything")
    deploy = not (prerelease and not dispatch)
    return {
        "version": version,
        "build": str(build).lower(),
        "deploy": str(deploy).lower(),
        # `latest` only moves for a release that is deployed.
        "latest": str(build and deploy).lower(),
        "force": str(dispatch and truthy(env.get("INPUT_FORCE"))).lower(),
        "app-repository": app_repository,
        "app-ref": app_ref,
        "infra-repository": env.get("INFRA_REPOSITORY", ""),
        "infra-ref": infra_ref,
    }


def run_plan(env: dict) -> int:
    """key=value lines to stdout and $GITHUB_OUTPUT; exit 2 with one line for a bad version or infra ref."""
    try:
        result = plan(env)
    except PlanError as exc:
        print(f"release-plan: {exc}", file=sys.stderr)
        return 2
    lines = "".join(f"{k}={v}\n" for k, v in result.items())
    sys.stdout.write(lines)
    gha.append_output(lines)
    return 0


# --- guard --------------------------------------------------------------------------------


def parse(version: str) -> tuple[int, int, int] | None:
    m = VERSION.fullmatch(version.strip().removeprefix("v"))
    return tuple(int(x) for x in m.groups()) if m else None  # type: ignore[return-value]


def decide(version: str, serving: str, force: bool) -> tuple[bool, str]:
    """(allowed, one-line reason)."""
    new = parse(version)
    if new is None:
        raise ValueError(f"--version {version!r} is not Major.Minor.Revision")
    serving = (serving or "").strip()
    if not serving:
        return True, f"deploy {version}: nothing is serving yet (first deploy)"
    old = parse(serving)
    if old is None:
        if force:
            return True, f"deploy {version}: serving version {serving!r} is unreadable; forced"
        return False, f"refused: serving version {serving!r} is not X.Y.Z; run again with force to deploy {version}"
    if new > old:
        return True, f"deploy {version}: upgrade from {serving}"
    if new == old:
        return True, f"deploy {version}: redeploy of the serving version"
    if force:
        return True, f"deploy {version}: roll back from {serving} (forced)"
    return False, (
        f"refused: {version} is older than the serving {serving}; a roll back needs a manual run with force: true"
    )


def run_guard(version: str | None, serving: str, force: bool) -> int:
    """0 deploy (reason on stdout), 3 refused (reason on stderr), 2 bad usage."""
    if not version:
        print("release-guard: no --version (or APP_VERSION)", file=sys.stderr)
        return 2
    try:
        allowed, reason = decide(version, serving, force)
    except ValueError as exc:
        print(f"release-guard: {exc}", file=sys.stderr)
        return 2
    if allowed:
        print(reason)
        return 0
    print(f"release-guard: {reason}", file=sys.stderr)
    return 3


# --- rollout ------------------------------------------------------------------------------


def pillar(version: str, digest: str | None) -> dict:
    if not VERSION.fullmatch(version or ""):
        raise ValueError(f"version {version!r} is not X.Y.Z")
    data: dict = {"app": {"version": version}}
    if digest:
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"digest {digest!r} is not sha256:<64 hex>")
        data["images"] = {"app": {"digest": digest}}
    return data


def salt_command(salt_ssh: str, version: str, digest: str | None) -> list[str]:
    return [
        *envcmd.split("SALT_SSH", salt_ssh),
        "--out=json",
        "*",
        "state.apply",
        "pillar=" + json.dumps(pillar(version, digest), separators=(",", ":"), sort_keys=True),
    ]


BACKUP_UNIT = "lostops-mysql-backup.service"
BACKUP_SCRIPT = (
    f"if systemctl cat {BACKUP_UNIT} >/dev/null 2>&1; then systemctl start {BACKUP_UNIT} && echo backup-done; "
    "else echo no-backup-unit; fi"
)


def backup_command(salt_ssh: str, host: str) -> list[str]:
    return [*envcmd.split("SALT_SSH", salt_ssh), "--out=json", host, "cmd.run_all", BACKUP_SCRIPT, "python_shell=True"]


def backup_result(output: str) -> tuple[bool, str]:
    """(ok, one line) from salt-ssh --out=json cmd.run_all output."""
    try:
        data = json.loads(output)
    except json.JSONDecodeError:
        return False, "backup: salt-ssh printed no JSON"
    ret = next(iter(data.values()), None) if isinstance(data, dict) and len(data) == 1 else None
    if isinstance(ret, dict) and "return" in ret and isinstance(ret["return"], dict):
        ret = ret["return"]
    if not isinstance(ret, dict) or "retcode" not in ret:
        return False, f"backup: unexpected salt-ssh result: {str(data)[:200]}"
    stdout = str(ret.get("stdout", ""))
    if ret["retcode"] != 0:
        last = (str(ret.get("stderr", "")).strip().splitlines() or ["no output"])[-1]
        return False, f"backup FAILED (exit {ret['retcode']}): {last[:200]}"
    if "backup-done" in stdout:
        return True, f"backup: {BACKUP_UNIT} finished"
    if "no-backup-unit" in stdout:
        return True, f"backup: no {BACKUP_UNIT} yet (the database host was never converged); nothing to back up"
    return False, f"backup: unexpected output {stdout[:200]!r}"


def database_host() -> str:
    from lostops.inventory import load

    inv = load(None)
    hosts = [name for name, host in inv.hosts.items() if host.role == "database"]
    if not hosts:
        raise ValueError("no host with role database in the inventory")
    return hosts[0]


def rollout(version: str, digest: str, json_out: str, summary: str, dry_run: bool, backup: bool) -> int:
    """The deploy step; salt-ssh's exit status (0 ok, 20 a state failed), 1 no backup, 2 bad input
    (a missing salt-ssh or an output that cannot be written included: one line, never a traceback)."""
    salt_ssh = os.environ.get("SALT_SSH") or str(REPO / ".venv" / "bin" / "salt-ssh")
    try:
        cmd = salt_command(salt_ssh, version, digest or None)
    except ValueError as exc:
        print(f"release-rollout: {exc}", file=sys.stderr)
        return 2
    if backup:
        try:
            backup_cmd = backup_command(salt_ssh, database_host())
        except ValueError as exc:
            print(f"release-rollout: {exc}", file=sys.stderr)
            return 2
    if dry_run:
        if backup:
            print(shlex.join(backup_cmd))
        print(shlex.join(cmd))
        return 0
    try:
        return _rollout(cmd, backup_cmd if backup else None, version, digest, json_out, summary)
    except OSError as exc:
        if exc.filename == cmd[0] and isinstance(exc, FileNotFoundError):
            print(f"release-rollout: {cmd[0]}: not found (run `make deps`, or set SALT_SSH)", file=sys.stderr)
        elif exc.filename == cmd[0]:
            print(f"release-rollout: cannot run {cmd[0]}: {exc.strerror}", file=sys.stderr)
        else:
            print(f"release-rollout: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


def _rollout(
    cmd: list[str], backup_cmd: list[str] | None, version: str, digest: str, json_out: str, summary: str
) -> int:
    from lostops import drift

    if backup_cmd:
        proc = subprocess.run(backup_cmd, capture_output=True, text=True, cwd=REPO, check=False)
        ok, line = backup_result(proc.stdout)
        print(f"release-rollout: {line}", flush=True)
        if not ok:
            print("release-rollout: stopping before the roll-out: no fresh backup, no migration", file=sys.stderr)
            return 1
    ref = f"{version}" + (f"@{digest}" if digest else " (tag, no digest)")
    print(f"release-rollout: salt-ssh '*' state.apply with app {ref}", flush=True)
    with open(json_out, "w", encoding="utf-8") as out:
        rc = subprocess.run(cmd, stdout=out, cwd=REPO, check=False).returncode
    # The Markdown result: failed state names only, never their comments (a
    # failed roll-out's comment holds the new container's logs).
    markdown, _ = drift.summarize(json_out, mode="apply", cdktf_diff=None, comments=False)
    if summary == "-":
        sys.stdout.write(markdown)
    else:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    print(
        f"release-rollout: salt-ssh exited {rc}"
        + ("" if rc == 0 else "; the previous version keeps serving if the new one failed its health check")
    )
    return rc
